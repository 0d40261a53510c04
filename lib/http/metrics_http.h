/* metrics_http.h - the standard operational endpoints on top of td_httpd:
 *   GET /metrics  -> td_metrics_render() of a registry (Prometheus text 0.0.4)
 *   GET /healthz  -> 200 "ok\n" or 503 "unavailable\n" from a health callback
 *   anything else -> 404
 *
 * Usage:
 *   static td_metrics_http ep = {.metrics = m, .health = db_ok, .health_ud = pool};
 *   td_httpd *h = td_httpd_start(cfg.metrics_addr, td_metrics_http_handler, &ep, err, cap);
 *
 * The td_metrics_http struct is borrowed by the server and must outlive it. The health
 * callback runs on the httpd thread; it must be quick and thread-safe (read a flag the
 * health checker maintains, don't open a database connection). */
#ifndef TD_HTTP_METRICS_HTTP_H
#define TD_HTTP_METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/metrics.h"

/* Returns true when the process is healthy. */
typedef bool (*td_health_fn)(void *ud);

typedef struct td_metrics_http {
    td_metrics *metrics; /* borrowed; NULL serves an empty /metrics */
    td_health_fn health; /* NULL = always healthy */
    void *health_ud;
    /* Called before each /metrics render to sample gauges that are cheaper to read than
     * to maintain (calls in flight, pool usage). NULL = none. Runs on the httpd thread. */
    void (*refresh)(void *ud);
    void *refresh_ud;
} td_metrics_http;

/* A td_httpd_handler; ud is a td_metrics_http*. */
int td_metrics_http_handler(void *ud, const char *path, char **body, size_t *body_len,
                            const char **content_type);

#endif
