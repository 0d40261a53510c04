/* tag_store.c - TagService SQL and tag matching for tasks (contract in tag_store.h).
 *
 * Invariants kept here:
 *  - one transaction per mutation: bump, mutate, change record, commit; rollback on any
 *    error (out: label), so a failed call consumes no revision and writes nothing;
 *  - tasks.tags (display names) follows tags.name: a rename rewrites, a delete strips
 *    the name in every task of the user that carries the tag, in the same transaction,
 *    and those tasks take the mutation's revision (their etag changes);
 *  - name_lower always comes from PostgreSQL (lower() under the database collation),
 *    never from C, so matching agrees with the unique index.
 * Ownership: arena results, PGresults cleared before return. Threads: the caller's. */
#include "store/tag_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "store/changes.h"
#include "tag_validate.h"
#include "todo/v1/events.pb-c.h"

#define US(x) "(extract(epoch FROM " x ") * 1000000)::int8"
/* 7 columns of a tag row, alias g; the open-task count is the optional 8th. */
#define TAG_COLS                                                                                   \
    "g.id::text, g.name, g.color, g.revision, " US("g.created_at") ", " US(                        \
        "g.updated_at") ", g.name_lower"
/* Kept by triggers (migration 0007): open tasks carrying the tag. */
#define TAG_OPEN "g.open_tasks"
enum { C_ID, C_NAME, C_COLOR, C_REV, C_CREATED, C_UPDATED, C_LOWER, C_OPEN };
/* Affected task ids per TagChanged change record: 10,000 ids are ~380 kB of event, under
 * Kafka's default 1 MB message size (a rename of 60k tasks would be 2.3 MB as one). */
enum { TAG_EVENT_MAX_IDS = 10000 };

/* A rename ($3 lower name, $4 new name, $5 revision) or a strip ($3 lower name, $4
 * revision) of the tasks $2 (uuid[]) of user $1. Sent unprepared (PQexecParams): the
 * planner sees the array as a constant, so the id test is a primary-key probe or a hashed
 * lookup, never a scan per row (see rewrite_tagged_tasks). */
static const char RENAME_TASKS_SQL[] =
    "UPDATE tasks t SET tags = ARRAY(SELECT CASE WHEN lower(x) = $3 THEN $4 ELSE x END "
    "FROM unnest(t.tags) WITH ORDINALITY AS u(x, o) ORDER BY o), revision = $5::int8, "
    "updated_at = now() WHERE t.user_id = $1 AND t.id = ANY($2::uuid[]) RETURNING t.id::text";
static const char STRIP_TASKS_SQL[] =
    "UPDATE tasks t SET tags = ARRAY(SELECT x FROM unnest(t.tags) WITH ORDINALITY AS u(x, o) "
    "WHERE lower(x) <> $3 ORDER BY o), revision = $4::int8, updated_at = now() "
    "WHERE t.user_id = $1 AND t.id = ANY($2::uuid[]) RETURNING t.id::text";

const td_pg_stmt td_tag_stmts[] = {
    {"td_tag_get",
     "SELECT " TAG_COLS ", " TAG_OPEN " FROM tags g "
     "WHERE g.id = $1::uuid AND g.user_id = $2",
     2, true},
    {"td_tag_lock",
     "SELECT " TAG_COLS " FROM tags g "
     "WHERE g.id = $1::uuid AND g.user_id = $2 FOR UPDATE",
     2, false},
    {"td_tag_insert",
     "INSERT INTO tags AS g (id, user_id, name, color, revision) "
     "VALUES (COALESCE($1::uuid, gen_random_uuid()), $2, $3, $4, $5::int8) "
     "RETURNING " TAG_COLS,
     5, false},
    {"td_tag_list",
     "SELECT " TAG_COLS ", " TAG_OPEN " FROM tags g "
     "WHERE g.user_id = $1 AND (g.name_lower, g.id) > ($2::text, $3::uuid) "
     "ORDER BY g.name_lower, g.id LIMIT $4::int4",
     4, true},
    {"td_tag_update",
     "UPDATE tags AS g SET name = $3, color = $4, revision = $5::int8, "
     "updated_at = now() WHERE g.id = $1::uuid AND g.user_id = $2 "
     "RETURNING " TAG_COLS ", " TAG_OPEN,
     5, false},
    /* Tasks of user $1 carrying tag $2 (lower name $3): task_tags is the truth, tag_keys
     * the denormalised copy (user-scoped GIN keys of 0010); the union keeps the two
     * consistent even if one of them ever drifted. */
    {"td_tag_task_ids",
     "SELECT tt.task_id::text FROM task_tags tt WHERE tt.tag_id = $2::uuid AND tt.user_id = $1 "
     "UNION SELECT x.id::text FROM tasks x WHERE td_task_keys(x.user_id, x.search, x.tag_keys, "
     "x.created_at, x.updated_at) @@ td_user_tags_query($1, ARRAY[$3::text], '&') "
     "AND x.user_id = $1",
     3, false},
    {"td_tag_delete", "DELETE FROM tags WHERE id = $1::uuid AND user_id = $2", 2, false},
    /* One round trip for the task path: every input name -> (ordinal, id, stored name).
     * New names are inserted once per lower() (first spelling); existing ones are found
     * by the outer join (its snapshot predates the INSERT, hence the COALESCE). */
    {"td_tag_ensure",
     "WITH input AS (SELECT n, o FROM unnest($2::text[]) WITH ORDINALITY AS u(n, o)), "
     "ins AS (INSERT INTO tags (user_id, name, revision) "
     "SELECT DISTINCT ON (lower(n)) $1, n, $3::int8 FROM input ORDER BY lower(n), o "
     "ON CONFLICT (user_id, name_lower) DO NOTHING RETURNING id, name, name_lower) "
     "SELECT i.o, COALESCE(ins.id, g.id)::text, COALESCE(ins.name, g.name) FROM input i "
     "LEFT JOIN ins ON ins.name_lower = lower(i.n) "
     "LEFT JOIN tags g ON g.user_id = $1 AND g.name_lower = lower(i.n) ORDER BY i.o",
     3, false},
};
const size_t td_tag_nstmts = sizeof(td_tag_stmts) / sizeof(td_tag_stmts[0]);

/* ------------------------------------------------------------------------------------
 * Rows */

static bool parse_i64(const char *s, int64_t *v)
{
    char *end = NULL;
    long long x;
    if (s == NULL || *s == '\0')
        return false;
    x = strtoll(s, &end, 10);
    if (*end != '\0')
        return false;
    *v = x;
    return true;
}

static Google__Protobuf__Timestamp *ts_from_us(td_arena *a, int64_t us)
{
    Google__Protobuf__Timestamp *ts = td_arena_alloc(a, sizeof(*ts));
    if (ts == NULL)
        return NULL;
    google__protobuf__timestamp__init(ts);
    ts->seconds = us / 1000000;
    ts->nanos = (int32_t)(us % 1000000) * 1000;
    if (ts->nanos < 0) {
        ts->seconds--;
        ts->nanos += 1000000000;
    }
    return ts;
}

/* Fills *t from row `row` (TAG_COLS, plus TAG_OPEN when has_open). */
static td_status tag_from_row(const PGresult *r, int row, bool has_open, td_arena *a,
                              Todo__V1__Tag *t)
{
    int64_t rev, created, updated, open = 0;

    todo__v1__tag__init(t);
    if (!parse_i64(PQgetvalue(r, row, C_REV), &rev) ||
        !parse_i64(PQgetvalue(r, row, C_CREATED), &created) ||
        !parse_i64(PQgetvalue(r, row, C_UPDATED), &updated) ||
        (has_open && !parse_i64(PQgetvalue(r, row, C_OPEN), &open)))
        return TD_EINTERNAL;
    t->id = td_arena_strdup(a, PQgetvalue(r, row, C_ID));
    t->name = td_arena_strdup(a, PQgetvalue(r, row, C_NAME));
    t->color = td_arena_strdup(a, PQgetvalue(r, row, C_COLOR));
    t->etag = td_arena_printf(a, "%" PRId64, rev); /* same etag form as tasks */
    t->revision = rev;
    t->open_task_count = (int32_t)open;
    t->create_time = ts_from_us(a, created);
    t->update_time = ts_from_us(a, updated);
    if (t->id == NULL || t->name == NULL || t->color == NULL || t->etag == NULL ||
        t->create_time == NULL || t->update_time == NULL)
        return TD_ENOMEM;
    return TD_OK;
}

/* Column 0 of every row, as an arena array. */
static td_status ids_from_result(const PGresult *r, td_arena *a, char ***ids, size_t *n)
{
    int rows = PQntuples(r);
    *ids = NULL;
    *n = 0;
    if (rows == 0)
        return TD_OK;
    *ids = td_arena_alloc(a, sizeof(char *) * (size_t)rows);
    if (*ids == NULL)
        return TD_ENOMEM;
    for (int i = 0; i < rows; i++) {
        (*ids)[i] = td_arena_strdup(a, PQgetvalue(r, i, 0));
        if ((*ids)[i] == NULL)
            return TD_ENOMEM;
    }
    *n = (size_t)rows;
    return TD_OK;
}

/* A PostgreSQL text[] literal: {"a","b \"c\"","d\\e"}. Every element quoted, " and \
 * backslash-escaped, so any name (commas, braces, quotes, NULL-looking text) is data. */
static char *text_array(td_arena *a, char *const *items, size_t n)
{
    size_t cap = 3, o = 0;
    char *buf;

    for (size_t i = 0; i < n; i++)
        cap += 2 * strlen(items[i]) + 3;
    buf = td_arena_alloc(a, cap);
    if (buf == NULL)
        return NULL;
    buf[o++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            buf[o++] = ',';
        buf[o++] = '"';
        for (const char *p = items[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                buf[o++] = '\\';
            buf[o++] = *p;
        }
        buf[o++] = '"';
    }
    buf[o++] = '}';
    buf[o] = '\0';
    return buf;
}

/* Rewrites every task of the user that carries tag `tag_id` (lower name `lower`) with sql
 * (RENAME_TASKS_SQL or STRIP_TASKS_SQL; v: its values, v[0] the user, v[1] set here) and
 * lists them in ev. Two statements: the ids by index, then the update by primary key. One
 * statement with "t.id IN (<ids>)" went quadratic when the user's tasks were newer than
 * the table's statistics (the planner then expects one task and rescans the ids for each
 * of the user's rows): 35 s for 10,050 tasks. The caller's transaction holds the user's
 * revision row, so no task of the user changes between the two. */
static td_status rewrite_tagged_tasks(td_tag_ctx *ctx, const char *tag_id, const char *lower,
                                      const char *sql, const char **v, int nv,
                                      Todo__V1__TagChanged *ev)
{
    const char *q[3] = {ctx->user, tag_id, lower};
    PGresult *ids, *r = NULL;
    char **items = NULL;
    td_status st;
    int n;

    ids = td_pg_exec(ctx->conn, "td_tag_task_ids", 3, q, NULL, NULL, 0, &st, ctx->err,
                     sizeof(ctx->err));
    if (ids == NULL)
        goto out;
    if ((n = PQntuples(ids)) == 0) /* nothing to rewrite */
        goto out;
    if ((items = td_arena_alloc(ctx->arena, sizeof(char *) * (size_t)n)) == NULL) {
        st = TD_ENOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++)
        items[i] = PQgetvalue(ids, i, 0);
    if ((v[1] = text_array(ctx->arena, items, (size_t)n)) == NULL) {
        st = TD_ENOMEM;
        goto out;
    }
    r = td_pg_exec_sql(ctx->conn, sql, nv, v, &st, ctx->err, sizeof(ctx->err));
    if (r != NULL)
        st = ids_from_result(r, ctx->arena, &ev->affected_task_ids, &ev->n_affected_task_ids);
out:
    PQclear(r);
    PQclear(ids);
    return st;
}

/* ------------------------------------------------------------------------------------
 * Transactions */

/* Ends the transaction: COMMIT and wake the relay when st is TD_OK, else ROLLBACK. */
static td_status tx_end(td_tag_ctx *ctx, td_status st)
{
    if (st != TD_OK) {
        td_pg_rollback(ctx->conn);
        return st;
    }
    st = td_pg_commit(ctx->conn, ctx->err, sizeof(ctx->err));
    if (st != TD_OK) {
        td_pg_rollback(ctx->conn);
        return st;
    }
    td_change_notify(ctx->conn);
    return TD_OK;
}

/* Writes ev (revision rev) as change records: one, or one per TAG_EVENT_MAX_IDS affected
 * tasks, the later parts at revisions bumped here (see TagChanged.part in events.proto). */
static td_status write_changes(td_tag_ctx *ctx, int64_t rev, const char *tag_id,
                               Todo__V1__TagChanged *ev)
{
    char **ids = ev->affected_task_ids;
    size_t n = ev->n_affected_task_ids;
    size_t parts = n == 0 ? 1 : (n + TAG_EVENT_MAX_IDS - 1) / TAG_EVENT_MAX_IDS;
    td_status st = TD_OK;
    td_change ch = {0};
    ch.user_id = ctx->user;
    ch.type = "todo.v1.TagChanged";
    ch.aggregate_type = "tag";
    ch.aggregate_id = tag_id;
    ch.data = &ev->base;
    ch.cid = ctx->cid;
    ev->parts = (int32_t)parts;
    for (size_t k = 0; k < parts && st == TD_OK; k++) {
        if (k > 0)
            st = td_change_bump_revision(ctx->conn, ctx->user, &rev, ctx->err, sizeof(ctx->err));
        ev->revision = rev;
        ev->part = (int32_t)k + 1;
        ev->affected_task_ids = ids + k * TAG_EVENT_MAX_IDS;
        ev->n_affected_task_ids = n - k * TAG_EVENT_MAX_IDS < TAG_EVENT_MAX_IDS
                                      ? n - k * TAG_EVENT_MAX_IDS
                                      : TAG_EVENT_MAX_IDS;
        if (st == TD_OK)
            st = td_change_insert(ctx->conn, &ch, rev, ctx->arena, ctx->err, sizeof(ctx->err));
    }
    ev->affected_task_ids = ids;
    ev->n_affected_task_ids = n;
    return st;
}

/* Runs a statement expected to return at most one tag row. TD_ENOTFOUND when none. */
static td_status exec_tag(td_tag_ctx *ctx, const char *stmt, int np, const char *const *v,
                          bool has_open, Todo__V1__Tag *out)
{
    td_status st;
    PGresult *r =
        td_pg_exec(ctx->conn, stmt, np, v, NULL, NULL, 0, &st, ctx->err, sizeof(ctx->err));
    if (r == NULL)
        goto out;
    if (PQntuples(r) == 0) {
        st = TD_ENOTFOUND;
        goto out;
    }
    st = tag_from_row(r, 0, has_open, ctx->arena, out);
out:
    PQclear(r);
    return st;
}

/* Reads the row's lower(name) (for matching task arrays) after exec_tag on td_tag_lock. */
static td_status lock_tag(td_tag_ctx *ctx, const char *id, Todo__V1__Tag *out, char **lower)
{
    td_status st;
    const char *v[2] = {id, ctx->user};
    PGresult *r =
        td_pg_exec(ctx->conn, "td_tag_lock", 2, v, NULL, NULL, 0, &st, ctx->err, sizeof(ctx->err));
    if (r == NULL)
        goto out;
    if (PQntuples(r) == 0) {
        st = TD_ENOTFOUND;
        goto out;
    }
    st = tag_from_row(r, 0, false, ctx->arena, out);
    if (st != TD_OK)
        goto out;
    *lower = td_arena_strdup(ctx->arena, PQgetvalue(r, 0, C_LOWER));
    if (*lower == NULL)
        st = TD_ENOMEM;
out:
    PQclear(r);
    return st;
}

/* Opens an update or delete of one tag: BEGIN, bump the user's revision first (its row
 * lock orders this user's writers), lock the tag row, check the etag. On return *in_tx says
 * whether the caller must end the transaction with tx_end(). */
static td_status tx_begin_on_tag(td_tag_ctx *ctx, const char *id, int64_t etag_rev, int64_t *rev,
                                 Todo__V1__Tag *before, char **lower, bool *in_tx)
{
    td_status st = td_pg_begin(ctx->conn, ctx->err, sizeof(ctx->err));
    if (st != TD_OK)
        goto out;
    *in_tx = true;
    st = td_change_bump_revision(ctx->conn, ctx->user, rev, ctx->err, sizeof(ctx->err));
    if (st != TD_OK)
        goto out;
    st = lock_tag(ctx, id, before, lower);
    if (st != TD_OK)
        goto out;
    if (etag_rev >= 0 && etag_rev != before->revision) {
        snprintf(ctx->err, sizeof(ctx->err), "tag %s: etag %" PRId64 " is stale", id, etag_rev);
        st = TD_ECONFLICT;
    }
out:
    return st;
}

/* ------------------------------------------------------------------------------------
 * Create */

void td_tag_id_from_request(const char *user, const char *request_id, char out[37])
{
    static const char hexd[] = "0123456789abcdef";
    static const char domain[] = "todo.v1.TagService/CreateTag";
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    size_t o = 0;

    memset(d, 0, sizeof(d));
    /* NUL-separated fields (the domain's NUL included) are unambiguous. On an OpenSSL
     * failure d stays zero: a fixed id, so the create fails with ALREADY_EXISTS at worst. */
    if (h != NULL && EVP_DigestInit_ex(h, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(h, domain, sizeof(domain)) == 1 &&
        EVP_DigestUpdate(h, user, strlen(user) + 1) == 1 &&
        EVP_DigestUpdate(h, request_id, strlen(request_id)) == 1)
        EVP_DigestFinal_ex(h, d, &dlen);
    EVP_MD_CTX_free(h);
    d[6] = (unsigned char)((d[6] & 0x0f) | 0x80); /* version 8: application-defined */
    d[8] = (unsigned char)((d[8] & 0x3f) | 0x80); /* RFC 9562 variant */
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hexd[d[i] >> 4];
        out[o++] = hexd[d[i] & 15];
    }
    out[o] = '\0';
}

td_status td_tag_store_create(td_tag_ctx *ctx, const char *name, const char *color,
                              const char *request_id, Todo__V1__Tag *out, bool *existed)
{
    td_status st;
    char idbuf[37], *rev_text = NULL;
    const char *id = NULL;
    int64_t rev = 0;
    bool in_tx = false;
    Todo__V1__TagChanged ev = TODO__V1__TAG_CHANGED__INIT;

    *existed = false;
    if (request_id != NULL && *request_id != '\0') {
        const char *v[2] = {idbuf, ctx->user};
        td_tag_id_from_request(ctx->user, request_id, idbuf);
        id = idbuf;
        st = exec_tag(ctx, "td_tag_get", 2, v, true, out);
        if (st == TD_OK) {
            *existed = true; /* a retry: the first call's tag, nothing written */
            goto out;
        }
        if (st != TD_ENOTFOUND)
            goto out;
    }

    st = td_pg_begin(ctx->conn, ctx->err, sizeof(ctx->err));
    if (st != TD_OK)
        goto out;
    in_tx = true;
    st = td_change_bump_revision(ctx->conn, ctx->user, &rev, ctx->err, sizeof(ctx->err));
    if (st != TD_OK)
        goto out;
    rev_text = td_arena_printf(ctx->arena, "%" PRId64, rev);
    if (rev_text == NULL) {
        st = TD_ENOMEM;
        goto out;
    }
    {
        const char *v[5] = {id, ctx->user, name, color != NULL ? color : "", rev_text};
        st = exec_tag(ctx, "td_tag_insert", 5, v, false, out);
    }
    if (st == TD_EEXIST && id != NULL) {
        /* Either the name is taken, or a concurrent retry of this request won. */
        const char *v[2] = {id, ctx->user};
        st = tx_end(ctx, st);
        in_tx = false;
        if (exec_tag(ctx, "td_tag_get", 2, v, true, out) == TD_OK) {
            *existed = true;
            st = TD_OK;
        }
        goto out;
    }
    if (st != TD_OK)
        goto out;
    ev.user_id = (char *)ctx->user;
    ev.revision = rev;
    ev.change = TODO__V1__TAG_CHANGED__CHANGE__CHANGE_CREATED;
    ev.tag = out;
    st = write_changes(ctx, rev, out->id, &ev);
out:
    if (in_tx)
        st = tx_end(ctx, st);
    return st;
}

/* ------------------------------------------------------------------------------------
 * List */

td_status td_tag_store_list(td_tag_ctx *ctx, const char *after_key, const char *after_id, int limit,
                            Todo__V1__Tag ***tags, size_t *n, bool *more, const char **last_key)
{
    td_status st;
    PGresult *r = NULL;
    char *lim = td_arena_printf(ctx->arena, "%d", limit + 1); /* one more: is there a next? */
    /* name_lower is never "" (names have >= 1 non-space character), so ("", nil uuid)
     * sorts before every row: the first page needs no second statement. */
    const char *v[4] = {ctx->user, after_key != NULL ? after_key : "",
                        after_key != NULL ? after_id : "00000000-0000-0000-0000-000000000000", lim};
    int rows, take;
    Todo__V1__Tag *arr = NULL;

    *tags = NULL;
    *n = 0;
    *more = false;
    *last_key = NULL;
    if (lim == NULL) {
        st = TD_ENOMEM;
        goto out;
    }
    r = td_pg_exec(ctx->conn, "td_tag_list", 4, v, NULL, NULL, 0, &st, ctx->err, sizeof(ctx->err));
    if (r == NULL)
        goto out;
    rows = PQntuples(r);
    take = rows > limit ? limit : rows;
    *more = rows > limit;
    if (take == 0)
        goto out;
    arr = td_arena_alloc(ctx->arena, sizeof(*arr) * (size_t)take);
    *tags = td_arena_alloc(ctx->arena, sizeof(**tags) * (size_t)take);
    if (arr == NULL || *tags == NULL) {
        st = TD_ENOMEM;
        goto out;
    }
    for (int i = 0; i < take; i++) {
        st = tag_from_row(r, i, true, ctx->arena, &arr[i]);
        if (st != TD_OK)
            goto out;
        (*tags)[i] = &arr[i];
    }
    *n = (size_t)take;
    *last_key = td_arena_strdup(ctx->arena, PQgetvalue(r, take - 1, C_LOWER));
    if (*last_key == NULL)
        st = TD_ENOMEM;
out:
    PQclear(r);
    return st;
}

/* ------------------------------------------------------------------------------------
 * Update / delete */

td_status td_tag_store_update(td_tag_ctx *ctx, const char *id, unsigned fields, const char *name,
                              const char *color, int64_t etag_rev, Todo__V1__Tag *out)
{
    td_status st;
    Todo__V1__Tag before;
    Todo__V1__TagChanged ev = TODO__V1__TAG_CHANGED__INIT;
    Google__Protobuf__FieldMask changed = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    char *paths[2], *lower = NULL, *rev_text = NULL;
    const char *new_name, *new_color;
    int64_t rev = 0;
    bool in_tx = false, renamed;

    st = tx_begin_on_tag(ctx, id, etag_rev, &rev, &before, &lower, &in_tx);
    if (st != TD_OK)
        goto out;
    new_name = (fields & TD_TAG_F_NAME) ? name : before.name;
    new_color = (fields & TD_TAG_F_COLOR) ? (color != NULL ? color : "") : before.color;
    renamed = strcmp(new_name, before.name) != 0;
    if (renamed)
        paths[changed.n_paths++] = "name";
    if (strcmp(new_color, before.color) != 0)
        paths[changed.n_paths++] = "color";
    if (changed.n_paths == 0) {
        /* Nothing changes: no revision, no event; answer with the current tag. */
        const char *v[2] = {id, ctx->user};
        st = tx_end(ctx, TD_ECANCELLED); /* rollback */
        in_tx = false;
        st = exec_tag(ctx, "td_tag_get", 2, v, true, out);
        goto out;
    }
    changed.paths = paths;
    rev_text = td_arena_printf(ctx->arena, "%" PRId64, rev);
    if (rev_text == NULL) {
        st = TD_ENOMEM;
        goto out;
    }
    {
        const char *v[5] = {id, ctx->user, new_name, new_color, rev_text};
        st = exec_tag(ctx, "td_tag_update", 5, v, true, out);
        if (st != TD_OK)
            goto out; /* TD_EEXIST: the new name is another tag's */
    }
    if (renamed) {
        const char *v[5] = {ctx->user, NULL, lower, new_name, rev_text};
        st = rewrite_tagged_tasks(ctx, id, lower, RENAME_TASKS_SQL, v, 5, &ev);
        if (st != TD_OK)
            goto out;
    }
    ev.user_id = (char *)ctx->user;
    ev.revision = rev;
    ev.change = TODO__V1__TAG_CHANGED__CHANGE__CHANGE_UPDATED;
    ev.tag = out;
    ev.changed = &changed;
    st = write_changes(ctx, rev, out->id, &ev);
out:
    if (in_tx)
        st = tx_end(ctx, st);
    return st;
}

td_status td_tag_store_delete(td_tag_ctx *ctx, const char *id, int64_t etag_rev)
{
    td_status st;
    Todo__V1__Tag before;
    Todo__V1__TagChanged ev = TODO__V1__TAG_CHANGED__INIT;
    char *lower = NULL, *rev_text = NULL;
    int64_t rev = 0;
    bool in_tx = false;
    PGresult *d = NULL;

    st = tx_begin_on_tag(ctx, id, etag_rev, &rev, &before, &lower, &in_tx);
    if (st != TD_OK)
        goto out;
    rev_text = td_arena_printf(ctx->arena, "%" PRId64, rev);
    if (rev_text == NULL) {
        st = TD_ENOMEM;
        goto out;
    }
    {
        const char *v[4] = {ctx->user, NULL, lower, rev_text};
        st = rewrite_tagged_tasks(ctx, id, lower, STRIP_TASKS_SQL, v, 4, &ev);
        if (st != TD_OK)
            goto out;
    }
    {
        const char *v[2] = {id, ctx->user}; /* task_tags rows go by ON DELETE CASCADE */
        d = td_pg_exec(ctx->conn, "td_tag_delete", 2, v, NULL, NULL, 0, &st, ctx->err,
                       sizeof(ctx->err));
        if (d == NULL)
            goto out;
    }
    ev.user_id = (char *)ctx->user;
    ev.revision = rev;
    ev.change = TODO__V1__TAG_CHANGED__CHANGE__CHANGE_DELETED;
    ev.tag = &before;
    st = write_changes(ctx, rev, before.id, &ev);
out:
    PQclear(d);
    if (in_tx)
        st = tx_end(ctx, st);
    return st;
}

/* ------------------------------------------------------------------------------------
 * Ensure (task write path) */

td_status td_tag_store_ensure(td_pg_conn *c, const char *user, char **names, size_t n, int64_t rev,
                              td_arena *a, char ***ids_out, char ***canonical_names_out, char *err,
                              size_t cap)
{
    td_status st = TD_OK;
    PGresult *r = NULL;
    char *arr = NULL, *rev_text = NULL, **ids = NULL, **canon = NULL;
    const char *why = NULL;

    *ids_out = NULL;
    *canonical_names_out = NULL;
    if (n == 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        char *norm;
        st = td_tag_name_normalize(names[i], a, &norm, &why);
        if (st == TD_OK && norm != names[i])
            st = TD_EINVAL; /* not trimmed: the caller skipped normalisation */
        if (st != TD_OK) {
            snprintf(err, cap, "tags[%zu]: %s", i, why != NULL ? why : "is not normalised");
            goto out;
        }
    }
    arr = text_array(a, names, n);
    rev_text = td_arena_printf(a, "%" PRId64, rev);
    ids = td_arena_alloc(a, sizeof(char *) * n);
    canon = td_arena_alloc(a, sizeof(char *) * n);
    if (arr == NULL || rev_text == NULL || ids == NULL || canon == NULL) {
        st = TD_ENOMEM;
        goto out;
    }
    {
        const char *v[3] = {user, arr, rev_text};
        r = td_pg_exec(c, "td_tag_ensure", 3, v, NULL, NULL, 0, &st, err, cap);
        if (r == NULL)
            goto out;
    }
    if ((size_t)PQntuples(r) != n) {
        snprintf(err, cap, "td_tag_ensure: %d rows for %zu names", PQntuples(r), n);
        st = TD_EINTERNAL;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (PQgetisnull(r, (int)i, 1)) {
            /* Only possible if another writer of this user slipped past the revision
             * lock: report a retryable conflict rather than a half-tagged task. */
            snprintf(err, cap, "td_tag_ensure: tag for tags[%zu] vanished", i);
            st = TD_ECONFLICT;
            goto out;
        }
        ids[i] = td_arena_strdup(a, PQgetvalue(r, (int)i, 1));
        canon[i] = td_arena_strdup(a, PQgetvalue(r, (int)i, 2));
        if (ids[i] == NULL || canon[i] == NULL) {
            st = TD_ENOMEM;
            goto out;
        }
    }
    *ids_out = ids;
    *canonical_names_out = canon;
out:
    PQclear(r);
    return st;
}
