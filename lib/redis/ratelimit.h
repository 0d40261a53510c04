/* ratelimit.h - per-user request rate limit shared by every replica through Redis,
 * without a Redis round trip per call.
 *
 * Scheme: fixed 1-second windows of wall-clock time. Per user and window Redis holds a
 * counter `td:rl:{<user>}:<epoch_sec>` (the braces are a Redis Cluster hash tag) that
 * expires after 2 s. A process does not ask Redis per call: it LEASES quota in chunks
 * (default max(1, limit/10)) with one atomic script (INCRBY key chunk; EXPIRE on
 * creation; return the new total) and spends the lease locally from a sharded in-process
 * table. From the returned total T the process keeps only what is left under the limit:
 *     granted = clamp(limit - (T - chunk), 0, chunk)
 * and when granted < chunk the window is exhausted for everyone, so the process denies
 * the rest of that window locally without asking again.
 *
 * Accuracy (per user, per window key, all replicas together, Redis up):
 *   - never more than `limit` calls are admitted: leases are carved out of one shared
 *     counter and every unit beyond the limit is discarded, so there is no overshoot at
 *     all (not even one chunk per replica);
 *   - the error is on the safe side: a replica may hold up to chunk-1 leased but unused
 *     units when the window ends, so with R replicas serving the same user the admitted
 *     count is at least min(demand, limit - R*(chunk-1)).
 *   - windows follow each replica's wall clock: with clock skew s between replicas, and
 *     as with any fixed window, up to 2*limit calls can fall into one sliding second
 *     around a window boundary.
 * Cost: one Redis round trip per (user, window, chunk) per replica; a user making one
 * call per second pays one round trip per call.
 *
 * Failure: Redis unreachable, slow (> timeout) or erroring => FAIL OPEN (the call is
 * allowed), td_ratelimit_redis_errors_total counts each failure, td_ratelimit_fail_open_total
 * each call allowed that way; a warning is logged at most once per 10 s; reconnects are
 * tried at most once per second by one thread, so a dead Redis adds no latency to calls
 * (see redis/conn.h); calls that need a lease while that one reconnect is in flight
 * fail open too. When Redis returns, limiting resumes within about a second.
 *
 * Memory: the local table holds at most max_users entries (default 65536); when full,
 * entries of past windows are swept, and if all are current an arbitrary one is evicted
 * (losing its unused lease: safe, it only under-admits).
 *
 * Threads: td_ratelimit_allow() is called concurrently from gRPC worker threads; the
 * table is split in 16 mutex-protected shards, Redis access is serialized in conn.c.
 * Ownership: caller destroys with td_ratelimit_destroy() after the last allow(). */
#ifndef TD_REDIS_RATELIMIT_H
#define TD_REDIS_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h"
#include "core/status.h"

typedef struct td_ratelimit td_ratelimit;

/* The shared counter: adds n to key (creating it with a short expiry) and stores the
 * new total in *total. Returns TD_OK, or any error for "unavailable" (=> fail open).
 * Called without any table lock held, concurrently from several threads. */
typedef td_status (*td_ratelimit_incr_fn)(void *ctx, const char *key, size_t key_len, int64_t n,
                                          int64_t *total);
/* Wall-clock seconds since the epoch (injectable for tests). */
typedef int64_t (*td_ratelimit_clock_fn)(void *ctx);

typedef struct td_ratelimit_opts {
    int limit_per_sec;         /* per user; 0 = disabled (allow() always TD_OK) */
    int chunk;                 /* lease size; 0 = max(1, limit/10) */
    size_t max_users;          /* local table bound; 0 = 65536 */
    const char *redis_url;     /* used when incr is NULL */
    int redis_timeout_ms;      /* 0 = 100 */
    int redis_retry_ms;        /* 0 = 1000 */
    td_ratelimit_incr_fn incr; /* NULL = Redis at redis_url */
    void *incr_ctx;
    td_ratelimit_clock_fn clock; /* NULL = CLOCK_REALTIME */
    void *clock_ctx;
} td_ratelimit_opts;

/* Production constructor: Redis at redis_url (TODO_REDIS_URL), default chunk and
 * bounds. Registers its metrics in m (borrowed, may be NULL; must outlive the limiter).
 * Tries to connect once (bounded by the timeout); a Redis that is down at start-up is
 * not an error, it is retried in the background of later calls. Returns
 * NULL with one line in err on a bad URL or out of memory. */
td_ratelimit *td_ratelimit_new(const char *redis_url, int limit_per_sec, td_metrics *m, char *err,
                               size_t err_cap);
td_ratelimit *td_ratelimit_new_opts(const td_ratelimit_opts *opts, td_metrics *m, char *err,
                                    size_t err_cap);
void td_ratelimit_destroy(td_ratelimit *rl); /* NULL is a no-op */

/* TD_OK or TD_ELIMIT. rl is a td_ratelimit* (void* so that it fits td_rpc_limit_fn);
 * NULL rl, a disabled limiter or an empty user allow. */
td_status td_ratelimit_allow(void *rl, const char *user);

/* The lease a process keeps from a shared total (exposed for tests). */
int64_t td_ratelimit_granted(int64_t limit, int64_t chunk, int64_t total);

#endif
