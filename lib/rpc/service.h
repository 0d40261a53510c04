/* service.h - builds td_rpc_method tables from protoc-c service descriptors, so every
 * RPC of a .proto service is served (UNIMPLEMENTED until a handler is attached) and
 * paths/types can never drift from the .proto. Pure; no ownership beyond the caller's
 * table. */
#ifndef TD_RPC_SERVICE_H
#define TD_RPC_SERVICE_H
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>
#include "rpc/server.h"

/* Fills out[] with one entry per method of sd; paths are written into path_buf (one
 * malloc'd block the caller frees after the server is destroyed). Methods named in
 * streaming[] (NULL-terminated, may be NULL) are TD_RPC_SERVER_STREAM. Returns the count,
 * 0 when cap is too small or out of memory. */
size_t td_rpc_service_methods(const ProtobufCServiceDescriptor *sd, const char *const *streaming,
                              td_rpc_method *out, size_t cap, char **path_buf);
/* Attaches a handler by method name ("CreateTask"); TD_ENOTFOUND if no such method. */
td_status td_rpc_methods_set_unary(td_rpc_method *m, size_t n, const char *service,
                                   const char *name, td_rpc_unary_fn fn, void *svc);
/* ORs flags (TD_RPC_NONBLOCKING, ...) into a method's; TD_ENOTFOUND if no such method. */
td_status td_rpc_methods_add_flags(td_rpc_method *m, size_t n, const char *service,
                                   const char *name, unsigned flags);
td_status td_rpc_methods_set_stream(td_rpc_method *m, size_t n, const char *service,
                                    const char *name, td_rpc_stream_fn fn, void *svc);

#endif
