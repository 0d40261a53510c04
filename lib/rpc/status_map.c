/* status_map.c - td_status -> grpc_status_code, and code names. */
#include "rpc/status_map.h"

grpc_status_code td_status_to_grpc(td_status st)
{
    switch (st) {
    case TD_OK:
        return GRPC_STATUS_OK;
    case TD_EINVAL:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case TD_ENOTFOUND:
        return GRPC_STATUS_NOT_FOUND;
    case TD_EEXIST:
        return GRPC_STATUS_ALREADY_EXISTS;
    case TD_ECONFLICT:
        return GRPC_STATUS_ABORTED;
    case TD_EPRECOND:
        return GRPC_STATUS_FAILED_PRECONDITION;
    case TD_EUNAUTH:
        return GRPC_STATUS_UNAUTHENTICATED;
    case TD_EPERM:
        return GRPC_STATUS_PERMISSION_DENIED;
    case TD_ELIMIT:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case TD_ENOMEM:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case TD_EUNAVAIL:
        return GRPC_STATUS_UNAVAILABLE;
    case TD_EDEADLINE:
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    case TD_ECANCELLED:
        return GRPC_STATUS_CANCELLED;
    case TD_EUNIMPL:
        return GRPC_STATUS_UNIMPLEMENTED;
    case TD_ERANGE:
        return GRPC_STATUS_OUT_OF_RANGE;
    case TD_EINTERNAL:
        return GRPC_STATUS_INTERNAL;
    case TD_EIO:
    case TD_PENDING: /* never a final status; INTERNAL if one ever leaks */
        return GRPC_STATUS_INTERNAL;
    }
    return GRPC_STATUS_UNKNOWN;
}

const char *td_grpc_code_name(grpc_status_code code)
{
    static const char *names[] = {"OK",
                                  "CANCELLED",
                                  "UNKNOWN",
                                  "INVALID_ARGUMENT",
                                  "DEADLINE_EXCEEDED",
                                  "NOT_FOUND",
                                  "ALREADY_EXISTS",
                                  "PERMISSION_DENIED",
                                  "RESOURCE_EXHAUSTED",
                                  "FAILED_PRECONDITION",
                                  "ABORTED",
                                  "OUT_OF_RANGE",
                                  "UNIMPLEMENTED",
                                  "INTERNAL",
                                  "UNAVAILABLE",
                                  "DATA_LOSS",
                                  "UNAUTHENTICATED"};
    if ((int)code < 0 || (int)code > 16)
        return "UNKNOWN";
    return names[code];
}
