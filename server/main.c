/* main.c - todo-server: subcommands (serve, migrate, mint-token), wiring of the shared
 * modules, signal handling and the orderly shutdown.
 *
 * Threads: main blocks SIGTERM/SIGINT before anything starts threads, then waits for
 * them with sigwait(); gRPC workers, the PostgreSQL monitor and the metrics HTTP thread
 * run meanwhile. Shutdown order: health NOT_SERVING -> RPC graceful shutdown -> monitor
 * -> metrics -> free, so nothing is freed while a thread can still reach it. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "auth/auth.h"
#include "core/config.h"
#include "core/cpus.h"
#include "core/embed.h"
#include "core/log.h"
#include "core/metrics.h"
#include "http/httpd.h"
#include "http/metrics_http.h"
#include "pg/migrate.h"
#include "pg_monitor.h"
#include "redis/ratelimit.h"
#include "rpc/health.h"
#include "rpc/reflection.h"
#include "rpc/server.h"
#include "store/store.h"

#define MAX_METHODS 96

extern const td_embedded_file td_migrations[];
extern const size_t td_migrations_count;

/* Metric handles of one method, resolved once so the per-call cost is a few atomics. */
typedef struct method_metrics {
    td_metric_histogram *duration;
    _Atomic(td_metric_counter *) by_code[17];
} method_metrics;

typedef struct server_app {
    td_config cfg;
    td_metrics *metrics;
    td_metric_gauge *active_calls;
    td_metrics_http metrics_http;
    td_httpd *httpd;
    td_health *health;
    td_pg_monitor *monitor;
    td_auth *auth;
    td_ratelimit *ratelimit;
    td_reflection *reflection;
    td_store *store;
    td_api *api;
    td_rpc_server *rpc;
    td_rpc_method methods[MAX_METHODS];
    method_metrics method_metrics[MAX_METHODS];
    size_t nmethods;
} server_app;

static void usage(FILE *out)
{
    fprintf(out, "usage: todo-server [serve|migrate|mint-token --sub ID [--ttl SECONDS]]\n"
                 "       todo-server --help | --version\n\n"
                 "Configuration comes from the environment:\n");
    td_config_print_help(out);
}

static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,   0.25,   0.5,   1,    2.5};

static void method_metrics_init(server_app *app)
{
    for (size_t i = 0; i < app->nmethods; i++) {
        const char *labels[] = {app->methods[i].path};
        app->method_metrics[i].duration = td_metrics_histogram_labels(
            app->metrics, "td_rpc_duration_seconds", "gRPC call duration by method", latency_bounds,
            sizeof(latency_bounds) / sizeof(latency_bounds[0]), "method", labels);
    }
}

/* observe hook: runs on gRPC worker threads once per finished call. */
static void observe_call(void *ctx, const td_rpc_method *m, int code, double seconds)
{
    server_app *app = ctx;
    size_t i = (size_t)(m - app->methods);
    if (i >= app->nmethods || code < 0 || code > 16)
        return;
    method_metrics *mm = &app->method_metrics[i];
    td_metric_counter *c = atomic_load_explicit(&mm->by_code[code], memory_order_acquire);
    if (c == NULL) { /* first call with this code: the registry lookup is idempotent */
        char codebuf[12];
        snprintf(codebuf, sizeof(codebuf), "%d", code);
        const char *labels[] = {m->path, codebuf};
        c = td_metrics_counter_labels(app->metrics, "td_rpc_calls_total",
                                      "Finished gRPC calls by method and status code",
                                      "method,code", labels);
        atomic_store_explicit(&mm->by_code[code], c, memory_order_release);
    }
    td_metric_counter_inc(c);
    td_metric_histogram_observe(mm->duration, seconds);
}

/* Runs on the metrics HTTP thread before each render. */
static void metrics_refresh(void *ud)
{
    server_app *app = ud;
    td_metric_gauge_set(app->active_calls, (double)td_rpc_server_active_calls(app->rpc));
}

static bool metrics_healthy(void *ud)
{
    server_app *app = ud;
    return td_health_get(app->health, "") == TD_HEALTH_SERVING;
}

static int add_methods(server_app *app, const td_rpc_method *m, size_t n)
{
    if (app->nmethods + n > MAX_METHODS)
        return -1;
    memcpy(app->methods + app->nmethods, m, n * sizeof(*m));
    app->nmethods += n;
    return 0;
}

static int serve(server_app *app)
{
    char err[512] = "";
    int rc = 1;
    size_t nnames = 0, n = 0;
    const char *const *names = td_api_service_names(&nnames);

    /* Cores we may run on (taskset, cpusets, a cgroup CPU quota), not cores the machine has. */
    int ncpu = td_usable_cpus();
    /* Handlers block on PostgreSQL, so more threads than cores, one connection each; at
     * least 16 so that a one-core replica still keeps enough transactions in flight for
     * group commit (4 threads capped CreateTask at 4 concurrent transactions). */
    int threads =
        app->cfg.grpc_threads > 0 ? app->cfg.grpc_threads : (4 * ncpu > 16 ? 4 * ncpu : 16);
    if (td_config_require_jwt(&app->cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "todo-server: %s\n", err);
        return 2;
    }
    /* Key material is part of the configuration: a bad key stops start-up like a bad value,
     * before anything touches the database. */
    app->auth = td_auth_new(&app->cfg, err, sizeof(err));
    if (app->auth == NULL) {
        fprintf(stderr, "todo-server: %s\n", err);
        return 2;
    }
    app->metrics = td_metrics_new();
    app->active_calls = td_metrics_gauge(app->metrics, "td_rpc_active_calls",
                                         "gRPC calls in flight (unary and streams)");
    if (app->cfg.migrate_on_start &&
        td_pg_migrate(app->cfg.database_url, td_migrations, td_migrations_count, 30000, err,
                      sizeof(err)) != TD_OK) {
        td_log_error("server", "migrations failed: %s", err);
        goto out;
    }
    app->health = td_health_new(names, nnames);
    if (app->cfg.rate_limit_rps > 0) {
        app->ratelimit = td_ratelimit_new(app->cfg.redis_url, app->cfg.rate_limit_rps, app->metrics,
                                          err, sizeof(err));
        if (app->ratelimit == NULL) {
            td_log_error("server", "rate limiter: %s", err);
            goto out;
        }
    }
    app->reflection = td_reflection_new_embedded(err, sizeof(err));
    /* The pool is created after migrating: its connections prepare statements at once. */
    size_t pool = app->cfg.db_pool_size > 0 ? (size_t)app->cfg.db_pool_size : (size_t)threads;
    /* List pages are CPU-bound on the database (store.h): about two per database core. Its
     * cores are unknown here: two per usable core of this process, and at least 4 (a
     * database has 2 cores or more). Measured with this server on 1 core, PostgreSQL on 2,
     * 6 clients of a 5 ms page and 2 of a 40 ms ranked search: with 2 connections the
     * cheap pages wait behind the ranked ones (p99 51 ms, 180 pages/s); with 4, p99 28 ms
     * and 310 pages/s, the ranked ones p99 61 -> 97 ms. */
    size_t lists = app->cfg.db_list_conns > 0 ? (size_t)app->cfg.db_list_conns
                   : ncpu < 2                 ? 4
                                              : 2 * (size_t)ncpu;
    app->store =
        td_store_new(app->cfg.database_url, pool, lists, (size_t)app->cfg.db_read_conns,
                     (const unsigned char *)app->cfg.jwt_secret,
                     app->cfg.jwt_secret ? strlen(app->cfg.jwt_secret) : 0, err, sizeof(err));
    if (app->store == NULL) {
        td_log_error("server", "store: %s", err);
        goto out;
    }
    app->api = td_api_new(app->store, app->metrics);
    if (app->health == NULL || app->reflection == NULL || app->api == NULL) {
        td_log_error("server", "start-up failed: %s", err[0] ? err : "out of memory");
        goto out;
    }
    n = td_health_methods(app->health, app->methods + app->nmethods, MAX_METHODS - app->nmethods);
    app->nmethods += n;
    n = td_reflection_methods(app->reflection, app->methods + app->nmethods,
                              MAX_METHODS - app->nmethods);
    app->nmethods += n;
    const td_rpc_method *api_methods = td_api_methods(app->api, &n);
    if (add_methods(app, api_methods, n) != 0) {
        td_log_error("server", "too many methods");
        goto out;
    }

    method_metrics_init(app);
    td_rpc_server_opts opts = {
        .addr = app->cfg.grpc_addr,
        .threads = threads,
        .cpus = ncpu,
        .max_message_bytes = (size_t)app->cfg.max_message_bytes,
        .tls = {app->cfg.tls_cert_file, app->cfg.tls_key_file, app->cfg.tls_client_ca_file},
        .auth = td_auth_check,
        .auth_ctx = app->auth,
        .limit = app->ratelimit ? td_ratelimit_allow : NULL,
        .limit_ctx = app->ratelimit,
        .observe = observe_call,
        .observe_ctx = app,
        .on_drain = td_store_stop_reads,
        .on_drain_ctx = app->store,
    };
    app->rpc = td_rpc_server_new(&opts, err, sizeof(err));
    if (app->rpc == NULL || td_rpc_server_add_methods(app->rpc, app->methods, app->nmethods)) {
        td_log_error("server", "grpc: %s", err);
        goto out;
    }
    app->monitor =
        td_pg_monitor_start(app->cfg.database_url, app->health, app->cfg.health_interval_ms);
    if (app->monitor == NULL) {
        td_log_error("server", "cannot start the PostgreSQL monitor");
        goto out;
    }
    if (app->cfg.metrics_addr != NULL) {
        app->metrics_http =
            (td_metrics_http){app->metrics, metrics_healthy, app, metrics_refresh, app};
        app->httpd = td_httpd_start(app->cfg.metrics_addr, td_metrics_http_handler,
                                    &app->metrics_http, err, sizeof(err));
        if (app->httpd == NULL) {
            td_log_error("server", "metrics endpoint %s: %s", app->cfg.metrics_addr, err);
            goto out;
        }
    }
    int port = td_rpc_server_start(app->rpc, err, sizeof(err));
    if (port <= 0) {
        td_log_error("server", "grpc: %s", err);
        goto out;
    }
    td_log_info("server", "grpc listening on %s (port %d, %s)", app->cfg.grpc_addr, port,
                app->cfg.tls_cert_file ? (app->cfg.tls_client_ca_file ? "mutual TLS" : "TLS")
                                       : "plaintext");
    if (app->httpd != NULL)
        td_log_info("server", "metrics on http://%s/metrics", app->cfg.metrics_addr);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    sigwait(&set, &sig);
    td_log_info("server", "%s received: shutting down (grace %d ms)",
                sig == SIGTERM ? "SIGTERM" : "SIGINT", app->cfg.shutdown_grace_ms);
    td_pg_monitor_stop(app->monitor); /* first, so a probe in flight cannot undo the next line */
    app->monitor = NULL;
    td_health_set_all(app->health, TD_HEALTH_NOT_SERVING);
    td_rpc_server_shutdown(app->rpc, app->cfg.shutdown_grace_ms);
    td_log_info("server", "stopped");
    rc = 0;
out:
    td_pg_monitor_stop(app->monitor);
    td_rpc_server_destroy(app->rpc);
    td_httpd_stop(app->httpd);
    td_api_destroy(app->api);
    td_store_destroy(app->store);
    td_reflection_destroy(app->reflection);
    td_ratelimit_destroy(app->ratelimit);
    td_auth_destroy(app->auth);
    td_health_destroy(app->health);
    td_metrics_destroy(app->metrics);
    return rc;
}

int main(int argc, char **argv)
{
    server_app app;
    char err[512] = "";
    int rc = 2;
    const char *cmd = argc > 1 ? argv[1] : "serve";

    memset(&app, 0, sizeof(app));
    /* Before any thread exists, so every thread inherits the mask and sigwait() sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("todo-server %s\n", TD_VERSION);
        return 0;
    }
    if (td_config_load(&app.cfg, NULL, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "todo-server: %s\n", err);
        return 2;
    }
    td_log_level lvl = TD_LOG_INFO;
    td_log_level_parse(app.cfg.log_level, &lvl);
    td_log_set_level(lvl);

    if (strcmp(cmd, "serve") == 0) {
        rc = serve(&app);
    } else if (strcmp(cmd, "migrate") == 0) {
        rc = td_pg_migrate(app.cfg.database_url, td_migrations, td_migrations_count, 30000, err,
                           sizeof(err)) == TD_OK
                 ? 0
                 : 1;
        if (rc != 0)
            fprintf(stderr, "todo-server: migrate: %s\n", err);
    } else if (strcmp(cmd, "mint-token") == 0) {
        rc = td_auth_mint_cli(argc - 1, argv + 1, &app.cfg);
    } else {
        fprintf(stderr, "todo-server: unknown command '%s'\n", cmd);
        usage(stderr);
    }
    td_config_fini(&app.cfg);
    return rc;
}
