/* pg_monitor.c - PostgreSQL liveness probe driving grpc.health.v1 status. See pg_monitor.h.
 * Thread: one, sleeping on a condition variable so stop() wakes it at once. */
#include "pg_monitor.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "pg/pg.h"

struct td_pg_monitor {
    char *url;
    td_health *health;
    int interval_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    bool up;
};

static void probe(td_pg_monitor *m)
{
    bool up = td_pg_ping(m->url) == TD_OK;
    if (up != m->up)
        td_log(up ? TD_LOG_INFO : TD_LOG_WARN, "health", NULL, "PostgreSQL %s: %s",
               up ? "reachable" : "unreachable", up ? "SERVING" : "NOT_SERVING");
    m->up = up;
    td_health_set_all(m->health, up ? TD_HEALTH_SERVING : TD_HEALTH_NOT_SERVING);
}

static void *run(void *arg)
{
    td_pg_monitor *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += m->interval_ms / 1000;
        dl.tv_nsec += (long)(m->interval_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
        while (!m->stop && pthread_cond_timedwait(&m->cv, &m->mu, &dl) != ETIMEDOUT) {
        }
        if (m->stop)
            break;
        pthread_mutex_unlock(&m->mu);
        probe(m);
        pthread_mutex_lock(&m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

td_pg_monitor *td_pg_monitor_start(const char *db_url, td_health *health, int interval_ms)
{
    td_pg_monitor *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->url = strdup(db_url);
    m->health = health;
    m->interval_ms = interval_ms > 0 ? interval_ms : 1000;
    m->up = true; /* so that a first failure is logged */
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (m->url == NULL)
        goto fail;
    probe(m);
    if (pthread_create(&m->thread, NULL, run, m) != 0)
        goto fail;
    return m;
fail:
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    free(m->url);
    free(m);
    return NULL;
}

void td_pg_monitor_stop(td_pg_monitor *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    free(m->url);
    free(m);
}
