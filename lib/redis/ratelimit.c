/* ratelimit.c - leased per-user rate limit (design and accuracy bound in ratelimit.h).
 *
 * Owns: the local table (SHARDS shards, each a chained hash of entries under its own
 * mutex), the Redis connection (when no incr function is injected), the script SHA.
 *
 * Entry invariant (under the shard mutex): `remaining` is quota leased for `window` and
 * not yet spent; `exhausted` means Redis reported the window's shared counter past the
 * limit, so no further lease is requested in that window. An entry whose window is not
 * the current second is dead and is reset on next use or swept when the shard is full.
 *
 * The lease round trip runs with NO shard lock held (it may take the Redis timeout);
 * its result is merged back under the lock, into the entry only if the window is still
 * the same. Two threads leasing for one user at once both merge their grants, so no
 * quota is lost; the shared counter keeps the global bound either way.
 *
 * Threads: allow() from any thread; new/destroy from one thread while nobody calls. */
#include "redis/ratelimit.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "redis/conn.h"

enum { SHARDS = 16, SHARD_BUCKETS = 512, MAX_USER = 255, KEY_TTL_S = 2 };

static const char lease_script[] =
    "local v = redis.call('INCRBY', KEYS[1], ARGV[1])\n"
    "if v == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], ARGV[2]) end\n"
    "return v\n";

typedef struct entry {
    struct entry *en_next;
    uint64_t en_hash;
    int64_t en_window;
    int64_t en_remaining;
    bool en_exhausted;
    size_t en_user_len;
    char en_user[]; /* not NUL-terminated */
} entry;

typedef struct shard {
    pthread_mutex_t mu;
    entry *buckets[SHARD_BUCKETS];
    size_t count;
} shard;

struct td_ratelimit {
    int64_t limit;
    int64_t chunk;
    size_t max_per_shard;
    td_ratelimit_incr_fn incr;
    void *incr_ctx;
    td_ratelimit_clock_fn clock;
    void *clock_ctx;
    td_redis *redis; /* owned; NULL when incr was injected */
    char script_sha[41];
    td_metric_counter *m_errors;
    td_metric_counter *m_fail_open;
    td_metric_counter *m_denied;
    td_metric_counter *m_leases;
    shard shards[SHARDS];
};

int64_t td_ratelimit_granted(int64_t limit, int64_t chunk, int64_t total)
{
    int64_t before = total - chunk; /* the counter before our INCRBY */
    int64_t g = limit - before;
    if (g < 0)
        g = 0;
    if (g > chunk)
        g = chunk;
    return g;
}

static int64_t realtime_sec(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

static uint64_t hash_user(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* ------------------------------------------------------------------ Redis backend */

static td_status redis_incr(void *ctx, const char *key, size_t key_len, int64_t n, int64_t *total)
{
    td_ratelimit *rl = ctx;
    char nbuf[24], ttl[8];
    td_status st = TD_EUNAVAIL;
    snprintf(nbuf, sizeof(nbuf), "%lld", (long long)n);
    snprintf(ttl, sizeof(ttl), "%d", KEY_TTL_S);
    const char *argv[6] = {"EVALSHA", rl->script_sha, "1", key, nbuf, ttl};
    size_t lens[6] = {7, 40, 1, key_len, strlen(nbuf), strlen(ttl)};
    redisReply *rep = td_redis_command_argv(rl->redis, 6, argv, lens);
    if (rep != NULL && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(rep);
        argv[0] = "EVAL";
        lens[0] = 4;
        argv[1] = lease_script;
        lens[1] = sizeof(lease_script) - 1;
        rep = td_redis_command_argv(rl->redis, 6, argv, lens);
    }
    if (rep == NULL)
        goto out; /* counted by conn.c */
    if (rep->type != REDIS_REPLY_INTEGER) {
        td_metric_counter_inc(rl->m_errors); /* -OOM, -BUSY, WRONGTYPE, ... */
        goto out;
    }
    *total = rep->integer;
    st = TD_OK;
out:
    if (rep != NULL)
        freeReplyObject(rep);
    return st;
}

static int sha1_hex(const char *s, size_t n, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(s, n, md, &len, EVP_sha1(), NULL) != 1 || len != 20)
        return -1;
    for (unsigned i = 0; i < 20; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* ------------------------------------------------------------------ local table */

/* Finds the entry for user; creates it when create is set. Caller holds s->mu. */
static entry *entry_get(td_ratelimit *rl, shard *s, const char *user, size_t n, uint64_t h,
                        int64_t now, bool create)
{
    entry **slot = &s->buckets[h % SHARD_BUCKETS];
    for (entry *e = *slot; e != NULL; e = e->en_next)
        if (e->en_hash == h && e->en_user_len == n && memcmp(e->en_user, user, n) == 0)
            return e;
    if (!create)
        return NULL;
    if (s->count >= rl->max_per_shard) {
        /* sweep dead windows; if everything is current, evict one entry */
        for (size_t b = 0; b < SHARD_BUCKETS; b++) {
            for (entry **pp = &s->buckets[b]; *pp != NULL;) {
                entry *e = *pp;
                if (e->en_window != now) {
                    *pp = e->en_next;
                    free(e);
                    s->count--;
                } else {
                    pp = &e->en_next;
                }
            }
        }
        for (size_t b = h % SHARD_BUCKETS; s->count >= rl->max_per_shard;
             b = (b + 1) % SHARD_BUCKETS) {
            entry *e = s->buckets[b];
            if (e != NULL) {
                s->buckets[b] = e->en_next;
                free(e);
                s->count--;
            }
        }
    }
    entry *e = calloc(1, sizeof(*e) + n);
    if (e == NULL)
        return NULL;
    e->en_hash = h;
    e->en_window = now;
    e->en_user_len = n;
    memcpy(e->en_user, user, n);
    e->en_next = *slot;
    *slot = e;
    s->count++;
    return e;
}

td_status td_ratelimit_allow(void *ctx, const char *user)
{
    td_ratelimit *rl = ctx;
    td_status st = TD_OK;
    if (rl == NULL || rl->limit <= 0 || user == NULL || user[0] == '\0')
        return TD_OK;
    size_t n = strnlen(user, MAX_USER);
    uint64_t h = hash_user(user, n);
    shard *s = &rl->shards[(h >> 32) % SHARDS];
    int64_t now = rl->clock(rl->clock_ctx);

    /* 1. spend the local lease */
    pthread_mutex_lock(&s->mu);
    entry *e = entry_get(rl, s, user, n, h, now, true);
    if (e != NULL && e->en_window != now) {
        e->en_window = now;
        e->en_remaining = 0;
        e->en_exhausted = false;
    }
    bool done = e == NULL || e->en_remaining > 0 || e->en_exhausted;
    if (e == NULL)
        st = TD_OK; /* out of memory: fail open */
    else if (e->en_remaining > 0)
        e->en_remaining--;
    else if (e->en_exhausted)
        st = TD_ELIMIT;
    pthread_mutex_unlock(&s->mu);
    if (done)
        goto out;

    /* 2. lease a chunk from the shared counter, no lock held */
    char key[MAX_USER + 48];
    int kl = snprintf(key, sizeof(key), "td:rl:{%.*s}:%lld", (int)n, user, (long long)now);
    int64_t total = 0;
    if (kl < 0 || (size_t)kl >= sizeof(key) ||
        rl->incr(rl->incr_ctx, key, (size_t)kl, rl->chunk, &total) != TD_OK) {
        td_metric_counter_inc(rl->m_fail_open);
        st = TD_OK;
        goto out;
    }
    td_metric_counter_inc(rl->m_leases);
    int64_t granted = td_ratelimit_granted(rl->limit, rl->chunk, total);

    /* 3. merge the grant and take one unit for this call */
    pthread_mutex_lock(&s->mu);
    e = entry_get(rl, s, user, n, h, now, true);
    if (e != NULL && e->en_window == now) {
        e->en_remaining += granted;
        if (granted < rl->chunk)
            e->en_exhausted = true;
        if (e->en_remaining > 0) {
            e->en_remaining--;
            st = TD_OK;
        } else {
            st = TD_ELIMIT;
        }
    } else {
        st = granted > 0 ? TD_OK : TD_ELIMIT; /* the window moved on meanwhile */
    }
    pthread_mutex_unlock(&s->mu);
out:
    if (st == TD_ELIMIT)
        td_metric_counter_inc(rl->m_denied);
    return st;
}

/* ------------------------------------------------------------------ lifecycle */

td_ratelimit *td_ratelimit_new_opts(const td_ratelimit_opts *o, td_metrics *m, char *err,
                                    size_t err_cap)
{
    td_ratelimit *rl = calloc(1, sizeof(*rl));
    td_ratelimit *result = NULL;
    if (err_cap > 0)
        err[0] = '\0';
    if (rl == NULL) {
        snprintf(err, err_cap, "out of memory");
        goto out;
    }
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_init(&rl->shards[i].mu, NULL);
    if (o->limit_per_sec < 0 || o->chunk < 0) {
        snprintf(err, err_cap, "rate limit: limit and chunk must be >= 0");
        goto out;
    }
    rl->limit = o->limit_per_sec;
    rl->chunk = o->chunk > 0 ? o->chunk : (rl->limit / 10 > 1 ? rl->limit / 10 : 1);
    size_t max_users = o->max_users > 0 ? o->max_users : 65536;
    rl->max_per_shard = max_users / SHARDS > 0 ? max_users / SHARDS : 1;
    rl->clock = o->clock != NULL ? o->clock : realtime_sec;
    rl->clock_ctx = o->clock_ctx;
    rl->m_errors =
        td_metrics_counter(m, "td_ratelimit_redis_errors_total",
                           "Redis failures seen by the rate limiter (each one fails open).");
    rl->m_fail_open = td_metrics_counter(
        m, "td_ratelimit_fail_open_total",
        "Calls allowed without checking the limit because Redis was unavailable.");
    rl->m_denied = td_metrics_counter(m, "td_ratelimit_denied_total",
                                      "Calls refused by the per-user rate limit.");
    rl->m_leases =
        td_metrics_counter(m, "td_ratelimit_leases_total", "Quota leases taken from Redis.");
    if (o->incr != NULL) {
        rl->incr = o->incr;
        rl->incr_ctx = o->incr_ctx;
    } else if (rl->limit > 0) {
        td_redis_opts ro = {.url = o->redis_url,
                            .timeout_ms = o->redis_timeout_ms,
                            .retry_ms = o->redis_retry_ms,
                            .errors = rl->m_errors,
                            .component = "ratelimit"};
        rl->redis = td_redis_new(&ro, err, err_cap);
        if (rl->redis == NULL)
            goto out;
        if (sha1_hex(lease_script, sizeof(lease_script) - 1, rl->script_sha) != 0) {
            snprintf(err, err_cap, "rate limit: SHA-1 unavailable");
            goto out;
        }
        rl->incr = redis_incr;
        rl->incr_ctx = rl;
        /* connect now: while a lazy first connect is in flight, concurrent callers would
         * fail open; a Redis that is down now is retried later (not an error) */
        td_redis_connect(rl->redis);
    }
    result = rl;
    rl = NULL;
out:
    td_ratelimit_destroy(rl);
    return result;
}

td_ratelimit *td_ratelimit_new(const char *redis_url, int limit_per_sec, td_metrics *m, char *err,
                               size_t err_cap)
{
    td_ratelimit_opts o = {.limit_per_sec = limit_per_sec, .redis_url = redis_url};
    return td_ratelimit_new_opts(&o, m, err, err_cap);
}

void td_ratelimit_destroy(td_ratelimit *rl)
{
    if (rl == NULL)
        return;
    for (int i = 0; i < SHARDS; i++) {
        for (size_t b = 0; b < SHARD_BUCKETS; b++) {
            entry *e = rl->shards[i].buckets[b];
            while (e != NULL) {
                entry *next = e->en_next;
                free(e);
                e = next;
            }
        }
        pthread_mutex_destroy(&rl->shards[i].mu);
    }
    td_redis_destroy(rl->redis);
    free(rl);
}
