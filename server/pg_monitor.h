/* pg_monitor.h - a thread that probes PostgreSQL every interval and sets the server's
 * health (SERVING when reachable, NOT_SERVING otherwise). Owns its thread and nothing
 * else; the td_health is borrowed. */
#ifndef TD_SERVER_PG_MONITOR_H
#define TD_SERVER_PG_MONITOR_H
#include "rpc/health.h"

typedef struct td_pg_monitor td_pg_monitor;

/* Probes once synchronously (so health is right before the server accepts calls), then
 * starts the thread. NULL on failure. Stop and free with td_pg_monitor_stop(). */
td_pg_monitor *td_pg_monitor_start(const char *db_url, td_health *health, int interval_ms);
void td_pg_monitor_stop(td_pg_monitor *m); /* NULL is a no-op; joins the thread */

#endif
