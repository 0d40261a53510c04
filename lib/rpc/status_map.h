/* status_map.h - the one place where td_status becomes a gRPC status code. Pure. */
#ifndef TD_RPC_STATUS_MAP_H
#define TD_RPC_STATUS_MAP_H
#include <grpc/status.h>
#include "core/status.h"

grpc_status_code td_status_to_grpc(td_status st);
/* Canonical upper-case name ("INVALID_ARGUMENT"), for logs and the gateway. */
const char *td_grpc_code_name(grpc_status_code code);

#endif
