/* status.h - the one status type of the project.
 *
 * td_status is 0 (TD_OK) or a negative code; the one positive value, TD_PENDING, is not an
 * outcome but a handler saying "completed later" (td_rpc_call_defer). Every module returns it; the
 * mapping to gRPC status codes lives in exactly one place (td_status_to_grpc,
 * lib/rpc/status_map.c). Thread-safe: pure functions, static strings. */
#ifndef TD_CORE_STATUS_H
#define TD_CORE_STATUS_H

typedef enum td_status {
    TD_PENDING = 1, /* not an error: the work completes later (see td_rpc_call_defer) */
    TD_OK = 0,
    TD_EINVAL = -1,      /* invalid argument           -> INVALID_ARGUMENT */
    TD_ENOTFOUND = -2,   /* missing or not yours        -> NOT_FOUND */
    TD_EEXIST = -3,      /* duplicate                   -> ALREADY_EXISTS */
    TD_ECONFLICT = -4,   /* stale etag, lost race       -> ABORTED */
    TD_EPRECOND = -5,    /* wrong state                 -> FAILED_PRECONDITION */
    TD_EUNAUTH = -6,     /* bad or missing credentials  -> UNAUTHENTICATED */
    TD_EPERM = -7,       /* authenticated, not allowed  -> PERMISSION_DENIED */
    TD_ELIMIT = -8,      /* rate or size limit          -> RESOURCE_EXHAUSTED */
    TD_EUNAVAIL = -9,    /* dependency down, retry      -> UNAVAILABLE */
    TD_EDEADLINE = -10,  /* deadline passed             -> DEADLINE_EXCEEDED */
    TD_ECANCELLED = -11, /* client went away            -> CANCELLED */
    TD_EUNIMPL = -12,    /* not implemented             -> UNIMPLEMENTED */
    TD_ENOMEM = -13,     /* allocation failed           -> RESOURCE_EXHAUSTED */
    TD_EINTERNAL = -14,  /* bug or unexpected state     -> INTERNAL */
    TD_ERANGE = -15,     /* out of range (page token..) -> OUT_OF_RANGE */
    TD_EIO = -16,        /* I/O error                   -> INTERNAL */
} td_status;

/* Short constant description of a status ("invalid argument"); never NULL. */
const char *td_strerror(td_status st);

#endif
