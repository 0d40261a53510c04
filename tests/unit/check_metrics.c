/* check_metrics.c - unit tests for lib/core/metrics: exact exposition output, label and
 * help escaping, registration rules (idempotence, clashes, bounds), process metrics and
 * a multi-threaded update/registration smoke test. Single-threaded except the smoke test. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "check_run.h"

/* The part of a rendering before the process metrics. */
static char *user_part(td_metrics *m)
{
    char *out = NULL;
    size_t n = td_metrics_render(m, &out);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(n, strlen(out));
    char *p = strstr(out, "# HELP process_");
    if (p != NULL)
        *p = '\0';
    return out;
}

START_TEST(render_exact)
{
    td_metrics *m = td_metrics_new();
    ck_assert_ptr_nonnull(m);
    td_metric_counter *c = td_metrics_counter(m, "td_requests_total", "Requests seen.");
    td_metric_counter_add(c, 41);
    td_metric_counter_inc(c);
    const char *v1[] = {"/todo.v1.TaskService/GetTask", "OK"};
    const char *v2[] = {"/todo.v1.TaskService/GetTask", "NOT_FOUND"};
    td_metric_counter_add(
        td_metrics_counter_labels(m, "td_grpc_total", "gRPC calls.", "method,code", v1), 3);
    td_metric_counter_inc(
        td_metrics_counter_labels(m, "td_grpc_total", "gRPC calls.", "method,code", v2));
    td_metric_gauge *g = td_metrics_gauge(m, "td_inflight", "In flight.");
    td_metric_gauge_set(g, 2.5);
    td_metric_gauge_add(g, -1);
    static const double bounds[] = {0.1, 1};
    td_metric_histogram *h = td_metrics_histogram(m, "td_latency_seconds", "Latency.", bounds, 2);
    td_metric_histogram_observe(h, 0.05);
    td_metric_histogram_observe(h, 0.1); /* le is inclusive */
    td_metric_histogram_observe(h, 0.5);
    td_metric_histogram_observe(h, 7);
    char *out = user_part(m);
    ck_assert_str_eq(out,
                     "# HELP td_requests_total Requests seen.\n"
                     "# TYPE td_requests_total counter\n"
                     "td_requests_total 42\n"
                     "# HELP td_grpc_total gRPC calls.\n"
                     "# TYPE td_grpc_total counter\n"
                     "td_grpc_total{method=\"/todo.v1.TaskService/GetTask\",code=\"OK\"} 3\n"
                     "td_grpc_total{method=\"/todo.v1.TaskService/GetTask\",code=\"NOT_FOUND\"} 1\n"
                     "# HELP td_inflight In flight.\n"
                     "# TYPE td_inflight gauge\n"
                     "td_inflight 1.5\n"
                     "# HELP td_latency_seconds Latency.\n"
                     "# TYPE td_latency_seconds histogram\n"
                     "td_latency_seconds_bucket{le=\"0.1\"} 2\n"
                     "td_latency_seconds_bucket{le=\"1\"} 3\n"
                     "td_latency_seconds_bucket{le=\"+Inf\"} 4\n"
                     "td_latency_seconds_sum 7.65\n"
                     "td_latency_seconds_count 4\n");
    free(out);
    td_metrics_destroy(m);
}
END_TEST

START_TEST(escaping)
{
    td_metrics *m = td_metrics_new();
    const char *v[] = {"a\"b\\c\nd"};
    td_metric_counter_inc(td_metrics_counter_labels(
        m, "esc_total", "Help with \\ and\nnewline \"quoted\".", "path", v));
    td_metric_gauge_set(td_metrics_gauge(m, "g_nan", "n"), 0.0 / 0.0);
    td_metric_gauge_set(td_metrics_gauge(m, "g_inf", "i"), -1.0 / 0.0);
    const char *lv[] = {"x"};
    td_metric_histogram_observe(
        td_metrics_histogram_labels(m, "h_seconds", "h", (const double[]){0.25}, 1, "route", lv),
        0.2);
    char *out = user_part(m);
    ck_assert_str_eq(out, "# HELP esc_total Help with \\\\ and\\nnewline \"quoted\".\n"
                          "# TYPE esc_total counter\n"
                          "esc_total{path=\"a\\\"b\\\\c\\nd\"} 1\n"
                          "# HELP g_nan n\n# TYPE g_nan gauge\ng_nan NaN\n"
                          "# HELP g_inf i\n# TYPE g_inf gauge\ng_inf -Inf\n"
                          "# HELP h_seconds h\n# TYPE h_seconds histogram\n"
                          "h_seconds_bucket{route=\"x\",le=\"0.25\"} 1\n"
                          "h_seconds_bucket{route=\"x\",le=\"+Inf\"} 1\n"
                          "h_seconds_sum{route=\"x\"} 0.2\n"
                          "h_seconds_count{route=\"x\"} 1\n");
    free(out);
    td_metrics_destroy(m);
}
END_TEST

START_TEST(registration_rules)
{
    td_metrics *m = td_metrics_new();
    td_metric_counter *a = td_metrics_counter(m, "x_total", "x");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_eq(td_metrics_counter(m, "x_total", "x"), a); /* idempotent */
    ck_assert_ptr_null(td_metrics_gauge(m, "x_total", "x"));    /* type clash */
    const char *v[] = {"1"};
    ck_assert_ptr_null(td_metrics_counter_labels(m, "x_total", "x", "a", v)); /* label clash */
    ck_assert_ptr_null(td_metrics_counter(m, "bad name", "x"));
    ck_assert_ptr_null(td_metrics_counter(m, "9lives", "x"));
    ck_assert_ptr_null(td_metrics_counter(m, NULL, "x"));
    ck_assert_ptr_null(
        td_metrics_counter_labels(m, "y_total", "y", "a,a", (const char *[]){"1", "2"}));
    ck_assert_ptr_null(td_metrics_counter_labels(m, "y_total", "y", "__a", v));
    ck_assert_ptr_null(td_metrics_counter_labels(m, "y_total", "y", "a-b", v));
    ck_assert_ptr_null(td_metrics_counter_labels(m, "y_total", "y", "a", NULL));
    ck_assert_ptr_null(td_metrics_histogram_labels(m, "h", "h", NULL, 0, "le", v));
    ck_assert_ptr_null(td_metrics_histogram(m, "h2", "h", (const double[]){1, 1}, 2));
    ck_assert_ptr_nonnull(td_metrics_counter(m, "ns:sub_total", "colons ok"));
    /* labelled families are bounded */
    char buf[16];
    for (int i = 0; i < TD_METRICS_MAX_CHILDREN; i++) {
        snprintf(buf, sizeof(buf), "%d", i);
        const char *lv[] = {buf};
        ck_assert_ptr_nonnull(td_metrics_counter_labels(m, "many_total", "m", "i", lv));
    }
    const char *over[] = {"over"};
    td_metric_counter *none = td_metrics_counter_labels(m, "many_total", "m", "i", over);
    ck_assert_ptr_null(none);
    td_metric_counter_inc(none); /* NULL is a no-op */
    ck_assert_uint_eq(td_metric_counter_value(none), 0);
    const char *again[] = {"7"};
    ck_assert_ptr_nonnull(td_metrics_counter_labels(m, "many_total", "m", "i", again));
    td_metrics_destroy(m);
}
END_TEST

START_TEST(process_metrics)
{
    td_metrics *m = td_metrics_new();
    char *out = NULL;
    td_metrics_render(m, &out);
    ck_assert_ptr_nonnull(out);
    const char *names[] = {"\nprocess_resident_memory_bytes ", "\nprocess_start_time_seconds ",
                           "\nprocess_open_fds ", "\nprocess_cpu_seconds_total ",
                           "\nprocess_max_fds "};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *p = strstr(out, names[i]);
        ck_assert_msg(p != NULL, "%s missing", names[i]);
        double v = strtod(p + strlen(names[i]), NULL);
        ck_assert_msg(v >= 0, "%s negative", names[i]);
        if (i < 3)
            ck_assert_msg(v > 0, "%s zero", names[i]);
    }
    const char *st = strstr(out, "\nprocess_start_time_seconds ");
    ck_assert_double_gt(strtod(st + 28, NULL), 1.6e9); /* after 2020 */
    free(out);
    td_metrics_destroy(m);
}
END_TEST

enum { THREADS = 8, ITER = 50000 };

static void *hammer(void *arg)
{
    td_metrics *m = arg;
    td_metric_counter *c = td_metrics_counter(m, "hits_total", "h");
    td_metric_gauge *g = td_metrics_gauge(m, "level", "l");
    td_metric_histogram *h = td_metrics_histogram(m, "lat_seconds", "l", NULL, 0);
    const char *codes[] = {"OK", "NOT_FOUND", "INTERNAL"};
    for (int i = 0; i < ITER; i++) {
        td_metric_counter_inc(c);
        td_metric_gauge_add(g, 1.0);
        td_metric_histogram_observe(h, 0.001 * (i % 7));
        if (i % 10 == 0) {
            const char *v[] = {codes[i % 3]};
            td_metric_counter_inc(td_metrics_counter_labels(m, "codes_total", "c", "code", v));
        }
        if (i % 5000 == 0) {
            char *out = NULL;
            td_metrics_render(m, &out);
            ck_assert_ptr_nonnull(out);
            free(out);
        }
    }
    return NULL;
}

START_TEST(concurrency_smoke)
{
    td_metrics *m = td_metrics_new();
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, m), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    ck_assert_uint_eq(td_metric_counter_value(td_metrics_counter(m, "hits_total", "h")),
                      (uint64_t)THREADS * ITER);
    ck_assert_double_eq(td_metric_gauge_value(td_metrics_gauge(m, "level", "l")),
                        (double)THREADS * ITER);
    ck_assert_uint_eq(
        td_metric_histogram_count(td_metrics_histogram(m, "lat_seconds", "l", NULL, 0)),
        (uint64_t)THREADS * ITER);
    uint64_t codes = 0;
    const char *names[] = {"OK", "NOT_FOUND", "INTERNAL"};
    for (int i = 0; i < 3; i++) {
        const char *v[] = {names[i]};
        codes +=
            td_metric_counter_value(td_metrics_counter_labels(m, "codes_total", "c", "code", v));
    }
    ck_assert_uint_eq(codes, (uint64_t)THREADS * (ITER / 10));
    td_metrics_destroy(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, render_exact);
    tcase_add_test(tc, escaping);
    tcase_add_test(tc, registration_rules);
    tcase_add_test(tc, process_metrics);
    tcase_add_test(tc, concurrency_smoke);
    suite_add_tcase(s, tc);
    return td_check_run(s);
}
