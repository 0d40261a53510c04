/* task_store.c - SQL of the TaskService write path (contract and round-trip shapes in
 * task_store.h).
 *
 * Pipelines inside a transaction: td_pg_pipeline() opens the transaction itself (its
 * first call is the prepared statement "td_task_begin" = BEGIN), which also makes the
 * session usable and applies the call's statement_timeout. The later round trips run
 * while the explicit transaction is open, which td_pg_pipeline() refuses, so tx_pipeline()
 * below sends them on the raw PGconn in pipeline mode with one Sync. Inside an explicit
 * transaction a Sync does not commit; an error makes the rest of the segment
 * PIPELINE_ABORTED and leaves the transaction failed, and every error path here ends
 * with td_pg_rollback(). (Candidate for lib/pg as td_pg_pipeline_tx.)
 *
 * Memory: parameters and results live in ctx->arena; every PGresult is cleared before
 * return. Thread: the handler thread holding ctx->conn. */
#include "store/task_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/cloudevent.h"
#include "store/changes.h"
#include "store/task_row.h"
#include "task_validate.h"
#include "todo/v1/events.pb-c.h"

#if defined(__has_include)
#if __has_include("store/tag_store.h")
#include "store/tag_store.h"
#define TD_HAVE_TAG_STORE 1
#endif
#endif

#define US(x) "timestamptz 'epoch' + " x " * interval '1 microsecond'"

/* The users_revisions bump of changes.c, inlined where a CTE needs it. */
#define BUMP_CTE                                                                                   \
    "WITH rev AS (INSERT INTO users_revisions (user_id, revision) VALUES ($2, 1) "                 \
    "ON CONFLICT (user_id) DO UPDATE SET revision = users_revisions.revision + 1, "                \
    "updated_at = now() RETURNING revision) "

const td_pg_stmt td_task_stmts[] = {
    {"td_task_begin", "BEGIN", 0, false},
    {"td_task_commit", "COMMIT", 0, false},
    {"td_task_notify", "SELECT pg_notify('td_outbox', '')", 0, false},
    /* $1 due_date, $2 time_zone: transaction time (= created_at/updated_at) and the
     * overdue flag of an all-day due; an unknown zone fails here with 22023. */
    {"td_task_now",
     "SELECT (extract(epoch FROM now()) * 1000000)::int8, "
     "CASE WHEN $1::date IS NOT NULL THEN timezone($2::text, ($1::date + 1)::timestamp) <= now() "
     "WHEN $2::text IS NOT NULL THEN timezone($2::text, now()) IS NULL END",
     2, true},
    {"td_task_insert",
     "INSERT INTO tasks (id, user_id, title, description, due_at, due_date, time_zone, "
     "priority, tags, request_id, revision) VALUES ($1::uuid, $2, $3, $4, " US(
         "$5::int8") ", $6::date, $7, $8::int2, $9::text[], $10, $11::int8)",
     11, false},
    {"td_task_tags_set",
     "WITH del AS (DELETE FROM task_tags WHERE task_id = $1::uuid "
     "AND NOT (tag_id = ANY ($3::uuid[]))) "
     "INSERT INTO task_tags (task_id, tag_id, user_id) "
     "SELECT $1::uuid, x, $2 FROM unnest($3::uuid[]) AS x ON CONFLICT DO NOTHING",
     3, false},
    /* Offset reminders fire before the END of the due (overdue_at), NULL while undated. */
    {"td_task_reminders_insert",
     "INSERT INTO reminders (user_id, task_id, kind, offset_seconds, absolute_at, fire_at) "
     "SELECT $2, $1::uuid, u.k, u.o, " US(
         "u.a") ", CASE WHEN u.k = 'offset' THEN "
                "(SELECT CASE WHEN t.overdue_at = 'infinity' THEN NULL "
                "ELSE t.overdue_at - u.o * interval '1 second' END FROM tasks t WHERE t.id = "
                "$1::uuid) "
                "ELSE " US("u.a") " END "
                                  "FROM unnest($3::text[], $4::int4[], $5::int8[]) AS u(k, o, a)",
     5, false},
    {"td_task_reminders_delete", "DELETE FROM reminders WHERE task_id = $1::uuid AND user_id = $2",
     2, false},
    {"td_task_reminders_refire",
     "UPDATE reminders r SET fire_at = CASE WHEN t.overdue_at = 'infinity' THEN NULL "
     "ELSE t.overdue_at - r.offset_seconds * interval '1 second' END, updated_at = now() "
     "FROM tasks t WHERE t.id = r.task_id AND r.task_id = $1::uuid AND r.user_id = $2 "
     "AND r.kind = 'offset' AND r.state = 'scheduled'",
     2, false},
    /* anchor_day: the wanted day of month (31 clamps later): BYMONTHDAY, else the due's. */
    {"td_task_recurrence_upsert",
     "INSERT INTO recurrence_rules AS rr (task_id, user_id, freq, interval_n, by_weekday, "
     "by_month_day, by_set_pos, until_date, count_remaining, rrule, anchor_day) "
     "SELECT $1::uuid, $2, $3, $4::int4, $5::int2[], $6::int2, $7::int2, $8::date, $9::int4, "
     "$10, CASE WHEN $6::int2 > 0 THEN $6::int2 ELSE extract(day FROM "
     "COALESCE(t.due_date::timestamp, timezone(t.time_zone, t.due_at)))::int2 END "
     "FROM tasks t WHERE t.id = $1::uuid AND t.user_id = $2 "
     "ON CONFLICT (task_id) DO UPDATE SET freq = EXCLUDED.freq, interval_n = "
     "EXCLUDED.interval_n, by_weekday = EXCLUDED.by_weekday, by_month_day = "
     "EXCLUDED.by_month_day, by_set_pos = EXCLUDED.by_set_pos, until_date = "
     "EXCLUDED.until_date, count_remaining = EXCLUDED.count_remaining, rrule = "
     "EXCLUDED.rrule, anchor_day = EXCLUDED.anchor_day, updated_at = now()",
     10, false},
    {"td_task_recurrence_delete",
     "DELETE FROM recurrence_rules WHERE task_id = $1::uuid AND user_id = $2", 2, false},
    {"td_task_fetch",
     "SELECT " TD_TASK_COLUMNS " FROM tasks t WHERE t.id = $1::uuid AND t.user_id = $2", 2, true},
    {"td_task_lock",
     "SELECT " TD_TASK_COLUMNS ", (extract(epoch FROM now()) * 1000000)::int8 "
     "FROM tasks t WHERE t.id = $1::uuid AND t.user_id = $2 FOR UPDATE OF t",
     2, false},
    {"td_task_get_by_request",
     "SELECT " TD_TASK_COLUMNS " FROM tasks t WHERE t.user_id = $1 AND t.request_id = $2", 2, true},
    {"td_task_update",
     "UPDATE tasks SET title = $4, description = $5, due_at = " US(
         "$6::int8") ", "
                     "due_date = $7::date, time_zone = $8, priority = $9::int2, tags = "
                     "$10::text[], "
                     "revision = $11::int8, updated_at = now() "
                     "WHERE id = $1::uuid AND user_id = $2 AND revision = $3::int8",
     11, false},
    {"td_task_delete",
     "WITH d AS (DELETE FROM tasks WHERE id = $1::uuid AND user_id = $2 "
     "AND ($3::int8 IS NULL OR revision = $3::int8) RETURNING 1) "
     "SELECT (SELECT count(*) FROM d), "
     "EXISTS (SELECT 1 FROM tasks WHERE id = $1::uuid AND user_id = $2), "
     "(extract(epoch FROM now()) * 1000000)::int8",
     3, false},
    {"td_task_set_completed",
     BUMP_CTE "UPDATE tasks t SET completed_at = CASE WHEN $3::bool THEN now() END, "
              "updated_at = now(), revision = rev.revision FROM rev "
              "WHERE t.id = $1::uuid AND t.user_id = $2 AND (t.completed_at IS NULL) = $3::bool "
              "RETURNING " TD_TASK_COLUMNS,
     3, false},
};
const size_t td_task_nstmts = sizeof(td_task_stmts) / sizeof(td_task_stmts[0]);

#define MAX_CALLS 12

/* ------------------------------------------------------------------------------------
 * helpers */

static void set_err(td_task_ctx *ctx, const char *what, const char *msg)
{
    size_t n;
    snprintf(ctx->err, sizeof(ctx->err), "%s: %s", what, msg ? msg : "?");
    n = strcspn(ctx->err, "\n");
    ctx->err[n] = '\0';
}

/* Runs calls in one round trip inside the open transaction (see the file comment). */
static td_status tx_pipeline(td_task_ctx *ctx, const td_pg_call *calls, size_t n,
                             PGresult **results, size_t *failed_at)
{
    PGconn *pc = td_pg_conn_raw(ctx->conn);
    td_status st = TD_OK;
    bool in_pipeline = false;
    size_t first_fail = n;

    for (size_t i = 0; i < n; i++)
        results[i] = NULL;
    if (pc == NULL || PQstatus(pc) != CONNECTION_OK) {
        st = TD_EUNAVAIL;
        set_err(ctx, "pipeline", "session lost");
        goto out;
    }
    if (PQtransactionStatus(pc) != PQTRANS_INTRANS) {
        st = TD_EINTERNAL;
        set_err(ctx, "pipeline", "no open transaction");
        goto out;
    }
    if (PQenterPipelineMode(pc) != 1) {
        st = TD_EINTERNAL;
        set_err(ctx, "pipeline", PQerrorMessage(pc));
        goto out;
    }
    in_pipeline = true;
    for (size_t i = 0; i < n; i++) {
        const td_pg_call *k = &calls[i];
        if (PQsendQueryPrepared(pc, k->stmt, k->nparams, k->values, k->lengths, k->formats,
                                k->result_format) != 1) {
            st = PQstatus(pc) == CONNECTION_OK ? TD_EINTERNAL : TD_EUNAVAIL;
            first_fail = i;
            set_err(ctx, k->stmt, PQerrorMessage(pc));
            goto drain;
        }
    }
    if (PQpipelineSync(pc) != 1) {
        st = PQstatus(pc) == CONNECTION_OK ? TD_EINTERNAL : TD_EUNAVAIL;
        set_err(ctx, "pipeline sync", PQerrorMessage(pc));
        goto drain;
    }
    for (size_t i = 0; i < n; i++) {
        PGresult *r = PQgetResult(pc);
        ExecStatusType rs = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
        if (r == NULL) {
            st = PQstatus(pc) == CONNECTION_OK ? TD_EINTERNAL : TD_EUNAVAIL;
            if (first_fail == n) {
                first_fail = i;
                set_err(ctx, calls[i].stmt, PQerrorMessage(pc));
            }
            goto drain;
        }
        if (rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK) {
            results[i] = r;
        } else if (rs == PGRES_PIPELINE_ABORTED) {
            PQclear(r);
        } else {
            if (first_fail == n) {
                first_fail = i;
                st = td_pg_sqlstate_status(PQresultErrorField(r, PG_DIAG_SQLSTATE));
                set_err(ctx, calls[i].stmt, PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
                results[i] = r; /* kept so the caller may read SQLSTATE / constraint */
            } else {
                PQclear(r);
            }
        }
        r = PQgetResult(pc); /* the NULL that ends call i */
        if (r != NULL) {
            PQclear(r);
            st = TD_EINTERNAL;
            set_err(ctx, "pipeline", "protocol out of step");
            goto drain;
        }
    }
drain:
    /* Consume up to and including the Sync so the session is reusable. */
    for (int guard = 0; in_pipeline && guard < 4 * MAX_CALLS && PQstatus(pc) == CONNECTION_OK;
         guard++) {
        PGresult *r = PQgetResult(pc);
        if (r == NULL) {
            if (PQpipelineStatus(pc) == PQ_PIPELINE_ON && PQisBusy(pc) == 0 &&
                PQexitPipelineMode(pc) == 1) {
                in_pipeline = false;
                break;
            }
            continue;
        }
        bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        PQclear(r);
        if (sync && PQexitPipelineMode(pc) == 1) {
            in_pipeline = false;
            break;
        }
    }
    if (in_pipeline && st == TD_OK) {
        st = TD_EINTERNAL;
        set_err(ctx, "pipeline", "could not leave pipeline mode");
    }
out:
    if (failed_at != NULL)
        *failed_at = first_fail;
    return st;
}

static void clear_all(PGresult **r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        PQclear(r[i]);
        r[i] = NULL;
    }
}

static bool is_unique_on(const PGresult *r, const char *constraint)
{
    const char *s, *c;
    if (r == NULL)
        return false;
    s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    c = PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME);
    return s && strcmp(s, "23505") == 0 && c && strcmp(c, constraint) == 0;
}

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

char *td_pg_text_array_format(td_arena *a, char *const *items, size_t n)
{
    size_t len = 3;
    for (size_t i = 0; i < n; i++)
        len += 3 + 2 * strlen(items[i]);
    char *out = td_arena_alloc(a, len), *p = out;
    if (out == NULL)
        return NULL;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        *p++ = '"';
        for (const char *s = items[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                *p++ = '\\';
            *p++ = *s;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    return out;
}

static Google__Protobuf__Timestamp *ts_us(td_arena *a, int64_t us)
{
    Google__Protobuf__Timestamp *ts = td_arena_alloc(a, sizeof(*ts));
    if (ts == NULL)
        return NULL;
    google__protobuf__timestamp__init(ts);
    ts->seconds = us / 1000000;
    ts->nanos = (int32_t)(us % 1000000) * 1000;
    if (ts->nanos < 0) {
        ts->nanos += 1000000000;
        ts->seconds--;
    }
    return ts;
}

static int64_t ts_to_us(const Google__Protobuf__Timestamp *ts)
{
    return ts->seconds * 1000000 + ts->nanos / 1000;
}

/* Text parameters of the due columns. */
typedef struct due_params {
    const char *due_us;   /* NULL or epoch us */
    const char *due_date; /* NULL or YYYY-MM-DD */
    const char *tz;       /* "UTC" default */
} due_params;

static td_status due_params_build(td_arena *a, const Todo__V1__Due *d, due_params *p)
{
    p->due_us = p->due_date = NULL;
    p->tz = "UTC";
    if (d == NULL)
        return TD_OK;
    if (d->time_zone != NULL && d->time_zone[0] != '\0')
        p->tz = d->time_zone;
    if (d->when_case == TODO__V1__DUE__WHEN_DUE_TIME && d->due_time != NULL)
        p->due_us = td_arena_printf(a, "%" PRId64, ts_to_us(d->due_time));
    else if (d->when_case == TODO__V1__DUE__WHEN_DUE_DATE && d->due_date != NULL)
        p->due_date = td_arena_printf(a, "%04d-%02d-%02d", (int)d->due_date->year,
                                      (int)d->due_date->month, (int)d->due_date->day);
    if ((d->when_case == TODO__V1__DUE__WHEN_DUE_TIME && p->due_us == NULL) ||
        (d->when_case == TODO__V1__DUE__WHEN_DUE_DATE && p->due_date == NULL))
        return TD_ENOMEM;
    return TD_OK;
}

/* Parameters of td_task_reminders_insert for t's reminders (n > 0). */
static td_status reminder_params(td_arena *a, const Todo__V1__Task *t, const char **kinds,
                                 const char **offs, const char **abss)
{
    size_t cap = 16 + 32 * t->n_reminders;
    char *k = td_arena_alloc(a, cap), *o = td_arena_alloc(a, cap), *b = td_arena_alloc(a, cap);
    size_t kl = 0, ol = 0, bl = 0;
    if (k == NULL || o == NULL || b == NULL)
        return TD_ENOMEM;
    k[kl++] = o[ol++] = b[bl++] = '{';
    for (size_t i = 0; i < t->n_reminders; i++) {
        const Todo__V1__TaskReminder *r = t->reminders[i];
        const char *sep = i ? "," : "";
        if (r->trigger_case == TODO__V1__TASK_REMINDER__TRIGGER_BEFORE_DUE) {
            kl += (size_t)snprintf(k + kl, cap - kl, "%soffset", sep);
            ol += (size_t)snprintf(o + ol, cap - ol, "%s%" PRId64, sep, r->before_due->seconds);
            bl += (size_t)snprintf(b + bl, cap - bl, "%sNULL", sep);
        } else {
            kl += (size_t)snprintf(k + kl, cap - kl, "%sabsolute", sep);
            ol += (size_t)snprintf(o + ol, cap - ol, "%sNULL", sep);
            bl += (size_t)snprintf(b + bl, cap - bl, "%s%" PRId64, sep, ts_to_us(r->at_time));
        }
    }
    snprintf(k + kl, cap - kl, "}");
    snprintf(o + ol, cap - ol, "}");
    snprintf(b + bl, cap - bl, "}");
    *kinds = k;
    *offs = o;
    *abss = b;
    return TD_OK;
}

static const char *const freq_db[] = {NULL, "daily", "weekly", "monthly", "yearly"};

/* Parameters $3..$10 of td_task_recurrence_upsert. */
static td_status recurrence_params(td_arena *a, const Todo__V1__RecurrenceRule *rr,
                                   const char **v /* [8] */)
{
    char wd[32];
    size_t wl = 0;
    wd[wl++] = '{';
    if (rr->week_of_month != 0) {
        wl += (size_t)snprintf(wd + wl, sizeof(wd) - wl, "%d", (int)rr->weekday);
    } else {
        for (size_t i = 0; i < rr->n_days_of_week && i < 7; i++)
            wl += (size_t)snprintf(wd + wl, sizeof(wd) - wl, "%s%d", i ? "," : "",
                                   (int)rr->days_of_week[i]);
    }
    snprintf(wd + wl, sizeof(wd) - wl, "}");
    v[0] = freq_db[rr->frequency];
    v[1] = td_arena_printf(a, "%d", rr->interval > 0 ? (int)rr->interval : 1);
    v[2] = td_arena_strdup(a, wd);
    v[3] = rr->day_of_month != 0 ? td_arena_printf(a, "%d", (int)rr->day_of_month) : NULL;
    v[4] = rr->week_of_month != 0 ? td_arena_printf(a, "%d", (int)rr->week_of_month) : NULL;
    v[5] = NULL;
    v[6] = NULL;
    if (rr->end_case == TODO__V1__RECURRENCE_RULE__END_UNTIL && rr->until != NULL)
        v[5] = td_arena_printf(a, "%04d-%02d-%02d", (int)rr->until->year, (int)rr->until->month,
                               (int)rr->until->day);
    else if (rr->end_case == TODO__V1__RECURRENCE_RULE__END_COUNT)
        v[6] = td_arena_printf(a, "%d", (int)rr->count);
    v[7] = (rr->rrule != NULL && rr->rrule[0] != '\0') ? rr->rrule : NULL;
    if (v[1] == NULL || v[2] == NULL || (rr->day_of_month && v[3] == NULL) ||
        (rr->week_of_month && v[4] == NULL))
        return TD_ENOMEM;
    return TD_OK;
}

/* Resolves tag names to tag ids (creating tags on first use) inside the transaction;
 * replaces t->tags by the canonical names, deduplicated by id. */
static td_status tags_ensure(td_task_ctx *ctx, int64_t rev, Todo__V1__Task *t,
                             const char **ids_literal)
{
    *ids_literal = "{}";
    if (t->n_tags == 0)
        return TD_OK;
#ifdef TD_HAVE_TAG_STORE
    char **ids = NULL, **names = NULL;
    td_status st = td_tag_store_ensure(ctx->conn, ctx->user, t->tags, t->n_tags, rev, ctx->arena,
                                       &ids, &names, ctx->err, sizeof(ctx->err));
    if (st != TD_OK)
        return st;
    size_t k = 0;
    for (size_t i = 0; i < t->n_tags; i++) {
        bool dup = false;
        for (size_t j = 0; j < k && !dup; j++)
            dup = strcmp(ids[j], ids[i]) == 0;
        if (!dup) {
            ids[k] = ids[i];
            names[k] = names[i];
            k++;
        }
    }
    t->tags = names;
    t->n_tags = k;
    *ids_literal = td_pg_text_array_format(ctx->arena, ids, k);
    return *ids_literal ? TD_OK : TD_ENOMEM;
#else
    (void)rev;
    set_err(ctx, "tags", "tag store not built in");
    return TD_EUNIMPL;
#endif
}

/* The change record of a task mutation: CloudEvent `type` carrying `data`, keyed by user. */
static td_change task_change(const td_task_ctx *ctx, const char *type, const char *task_id,
                             const ProtobufCMessage *data)
{
    td_change ch = {ctx->user, type, "task", task_id, data, NULL, ctx->cid, NULL};
    return ch;
}

/* Final round trip: [change insert, COMMIT, notify]. */
static td_status finish(td_task_ctx *ctx, const char *type, const char *task_id,
                        const ProtobufCMessage *data, int64_t rev)
{
    td_change_params cp;
    PGresult *res[3] = {NULL, NULL, NULL};
    td_change ch = task_change(ctx, type, task_id, data);
    td_status st = td_change_params_build(&ch, rev, ctx->arena, &cp);
    if (st != TD_OK) {
        set_err(ctx, "change", td_strerror(st));
        return st;
    }
    td_pg_call calls[3] = {
        {"td_change_insert", 10, cp.values, cp.lengths, cp.formats, 0, false},
        {"td_task_commit", 0, NULL, NULL, NULL, 0, true},
        {"td_task_notify", 0, NULL, NULL, NULL, 0, false},
    };
    st = tx_pipeline(ctx, calls, 3, res, NULL);
    if (st != TD_OK && res[1] != NULL)
        st = TD_OK; /* committed; only the wake-up failed (the relay also polls) */
    clear_all(res, 3);
    return st;
}

/* finish() for a TaskUpdated event naming the changed field paths. */
static td_status finish_updated(td_task_ctx *ctx, Todo__V1__Task *task, int64_t rev, char **paths,
                                size_t npaths)
{
    Google__Protobuf__FieldMask changed = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    changed.n_paths = npaths;
    changed.paths = paths;
    Todo__V1__TaskUpdated ev = TODO__V1__TASK_UPDATED__INIT;
    ev.user_id = (char *)ctx->user;
    ev.revision = rev;
    ev.task = task;
    ev.changed = &changed;
    return finish(ctx, "todo.v1.TaskUpdated", task->id, &ev.base, rev);
}

static void rollback(td_task_ctx *ctx)
{
    td_pg_rollback(ctx->conn);
}

static td_status begin_bump(td_task_ctx *ctx, const td_pg_call *extra, size_t nextra,
                            PGresult **res, int64_t *rev)
{
    const char *uv[1] = {ctx->user};
    td_pg_call calls[4] = {
        {"td_task_begin", 0, NULL, NULL, NULL, 0, false},
        {"td_change_bump", 1, uv, NULL, NULL, 0, false},
    };
    size_t n = 2, failed = 0;
    td_status st;
    for (size_t i = 0; i < nextra && n < 4; i++)
        calls[n++] = extra[i];
    st = td_pg_pipeline(ctx->conn, calls, n, res, &failed, ctx->err, sizeof(ctx->err));
    if (st == TD_OK && (PQntuples(res[1]) != 1 || !parse_i64(PQgetvalue(res[1], 0, 0), rev))) {
        st = TD_EINTERNAL;
        set_err(ctx, "td_change_bump", "no revision");
    }
    return st;
}

/* ------------------------------------------------------------------------------------
 * create */

static td_status get_by_request(td_task_ctx *ctx, const char *request_id, Todo__V1__Task *out)
{
    const char *v[2] = {ctx->user, request_id};
    td_status st;
    PGresult *r = td_pg_exec(ctx->conn, "td_task_get_by_request", 2, v, NULL, NULL, 0, &st,
                             ctx->err, sizeof(ctx->err));
    if (r != NULL) {
        if (PQntuples(r) == 1)
            st = td_task_from_row(r, 0, 0, ctx->arena, out);
        else {
            st = TD_ECONFLICT; /* inserted concurrently and not visible yet: retry */
            set_err(ctx, "create", "request_id in use by a concurrent call");
        }
    }
    PQclear(r);
    return st;
}

td_status td_task_store_create(td_task_ctx *ctx, const Todo__V1__Task *in, const char *request_id,
                               Todo__V1__Task *out, bool *existed)
{
    td_status st = TD_OK;
    PGresult *res[MAX_CALLS] = {NULL};
    int64_t rev = 0, now_us = 0;
    char id[TD_CE_UUID_LEN + 1];
    due_params dp;
    const char *tag_ids = "{}";
    td_arena *a = ctx->arena;
    size_t n = 0, failed = 0;
    bool tx = false;

    *existed = false;
    ctx->bad_field = NULL;
    ctx->bad_why = NULL;
    ctx->err[0] = '\0';
    *out = *in;
    if ((st = td_ce_uuid4(id)) != TD_OK || (st = due_params_build(a, in->due, &dp)) != TD_OK)
        goto out;
    out->id = td_arena_strdup(a, id);
    if (out->id == NULL) {
        st = TD_ENOMEM;
        goto out;
    }

    /* Round trip 1: BEGIN, bump, transaction time (+ due checks). */
    const char *nv[2] = {dp.due_date, in->due ? dp.tz : NULL};
    td_pg_call now_call = {"td_task_now", 2, nv, NULL, NULL, 0, false};
    st = begin_bump(ctx, &now_call, 1, res, &rev);
    tx = true;
    if (st != TD_OK) {
        if (st == TD_EINVAL && res[2] == NULL && in->due != NULL)
            ctx->bad_field = "due.time_zone";
        goto out;
    }
    if (PQntuples(res[2]) != 1 || !parse_i64(PQgetvalue(res[2], 0, 0), &now_us)) {
        st = TD_EINTERNAL;
        set_err(ctx, "td_task_now", "no time");
        goto out;
    }
    out->overdue = false;
    if (dp.due_us != NULL)
        out->overdue = ts_to_us(in->due->due_time) <= now_us;
    else if (dp.due_date != NULL)
        out->overdue = PQgetvalue(res[2], 0, 1)[0] == 't';
    clear_all(res, 3);

    /* Tags (their own round trips; they need rev for tags created here). */
    if ((st = tags_ensure(ctx, rev, out, &tag_ids)) != TD_OK)
        goto out;

    char etag[24];
    td_task_etag_format(rev, etag, sizeof(etag));
    out->etag = td_arena_strdup(a, etag);
    out->revision = rev;
    out->completed = false;
    out->complete_time = NULL;
    out->create_time = ts_us(a, now_us);
    out->update_time = out->create_time;
    const char *tags_lit = td_pg_text_array_format(a, out->tags, out->n_tags);
    const char *rev_text = td_arena_printf(a, "%" PRId64, rev);
    const char *prio = td_arena_printf(a, "%d", (int)out->priority);
    if (out->etag == NULL || out->create_time == NULL || tags_lit == NULL || rev_text == NULL ||
        prio == NULL) {
        st = TD_ENOMEM;
        goto out;
    }
    if (out->recurrence != NULL &&
        (out->recurrence->rrule == NULL || out->recurrence->rrule[0] == '\0')) {
        /* On output both forms are filled. */
        Todo__V1__RecurrenceRule *rr = td_arena_alloc(a, sizeof(*rr));
        if (rr == NULL) {
            st = TD_ENOMEM;
            goto out;
        }
        *rr = *out->recurrence;
        rr->rrule = td_task_rrule_format(rr, a);
        if (rr->rrule == NULL)
            rr->rrule = (char *)"";
        out->recurrence = rr;
    }

    /* Round trip 2: the writes, the change record, COMMIT, wake-up. */
    Todo__V1__TaskCreated ev = TODO__V1__TASK_CREATED__INIT;
    ev.user_id = (char *)ctx->user;
    ev.revision = rev;
    ev.task = out;
    ev.request_id = (char *)request_id;
    td_change ch = task_change(ctx, "todo.v1.TaskCreated", out->id, &ev.base);
    td_change_params cp;
    if ((st = td_change_params_build(&ch, rev, a, &cp)) != TD_OK) {
        set_err(ctx, "change", td_strerror(st));
        goto out;
    }
    td_pg_call calls[MAX_CALLS];
    const char *iv[11] = {
        out->id,     ctx->user, out->title, out->description, dp.due_us,
        dp.due_date, dp.tz,     prio,       tags_lit,         request_id[0] ? request_id : NULL,
        rev_text};
    calls[n++] = (td_pg_call){"td_task_insert", 11, iv, NULL, NULL, 0, false};
    const char *tv[3] = {out->id, ctx->user, tag_ids};
    if (out->n_tags > 0)
        calls[n++] = (td_pg_call){"td_task_tags_set", 3, tv, NULL, NULL, 0, false};
    const char *rv[5] = {out->id, ctx->user, NULL, NULL, NULL};
    if (out->n_reminders > 0) {
        if ((st = reminder_params(a, out, &rv[2], &rv[3], &rv[4])) != TD_OK)
            goto out;
        calls[n++] = (td_pg_call){"td_task_reminders_insert", 5, rv, NULL, NULL, 0, false};
    }
    const char *cv[10] = {out->id, ctx->user};
    if (out->recurrence != NULL) {
        if ((st = recurrence_params(a, out->recurrence, &cv[2])) != TD_OK)
            goto out;
        calls[n++] = (td_pg_call){"td_task_recurrence_upsert", 10, cv, NULL, NULL, 0, false};
    }
    calls[n++] = (td_pg_call){"td_change_insert", 10, cp.values, cp.lengths, cp.formats, 0, false};
    calls[n++] = (td_pg_call){"td_task_commit", 0, NULL, NULL, NULL, 0, false};
    calls[n++] = (td_pg_call){"td_task_notify", 0, NULL, NULL, NULL, 0, false};
    st = tx_pipeline(ctx, calls, n, res, &failed);
    if (st != TD_OK && failed == n - 1 && res[n - 2] != NULL) {
        st = TD_OK; /* committed; only the wake-up failed */
    } else if (st != TD_OK) {
        if (failed == 0 && is_unique_on(res[0], "tasks_user_request_uidx") && request_id[0]) {
            clear_all(res, n);
            rollback(ctx);
            tx = false;
            *existed = true;
            st = get_by_request(ctx, request_id, out);
        } else if (st == TD_EINVAL && failed == 0 && in->due != NULL) {
            ctx->bad_field = "due.time_zone";
        }
        goto out;
    }
    tx = false;
out:
    clear_all(res, MAX_CALLS);
    if (tx && td_pg_in_transaction(ctx->conn))
        rollback(ctx);
    return st;
}

/* ------------------------------------------------------------------------------------
 * update */

static const char *const field_paths[] = {"title", "description", "due",       "priority",
                                          "tags",  "reminders",   "recurrence"};

td_status td_task_store_update(td_task_ctx *ctx, const Todo__V1__Task *in, unsigned fields,
                               int64_t etag_rev, Todo__V1__Task *out)
{
    td_status st = TD_OK;
    PGresult *res[MAX_CALLS] = {NULL};
    td_arena *a = ctx->arena;
    Todo__V1__Task cur = TODO__V1__TASK__INIT, next;
    int64_t rev = 0, old_rev;
    const char *tag_ids = "{}";
    due_params dp;
    size_t n = 0, failed = 0;
    bool tx = false;

    ctx->bad_field = NULL;
    ctx->bad_why = NULL;
    ctx->err[0] = '\0';
    /* Round trip 1: BEGIN, bump, lock the row (id + user). */
    const char *lv[2] = {in->id, ctx->user};
    td_pg_call lock = {"td_task_lock", 2, lv, NULL, NULL, 0, false};
    st = begin_bump(ctx, &lock, 1, res, &rev);
    tx = true;
    if (st != TD_OK)
        goto out;
    if (PQntuples(res[2]) != 1) {
        st = TD_ENOTFOUND;
        goto out;
    }
    if ((st = td_task_from_row(res[2], 0, 0, a, &cur)) != TD_OK)
        goto out;
    old_rev = cur.revision;
    if (etag_rev >= 0 && etag_rev != old_rev) {
        st = TD_ECONFLICT;
        goto out;
    }
    clear_all(res, 3);

    /* Merge the masked fields. */
    next = cur;
    if (fields & TD_TASK_F_TITLE)
        next.title = in->title;
    if (fields & TD_TASK_F_DESCRIPTION)
        next.description = in->description;
    if (fields & TD_TASK_F_DUE)
        next.due = in->due;
    if (fields & TD_TASK_F_PRIORITY)
        next.priority = in->priority;
    if (fields & TD_TASK_F_TAGS) {
        next.tags = in->tags;
        next.n_tags = in->n_tags;
    }
    if (fields & TD_TASK_F_REMINDERS) {
        next.reminders = in->reminders;
        next.n_reminders = in->n_reminders;
    }
    if (fields & TD_TASK_F_RECURRENCE)
        next.recurrence = in->recurrence;
    /* Cross-field rules against the merged state, as on create: clearing the due of a
     * task that keeps before_due reminders or a recurrence is refused like adding them
     * to an undated task. */
    if (next.due == NULL) {
        for (size_t i = 0; i < next.n_reminders; i++)
            if ((fields & (TD_TASK_F_DUE | TD_TASK_F_REMINDERS)) &&
                next.reminders[i]->trigger_case == TODO__V1__TASK_REMINDER__TRIGGER_BEFORE_DUE) {
                ctx->bad_field = td_arena_printf(a, "reminders[%zu]", i);
                if (ctx->bad_field == NULL) {
                    st = TD_ENOMEM;
                    goto out;
                }
                ctx->bad_why = "before_due needs a due date";
                set_err(ctx, ctx->bad_field, ctx->bad_why);
                st = TD_EINVAL;
                goto out;
            }
        if (next.recurrence != NULL && (fields & (TD_TASK_F_DUE | TD_TASK_F_RECURRENCE))) {
            ctx->bad_field = "recurrence";
            ctx->bad_why = "a recurring task needs a due date";
            set_err(ctx, ctx->bad_field, ctx->bad_why);
            st = TD_EINVAL;
            goto out;
        }
    }
    if ((fields & TD_TASK_F_TAGS) && (st = tags_ensure(ctx, rev, &next, &tag_ids)) != TD_OK)
        goto out;
    if ((st = due_params_build(a, next.due, &dp)) != TD_OK)
        goto out;

    /* Round trip 2: writes + read back. */
    td_pg_call calls[MAX_CALLS];
    const char *tags_lit = td_pg_text_array_format(a, next.tags, next.n_tags);
    const char *uv[11] = {cur.id,
                          ctx->user,
                          td_arena_printf(a, "%" PRId64, old_rev),
                          next.title,
                          next.description,
                          dp.due_us,
                          dp.due_date,
                          dp.tz,
                          td_arena_printf(a, "%d", (int)next.priority),
                          tags_lit,
                          td_arena_printf(a, "%" PRId64, rev)};
    if (tags_lit == NULL || uv[2] == NULL || uv[8] == NULL || uv[10] == NULL) {
        st = TD_ENOMEM;
        goto out;
    }
    calls[n++] = (td_pg_call){"td_task_update", 11, uv, NULL, NULL, 0, false};
    const char *idv[3] = {cur.id, ctx->user, tag_ids};
    if (fields & TD_TASK_F_TAGS)
        calls[n++] = (td_pg_call){"td_task_tags_set", 3, idv, NULL, NULL, 0, false};
    const char *rv[5] = {cur.id, ctx->user, NULL, NULL, NULL};
    if (fields & TD_TASK_F_REMINDERS) {
        calls[n++] = (td_pg_call){"td_task_reminders_delete", 2, idv, NULL, NULL, 0, false};
        if (next.n_reminders > 0) {
            if ((st = reminder_params(a, &next, &rv[2], &rv[3], &rv[4])) != TD_OK)
                goto out;
            calls[n++] = (td_pg_call){"td_task_reminders_insert", 5, rv, NULL, NULL, 0, false};
        }
    } else if (fields & TD_TASK_F_DUE) {
        calls[n++] = (td_pg_call){"td_task_reminders_refire", 2, idv, NULL, NULL, 0, false};
    }
    const char *cv[10] = {cur.id, ctx->user};
    if (fields & TD_TASK_F_RECURRENCE) {
        if (next.recurrence == NULL) {
            calls[n++] = (td_pg_call){"td_task_recurrence_delete", 2, idv, NULL, NULL, 0, false};
        } else {
            if ((st = recurrence_params(a, next.recurrence, &cv[2])) != TD_OK)
                goto out;
            calls[n++] = (td_pg_call){"td_task_recurrence_upsert", 10, cv, NULL, NULL, 0, false};
        }
    }
    size_t get_at = n;
    calls[n++] = (td_pg_call){"td_task_fetch", 2, idv, NULL, NULL, 0, false};
    st = tx_pipeline(ctx, calls, n, res, &failed);
    if (st != TD_OK) {
        if (st == TD_EINVAL && failed == 0 && (fields & TD_TASK_F_DUE))
            ctx->bad_field = "due.time_zone";
        goto out;
    }
    if (strcmp(PQcmdTuples(res[0]), "1") != 0 || PQntuples(res[get_at]) != 1) {
        st = TD_ECONFLICT; /* cannot happen under the row lock; be safe */
        goto out;
    }
    Todo__V1__Task fresh = TODO__V1__TASK__INIT;
    if ((st = td_task_from_row(res[get_at], 0, 0, a, &fresh)) != TD_OK)
        goto out;
    clear_all(res, n);
    *out = fresh;

    /* Round trip 3: change record + COMMIT. */
    char *paths[7];
    size_t npaths = 0;
    for (unsigned b = 0; b < 7; b++)
        if (fields & (1u << b))
            paths[npaths++] = (char *)field_paths[b];
    st = finish_updated(ctx, out, rev, paths, npaths);
    if (st == TD_OK)
        tx = false;
out:
    clear_all(res, MAX_CALLS);
    if (tx && td_pg_in_transaction(ctx->conn))
        rollback(ctx);
    return st;
}

/* ------------------------------------------------------------------------------------
 * delete */

td_status td_task_store_delete(td_task_ctx *ctx, const char *id, int64_t etag_rev)
{
    td_status st;
    PGresult *res[3] = {NULL, NULL, NULL};
    int64_t rev = 0, now_us = 0, deleted = 0;
    bool tx = false;
    const char *ev_rev = etag_rev >= 0 ? td_arena_printf(ctx->arena, "%" PRId64, etag_rev) : NULL;
    const char *dv[3] = {id, ctx->user, ev_rev};
    td_pg_call del = {"td_task_delete", 3, dv, NULL, NULL, 0, false};

    ctx->bad_field = NULL;
    ctx->bad_why = NULL;
    ctx->err[0] = '\0';
    st = begin_bump(ctx, &del, 1, res, &rev);
    tx = true;
    if (st != TD_OK)
        goto out;
    if (PQntuples(res[2]) != 1 || !parse_i64(PQgetvalue(res[2], 0, 0), &deleted) ||
        !parse_i64(PQgetvalue(res[2], 0, 2), &now_us)) {
        st = TD_EINTERNAL;
        set_err(ctx, "td_task_delete", "bad result");
        goto out;
    }
    if (deleted != 1) {
        st = PQgetvalue(res[2], 0, 1)[0] == 't' ? TD_ECONFLICT : TD_ENOTFOUND;
        goto out;
    }
    Todo__V1__TaskDeleted ev = TODO__V1__TASK_DELETED__INIT;
    ev.user_id = (char *)ctx->user;
    ev.revision = rev;
    ev.task_id = (char *)id;
    ev.delete_time = ts_us(ctx->arena, now_us);
    st = finish(ctx, "todo.v1.TaskDeleted", id, &ev.base, rev);
    if (st == TD_OK)
        tx = false;
out:
    clear_all(res, 3);
    if (tx && td_pg_in_transaction(ctx->conn))
        rollback(ctx);
    return st;
}

/* ------------------------------------------------------------------------------------
 * complete / reopen */

td_status td_task_store_set_completed(td_task_ctx *ctx, const char *id, bool completed,
                                      Todo__V1__Task *out)
{
    td_status st;
    PGresult *res[2] = {NULL, NULL};
    PGresult *r = NULL;
    bool tx = false;
    const char *v[3] = {id, ctx->user, completed ? "t" : "f"};
    td_pg_call calls[2] = {
        {"td_task_begin", 0, NULL, NULL, NULL, 0, false},
        {"td_task_set_completed", 3, v, NULL, NULL, 0, false},
    };

    ctx->bad_field = NULL;
    ctx->bad_why = NULL;
    ctx->err[0] = '\0';
    st = td_pg_pipeline(ctx->conn, calls, 2, res, NULL, ctx->err, sizeof(ctx->err));
    tx = true;
    if (st != TD_OK)
        goto out;
    if (PQntuples(res[1]) == 0) {
        /* Already in that state (or not found): no revision, no change record. */
        clear_all(res, 2);
        rollback(ctx);
        tx = false;
        r = td_pg_exec(ctx->conn, "td_task_fetch", 2, v, NULL, NULL, 0, &st, ctx->err,
                       sizeof(ctx->err));
        if (r == NULL)
            goto out;
        st = PQntuples(r) == 1 ? td_task_from_row(r, 0, 0, ctx->arena, out) : TD_ENOTFOUND;
        goto out;
    }
    if ((st = td_task_from_row(res[1], 0, 0, ctx->arena, out)) != TD_OK)
        goto out;
    clear_all(res, 2);
    if (completed) {
        Todo__V1__TaskCompleted ev = TODO__V1__TASK_COMPLETED__INIT;
        ev.user_id = (char *)ctx->user;
        ev.revision = out->revision;
        ev.task = out;
        st = finish(ctx, "todo.v1.TaskCompleted", out->id, &ev.base, out->revision);
    } else {
        static char *reopen_paths[] = {(char *)"completed"};
        st = finish_updated(ctx, out, out->revision, reopen_paths, 1);
    }
    if (st == TD_OK)
        tx = false;
out:
    PQclear(r);
    clear_all(res, 2);
    if (tx && td_pg_in_transaction(ctx->conn))
        rollback(ctx);
    return st;
}
