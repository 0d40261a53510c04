/* conn.h - one shared, fail-fast hiredis connection for "fast state" (rate limits, dedupe
 * keys). Redis is never the only truth in this project, so the contract is: answer
 * quickly or give up quickly.
 *
 * Owns: a blocking redisContext guarded by a mutex (callers are expected to be rare,
 * e.g. one lease per user per second, so one context is enough), the parsed URL.
 *
 * Failure policy:
 *   - connect and every command are bounded by timeout_ms (default 100 ms);
 *   - any I/O or protocol error drops the context, counts one error on the counter
 *     given at creation, and starts a back-off of retry_ms (default 1000 ms) during which
 *     td_redis_command_argv() returns NULL at once, without locking or touching the
 *     network; after it exactly one caller tries to reconnect (others keep failing fast);
 *   - a warning is logged at most once per 10 s, naming host:port (never the password).
 * A Redis error reply (-ERR, -NOSCRIPT, ...) is NOT a connection error: it is returned to
 * the caller as a REDIS_REPLY_ERROR reply.
 *
 * Threads: every function is thread-safe. Commands are serialized on the mutex. */
#ifndef TD_REDIS_CONN_H
#define TD_REDIS_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "core/metrics.h"

typedef struct td_redis td_redis;

typedef struct td_redis_opts {
    const char *url;           /* TODO_REDIS_URL */
    int timeout_ms;            /* connect + command timeout; 0 = 100 */
    int retry_ms;              /* back-off after a failure; 0 = 1000 */
    td_metric_counter *errors; /* borrowed, may be NULL: +1 per connection/command failure */
    const char *component;     /* log component, NULL = "redis" */
} td_redis_opts;

/* Parses the URL; does NOT connect (the first command does). NULL with one line in err
 * on a bad URL. Caller destroys with td_redis_destroy(). */
td_redis *td_redis_new(const td_redis_opts *opts, char *err, size_t err_cap);
void td_redis_destroy(td_redis *r); /* NULL is a no-op; no command may be running */

/* Connects now (unless connected or backing off) so that the first commands do not
 * fail open while a lazy connect is in flight. Returns td_redis_is_up(). */
bool td_redis_connect(td_redis *r);

/* Sends one command (binary-safe arguments). Returns the reply, which the caller frees
 * with freeReplyObject(), or NULL when Redis is unavailable (now or backing off). */
redisReply *td_redis_command_argv(td_redis *r, int argc, const char **argv, const size_t *lens);

/* True when a connection is established and no failure was seen since. */
bool td_redis_is_up(td_redis *r);

#endif
