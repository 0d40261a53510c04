/* api.h - the todo.v1 services this server exposes: builds their method tables from the
 * generated service descriptors and attaches the handlers that exist. A method without a
 * handler answers UNIMPLEMENTED (after authentication). */
#ifndef TD_SERVER_API_H
#define TD_SERVER_API_H
#include <stddef.h>
#include "core/metrics.h"
#include "rpc/server.h"

typedef struct td_api td_api;

#include "store/store.h"

/* Attaches every implemented handler; store and metrics (may be NULL) are borrowed and
 * must outlive the RPC server.
 * NULL on allocation failure or a handler/table mismatch (a bug: logged). */
td_api *td_api_new(td_store *store, td_metrics *metrics);
void td_api_destroy(td_api *api); /* after the RPC server is destroyed */
const td_rpc_method *td_api_methods(const td_api *api, size_t *n);
/* Fully-qualified service names ("todo.v1.TaskService"), for health. */
const char *const *td_api_service_names(size_t *n);

#endif
