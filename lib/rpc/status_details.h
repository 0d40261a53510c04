/* status_details.h - packs a google.rpc.Status (code, message, BadRequest field
 * violations) for the grpc-status-details-bin trailer. Pure; thread-safe. */
#ifndef TD_RPC_STATUS_DETAILS_H
#define TD_RPC_STATUS_DETAILS_H
#include <stddef.h>

typedef struct td_rpc_violation {
    const char *field;
    const char *description;
} td_rpc_violation;

/* Returns malloc'd bytes (caller frees) and their length, or NULL when out of memory. */
unsigned char *td_rpc_status_details_pack(int code, const char *message, const td_rpc_violation *v,
                                          size_t nv, size_t *len);

#endif
