/* status.c - td_strerror(). */
#include "core/status.h"

const char *td_strerror(td_status st)
{
    switch (st) {
    case TD_OK:
        return "ok";
    case TD_EINVAL:
        return "invalid argument";
    case TD_ENOTFOUND:
        return "not found";
    case TD_EEXIST:
        return "already exists";
    case TD_ECONFLICT:
        return "conflict";
    case TD_EPRECOND:
        return "failed precondition";
    case TD_EUNAUTH:
        return "unauthenticated";
    case TD_EPERM:
        return "permission denied";
    case TD_ELIMIT:
        return "resource exhausted";
    case TD_EUNAVAIL:
        return "unavailable";
    case TD_EDEADLINE:
        return "deadline exceeded";
    case TD_ECANCELLED:
        return "cancelled";
    case TD_EUNIMPL:
        return "unimplemented";
    case TD_ENOMEM:
        return "out of memory";
    case TD_EINTERNAL:
        return "internal error";
    case TD_ERANGE:
        return "out of range";
    case TD_EIO:
        return "i/o error";
    case TD_PENDING:
        return "pending";
    }
    return "unknown status";
}
