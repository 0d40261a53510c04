/* tag_store.h - the SQL of TagService and the tag matching used by the task write path.
 *
 * Every mutation is ONE transaction on the caller's (idle) connection:
 *   BEGIN | bump revision | [lock the tag row] | mutate (tags.revision = rev; tasks
 *   carrying the tag: tags[] rewritten, revision = rev, updated_at = now()) | INSERT the
 *   change record | COMMIT | pg_notify('td_outbox') (after the commit: wakes the relay).
 * Any failure rolls back before returning: nothing is half-written, no revision is
 * consumed. Every statement filters on user_id; another user's tag id behaves exactly
 * like a missing one (TD_ENOTFOUND).
 *
 * Change records: one per revision (changes has UNIQUE (user_id, revision)), always a
 * todo.v1.TagChanged on task.events; one per mutation, except that a rename or delete
 * affecting more than 10,000 tasks is split into parts of 10,000 ids at consecutive
 * revisions (TagChanged.part/parts, so each stays under Kafka's 1 MB message limit):
 *   create  CHANGE_CREATED, tag after.
 *   update  CHANGE_UPDATED, tag after, changed = paths whose value changed; on a rename,
 *           affected_task_ids = the tasks whose tags[] was rewritten (their revision and
 *           etag become the event's revision).
 *   delete  CHANGE_DELETED, tag before, affected_task_ids = tasks it was removed from
 *           (same revision rule).
 * A sync client applies the event atomically: rename/remove the tag name (matched
 * case-insensitively) in each affected task and set their revision to the event's (the
 * first part's, for a split one); or re-read them with GetTask. A no-op update (same
 * name and color) writes nothing.
 *
 * Tags created implicitly by td_tag_store_ensure() (a task naming an unknown tag) get
 * no event of their own: the caller's TaskCreated/TaskUpdated carries the names.
 *
 * Ownership: results are allocated in the arena `a`; PGresults are cleared here.
 * Threads: the handler thread holding the connection. */
#ifndef TD_SERVER_STORE_TAG_STORE_H
#define TD_SERVER_STORE_TAG_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "pg/pg.h"
#include "todo/v1/tag.pb-c.h"

extern const td_pg_stmt td_tag_stmts[];
extern const size_t td_tag_nstmts;

typedef struct td_tag_ctx {
    td_pg_conn *conn;
    const char *user;
    const char *cid; /* correlation id (traceparent of the change record), may be NULL */
    td_arena *arena;
    char err[256]; /* out: internal detail for the log (never sent to clients) */
} td_tag_ctx;

/* Creates a tag (name/color already validated by tag_validate.h). request_id non-empty:
 * the tag id is derived from (user, request_id), so a retried create returns the tag of
 * the first call (*existed = true, nothing written) - even when the name now collides.
 * A name taken case-insensitively -> TD_EEXIST. */
td_status td_tag_store_create(td_tag_ctx *ctx, const char *name, const char *color,
                              const char *request_id, Todo__V1__Tag *out, bool *existed);

/* One page ordered by (lower(name), id), after the position (after_key, after_id) or from
 * the start when after_key is NULL. Each tag carries open_task_count (one query for the
 * page). *more tells whether a next page exists; *last_key = lower(name) of the last tag
 * returned (for the page token). */
td_status td_tag_store_list(td_tag_ctx *ctx, const char *after_key, const char *after_id, int limit,
                            Todo__V1__Tag ***tags, size_t *n, bool *more, const char **last_key);

/* Applies `fields` (TD_TAG_F_*) of name/color to tag `id`. etag_rev >= 0 must equal the
 * tag's revision (else TD_ECONFLICT). A rename onto another tag's name -> TD_EEXIST.
 * *out = the tag after the change (with open_task_count). */
td_status td_tag_store_update(td_tag_ctx *ctx, const char *id, unsigned fields, const char *name,
                              const char *color, int64_t etag_rev, Todo__V1__Tag *out);

/* Deletes tag `id` (etag_rev >= 0: conditional) and removes it from every task. */
td_status td_tag_store_delete(td_tag_ctx *ctx, const char *id, int64_t etag_rev);

/* For the task write path, INSIDE the caller's transaction and AFTER its revision bump
 * (the users_revisions row lock serialises the user's writers, so no concurrent insert
 * of the same name can race this statement): matches names[0..n) case-insensitively to
 * the user's tags and creates the missing ones with revision rev, in ONE round trip.
 * names must be normalised (td_tag_name_normalize). *ids_out and *canonical_names_out
 * (arena arrays of n) are in input order: the stored id and spelling of each name
 * (an existing "Groceries" wins over "groceries"; among new names differing only in case
 * the first spelling wins, so duplicates come back with the same id). n == 0: no SQL,
 * NULL arrays. Errors: TD_EINVAL (a name the schema rejects), the SQL status, TD_ENOMEM;
 * the caller rolls back. */
td_status td_tag_store_ensure(td_pg_conn *c, const char *user, char **names, size_t n, int64_t rev,
                              td_arena *a, char ***ids_out, char ***canonical_names_out, char *err,
                              size_t cap);

/* The tag id a CreateTag with this request_id gets (uuid text, version 8 = derived):
 * SHA-256 over (user, request_id). Exposed for tests. */
void td_tag_id_from_request(const char *user, const char *request_id, char out[37]);

#endif
