/* conn.c - the fail-fast shared Redis connection (see conn.h).
 *
 * State: ctx (under mu) is the connection or NULL. up mirrors ctx != NULL for lock-free
 * readers. retry_at (monotonic ms) is when the next connection attempt may start; a
 * caller claims an attempt by moving retry_at forward with a compare-and-swap, so under
 * an outage at most one thread per retry_ms pays a connect timeout, and every other
 * caller returns NULL after two atomic loads. last_warn rate-limits the log.
 *
 * Threads: any; mu serializes every use of ctx. */
#include "redis/conn.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#include "core/log.h"
#include "redis/redis_url.h"

enum { WARN_EVERY_MS = 10000 };

struct td_redis {
    pthread_mutex_t mu;
    redisContext *ctx; /* under mu */
    td_redis_url url;
    int timeout_ms;
    int retry_ms;
    td_metric_counter *errors;
    const char *component;
    _Atomic bool up;
    _Atomic int64_t retry_at;
    _Atomic int64_t last_warn;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void warn(td_redis *r, const char *what, const char *detail)
{
    int64_t now = mono_ms();
    int64_t last = atomic_load(&r->last_warn);
    if (last != 0 && now - last < WARN_EVERY_MS)
        return;
    if (!atomic_compare_exchange_strong(&r->last_warn, &last, now))
        return;
    td_log_warn(r->component, "redis %s:%d %s: %s (failing open, retry every %d ms)", r->url.host,
                r->url.port, what, detail != NULL ? detail : "?", r->retry_ms);
}

/* Marks the connection failed. Caller holds mu. */
static void fail(td_redis *r, const char *what)
{
    char detail[128];
    snprintf(detail, sizeof(detail), "%s",
             r->ctx != NULL && r->ctx->errstr[0] != '\0' ? r->ctx->errstr : "error");
    if (r->ctx != NULL)
        redisFree(r->ctx);
    r->ctx = NULL;
    atomic_store(&r->up, false);
    atomic_store(&r->retry_at, mono_ms() + r->retry_ms);
    td_metric_counter_inc(r->errors);
    warn(r, what, detail);
}

/* Runs a setup command; true on a non-error reply. Caller holds mu. */
static bool setup_cmd(td_redis *r, int argc, const char **argv)
{
    redisReply *rep = redisCommandArgv(r->ctx, argc, argv, NULL);
    bool ok = rep != NULL && rep->type != REDIS_REPLY_ERROR;
    if (rep != NULL && rep->type == REDIS_REPLY_ERROR && r->ctx->errstr[0] == '\0')
        snprintf(r->ctx->errstr, sizeof(r->ctx->errstr), "%.100s", rep->str);
    if (rep != NULL)
        freeReplyObject(rep);
    return ok;
}

/* Connects, authenticates, selects the database. Caller holds mu; ctx is NULL. */
static bool connect_now(td_redis *r)
{
    struct timeval tv = {.tv_sec = r->timeout_ms / 1000, .tv_usec = (r->timeout_ms % 1000) * 1000};
    r->ctx = redisConnectWithTimeout(r->url.host, r->url.port, tv);
    if (r->ctx == NULL || r->ctx->err != 0) {
        fail(r, "connect");
        return false;
    }
    if (redisSetTimeout(r->ctx, tv) != REDIS_OK) {
        fail(r, "set timeout");
        return false;
    }
    if (r->url.password != NULL) {
        const char *argv[3] = {"AUTH", r->url.user, r->url.password};
        bool ok = r->url.user != NULL ? setup_cmd(r, 3, argv)
                                      : setup_cmd(r, 2, (const char *[]){"AUTH", r->url.password});
        if (!ok) {
            fail(r, "AUTH");
            return false;
        }
    }
    if (r->url.db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", r->url.db);
        if (!setup_cmd(r, 2, (const char *[]){"SELECT", db})) {
            fail(r, "SELECT");
            return false;
        }
    }
    atomic_store(&r->up, true);
    if (atomic_load(&r->last_warn) != 0)
        td_log_info(r->component, "redis %s:%d connected again", r->url.host, r->url.port);
    atomic_store(&r->last_warn, 0);
    return true;
}

redisReply *td_redis_command_argv(td_redis *r, int argc, const char **argv, const size_t *lens)
{
    redisReply *rep = NULL;
    bool claimed = false;
    if (r == NULL)
        return NULL;
    if (!atomic_load(&r->up)) {
        int64_t now = mono_ms();
        int64_t at = atomic_load(&r->retry_at);
        if (now < at || !atomic_compare_exchange_strong(&r->retry_at, &at, now + r->retry_ms))
            return NULL; /* backing off, or another thread is reconnecting */
        claimed = true;
    }
    pthread_mutex_lock(&r->mu);
    if (r->ctx == NULL && (!claimed || !connect_now(r)))
        goto out;
    rep = redisCommandArgv(r->ctx, argc, argv, lens);
    if (rep == NULL || r->ctx->err != 0) {
        if (rep != NULL)
            freeReplyObject(rep);
        rep = NULL;
        fail(r, "command");
    }
out:
    pthread_mutex_unlock(&r->mu);
    return rep;
}

bool td_redis_connect(td_redis *r)
{
    redisReply *rep = td_redis_command_argv(r, 1, (const char *[]){"PING"}, NULL);
    if (rep != NULL)
        freeReplyObject(rep);
    return td_redis_is_up(r);
}

bool td_redis_is_up(td_redis *r)
{
    return r != NULL && atomic_load(&r->up);
}

td_redis *td_redis_new(const td_redis_opts *o, char *err, size_t err_cap)
{
    td_redis *r = calloc(1, sizeof(*r));
    td_redis *result = NULL;
    char why[160];
    if (r == NULL) {
        snprintf(err, err_cap, "out of memory");
        goto out;
    }
    if (td_redis_url_parse(o->url, &r->url, why, sizeof(why)) != 0) {
        snprintf(err, err_cap, "TODO_REDIS_URL: %s", why);
        goto out;
    }
    pthread_mutex_init(&r->mu, NULL);
    r->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 100;
    r->retry_ms = o->retry_ms > 0 ? o->retry_ms : 1000;
    r->errors = o->errors;
    r->component = o->component != NULL ? o->component : "redis";
    result = r;
    r = NULL;
out:
    if (r != NULL) {
        td_redis_url_fini(&r->url);
        free(r);
    }
    return result;
}

void td_redis_destroy(td_redis *r)
{
    if (r == NULL)
        return;
    if (r->ctx != NULL)
        redisFree(r->ctx);
    pthread_mutex_destroy(&r->mu);
    td_redis_url_fini(&r->url);
    free(r);
}
