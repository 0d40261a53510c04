/* task_store.h - the SQL of the TaskService write path (create, update, delete,
 * complete/reopen). Each mutation is ONE transaction: bump the user's revision, write the
 * task row(s) with that revision, insert the change record (CloudEvent) - then COMMIT.
 *
 * Round trips (libpq pipeline mode; "|" separates round trips):
 *   create  [BEGIN, bump, now] | (tags: td_tag_store_ensure) |
 *           [INSERT task, (task_tags, reminders, recurrence,) INSERT change, COMMIT]
 *           The task id is a client-side UUIDv4 and now() is the transaction timestamp
 *           (= created_at), so the whole CloudEvent is built before the 2nd round trip.
 *           A request_id already used -> 23505 on tasks_user_request_uidx -> ROLLBACK and
 *           the first task is returned (*existed = true). Two identical concurrent
 *           creates serialise on the users_revisions row lock: exactly one task.
 *   update  [BEGIN, bump, SELECT .. FOR UPDATE] | (tags) | [UPDATE .. WHERE revision =
 *           read revision, child rows, SELECT task] | [INSERT change, COMMIT]
 *   delete  [BEGIN, bump, DELETE .. RETURNING] | [INSERT change, COMMIT]
 *   complete/reopen [BEGIN, bump+UPDATE .. WHERE state differs RETURNING task] |
 *           [INSERT change, COMMIT]; already in that state -> ROLLBACK (no revision,
 *           no change record) and the current task is returned unchanged.
 * Every statement filters on user_id; another user's id behaves exactly like a missing
 * one (TD_ENOTFOUND). Stale etag -> TD_ECONFLICT, nothing written (the row is locked by
 * SELECT .. FOR UPDATE / the DELETE's predicate, so there is no race).
 *
 * Ownership: results are arena-allocated (ctx->arena); PGresults are cleared here. On any
 * failure the transaction is rolled back before returning. Threads: the handler thread
 * holding the connection. */
#ifndef TD_SERVER_STORE_TASK_STORE_H
#define TD_SERVER_STORE_TASK_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "pg/pg.h"
#include "todo/v1/task.pb-c.h"

extern const td_pg_stmt td_task_stmts[];
extern const size_t td_task_nstmts;

typedef struct td_task_ctx {
    td_pg_conn *conn;
    const char *user;
    const char *cid; /* correlation id (traceparent of the change record), may be NULL */
    td_arena *arena;
    /* Out: on TD_EINVAL, the Task field at fault, else NULL: "due.time_zone" (PostgreSQL
     * rejected the zone), or a cross-field rule of the merged update ("reminders[i]",
     * "recurrence": they need a due). bad_why: its client-safe description (NULL for the
     * zone: the caller words it). */
    const char *bad_field;
    const char *bad_why;
    char err[256]; /* out: internal detail for the log (never sent to clients) */
} td_task_ctx;

/* Creates `in` (validated and normalised by td_task_validate) and fills *out. request_id
 * may be "" (no idempotency). *existed = true when request_id was already used: *out is
 * then the task created the first time and nothing was written. */
td_status td_task_store_create(td_task_ctx *ctx, const Todo__V1__Task *in, const char *request_id,
                               Todo__V1__Task *out, bool *existed);

/* Applies the `fields` (TD_TASK_F_*) of `in` to task in->id. etag_rev >= 0: must equal the
 * current revision (else TD_ECONFLICT). *out = the task after the change. */
td_status td_task_store_update(td_task_ctx *ctx, const Todo__V1__Task *in, unsigned fields,
                               int64_t etag_rev, Todo__V1__Task *out);

/* Deletes task `id` (etag_rev >= 0: conditional). */
td_status td_task_store_delete(td_task_ctx *ctx, const char *id, int64_t etag_rev);

/* Completes (completed = true) or reopens task `id`; idempotent (see above). */
td_status td_task_store_set_completed(td_task_ctx *ctx, const char *id, bool completed,
                                      Todo__V1__Task *out);

/* Writes a PostgreSQL text[] literal of items into the arena ({"a","b \"c\""}). */
char *td_pg_text_array_format(td_arena *a, char *const *items, size_t n);

#endif
