/* metrics.h - a small Prometheus registry: counters, gauges, histograms, optional labels,
 * rendered in the text exposition format 0.0.4.
 *
 * Model: a registry (td_metrics) owns families; a family has a name, help text, a type
 * and a fixed list of label names; each distinct tuple of label values is a child (the
 * time series) that callers update. An unlabelled metric is a family with one child.
 *
 * Ownership: every family and child is owned by the registry and lives until
 * td_metrics_destroy(); the pointers returned by the registration functions are
 * borrowed and stay valid (and at the same address) until then. Names, help and label
 * strings are copied.
 *
 * Invariants:
 *   - Registering an existing name with the same type and label names returns the
 *     existing family's child (so lazy lookups on a hot path are idempotent); a clash
 *     (other type or other labels) or an invalid name returns NULL.
 *   - A labelled family holds at most TD_METRICS_MAX_CHILDREN children; beyond that the
 *     lookup returns NULL. Every update function treats NULL as a no-op, so a failed
 *     registration never crashes the caller: it only loses that series.
 *   - Histogram buckets are fixed at the family's first registration; _count always
 *     equals the +Inf bucket in one rendering (both come from one snapshot).
 *
 * Threads: everything is thread-safe. Updates are lock-free atomics (relaxed order);
 * registration and child lookup take the registry mutex (keep the returned pointer when
 * the labels are fixed); td_metrics_render() takes the same mutex while it formats.
 * Rendering reads each value atomically but not all values at one instant. */
#ifndef TD_CORE_METRICS_H
#define TD_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum {
    TD_METRICS_MAX_CHILDREN = 1024, /* series per labelled family */
    TD_METRICS_MAX_LABELS = 8,      /* label names per family */
    TD_METRICS_MAX_BUCKETS = 32,    /* finite histogram buckets */
};

typedef struct td_metrics td_metrics;
typedef struct td_metric_counter td_metric_counter;
typedef struct td_metric_gauge td_metric_gauge;
typedef struct td_metric_histogram td_metric_histogram;

/* Content-Type of td_metrics_render() output. */
#define TD_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* New empty registry, NULL when out of memory. Caller destroys with td_metrics_destroy(),
 * after every thread that updates its metrics has stopped. */
td_metrics *td_metrics_new(void);
void td_metrics_destroy(td_metrics *m); /* NULL is a no-op */

/* ---- registration (any thread; takes the registry mutex) ----
 * name: [a-zA-Z_:][a-zA-Z0-9_:]*; help: any text (escaped on output).
 * label_names_csv: "method,code" (no spaces); label_values: one string per label name,
 * any bytes but NUL (escaped on output). Returns NULL on invalid input, clash, OOM, or a
 * full family. */
td_metric_counter *td_metrics_counter(td_metrics *m, const char *name, const char *help);
td_metric_counter *td_metrics_counter_labels(td_metrics *m, const char *name, const char *help,
                                             const char *label_names_csv,
                                             const char *const *label_values);
td_metric_gauge *td_metrics_gauge(td_metrics *m, const char *name, const char *help);
td_metric_gauge *td_metrics_gauge_labels(td_metrics *m, const char *name, const char *help,
                                         const char *label_names_csv,
                                         const char *const *label_values);
/* bounds: strictly increasing finite upper bounds (the +Inf bucket is implicit), at most
 * TD_METRICS_MAX_BUCKETS; NULL/0 = latency buckets in seconds: 0.0005 0.001 0.0025 0.005
 * 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10. */
td_metric_histogram *td_metrics_histogram(td_metrics *m, const char *name, const char *help,
                                          const double *bounds, size_t n_bounds);
td_metric_histogram *td_metrics_histogram_labels(td_metrics *m, const char *name, const char *help,
                                                 const double *bounds, size_t n_bounds,
                                                 const char *label_names_csv,
                                                 const char *const *label_values);

/* ---- updates (any thread, lock-free; NULL metric = no-op) ---- */
void td_metric_counter_add(td_metric_counter *c, uint64_t n);
void td_metric_counter_inc(td_metric_counter *c);
uint64_t td_metric_counter_value(const td_metric_counter *c); /* 0 for NULL */

void td_metric_gauge_set(td_metric_gauge *g, double v);
void td_metric_gauge_add(td_metric_gauge *g, double delta); /* negative to decrease */
double td_metric_gauge_value(const td_metric_gauge *g);     /* 0 for NULL */

/* Records one observation (seconds for latencies). NaN is ignored. */
void td_metric_histogram_observe(td_metric_histogram *h, double v);
uint64_t td_metric_histogram_count(const td_metric_histogram *h); /* 0 for NULL */

/* ---- exposition ----
 * Renders every family in registration order, then the process metrics
 * (process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_start_time_seconds, process_open_fds,
 * process_max_fds) read from /proc at call time. On success *out is a NUL-terminated
 * malloc'd string the caller frees, and the return value is its length; on OOM returns 0
 * and sets *out to NULL. */
size_t td_metrics_render(td_metrics *m, char **out);

#endif
