/* health.h - grpc.health.v1.Health: Check and Watch.
 *
 * Owns the serving status of a fixed set of service names ("" = the whole server) and
 * the list of open Watch streams. td_health_set_all() is called by whoever monitors the
 * dependencies (the server's PostgreSQL probe); each change is pushed to every watcher
 * of the affected name. Thread-safe (one mutex); watchers are unlinked by the runtime's
 * on_done callback. */
#ifndef TD_RPC_HEALTH_H
#define TD_RPC_HEALTH_H
#include <stddef.h>
#include "rpc/server.h"

typedef enum td_health_status {
    TD_HEALTH_UNKNOWN = 0,
    TD_HEALTH_SERVING = 1,
    TD_HEALTH_NOT_SERVING = 2,
} td_health_status;

typedef struct td_health td_health;

/* names: service names besides "" (borrowed, must outlive the td_health). All start
 * NOT_SERVING. NULL on allocation failure. Caller frees with td_health_destroy() after the
 * RPC server has shut down. */
td_health *td_health_new(const char *const *names, size_t n);
void td_health_destroy(td_health *h);
/* Sets every name to st; notifies watchers whose status changed. */
void td_health_set_all(td_health *h, td_health_status st);
td_health_status td_health_get(td_health *h, const char *name);
/* Fills out[0..1] with Check and Watch (public methods). Returns 2. */
size_t td_health_methods(td_health *h, td_rpc_method *out, size_t cap);

#endif
