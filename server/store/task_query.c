/* task_query.c - ListTasks SQL from constant fragments + "$n" parameters (see
 * task_query.h for the query shape and the semantic decisions).
 *
 * Invariant: no byte of the request is ever copied into SQL text. The builder appends
 * only string literals of this file and parameter numbers; request values are stored
 * in out->values[] (text format). WHERE parameters come first, so the count query,
 * which has no keyset or LIMIT, can reuse the same values[] prefix.
 * Pure; the arena owns everything returned. */
#include "task_query.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- a tiny string builder in the arena ---- */

typedef struct sbuf {
    td_arena *a;
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_add(sbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap : 1024);
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = td_arena_alloc(b->a, cap);
        if (np == NULL) {
            b->oom = true;
            return;
        }
        if (b->len > 0)
            memcpy(np, b->p, b->len);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

static void sb_param(sbuf *b, int n)
{
    char num[16];
    snprintf(num, sizeof(num), "$%d", n);
    sb_add(b, num);
}

/* ---- helpers ---- */

bool td_task_query_search_effective(const char *search)
{
    for (const unsigned char *p = (const unsigned char *)search; p != NULL && *p; p++)
        if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            *p >= 0x80)
            return true;
    return false;
}

int td_task_query_timestamp_text(int64_t seconds, int32_t nanos, char *buf, size_t cap)
{
    /* 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z (google.protobuf.Timestamp range) */
    const int64_t min_s = -62135596800LL, max_s = 253402300799LL;
    struct tm tm;
    time_t tt;
    if (seconds < min_s || seconds > max_s || nanos < 0 || nanos > 999999999 || cap < 40)
        return -1;
    tt = (time_t)seconds;
    if (gmtime_r(&tt, &tm) == NULL)
        return -1;
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(nanos / 1000));
    return 0;
}

char *td_task_query_text_array(char *const *items, size_t n, td_arena *a)
{
    size_t need = 3;
    char *out, *w;
    for (size_t i = 0; i < n; i++)
        need += 2 * strlen(items[i]) + 3;
    out = td_arena_alloc(a, need);
    if (out == NULL)
        return NULL;
    w = out;
    *w++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            *w++ = ',';
        *w++ = '"';
        for (const char *s = items[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                *w++ = '\\';
            *w++ = *s;
        }
        *w++ = '"';
    }
    *w++ = '}';
    *w = '\0';
    return out;
}

/* ---- validation ---- */

typedef struct build {
    const td_task_query_in *in;
    td_arena *a;
    td_task_query *q;
    const char **bad_field, **bad_desc;
    sbuf where;
} build;

static td_status bad(build *b, const char *field, const char *desc)
{
    *b->bad_field = field;
    *b->bad_desc = desc;
    return TD_EINVAL;
}

static int add_value(build *b, const char *v)
{
    b->q->values[b->q->nparams] = v;
    return ++b->q->nparams;
}

static td_status add_time(build *b, const Google__Protobuf__Timestamp *ts, const char *field,
                          const char *pre, const char *post)
{
    char tmp[48];
    char *v;
    if (ts == NULL)
        return TD_OK;
    if (td_task_query_timestamp_text(ts->seconds, ts->nanos, tmp, sizeof(tmp)) != 0)
        return bad(b, field, "timestamp out of range");
    if ((v = td_arena_strdup(b->a, tmp)) == NULL)
        return TD_ENOMEM;
    sb_add(&b->where, pre);
    sb_param(&b->where, add_value(b, v));
    sb_add(&b->where, post);
    return TD_OK;
}

static td_status add_tags(build *b, char *const *tags, size_t n, const char *field,
                          const char *op)
{
    char *lit;
    if (n == 0)
        return TD_OK;
    if (n > TD_TASK_QUERY_MAX_TAGS)
        return bad(b, field, "too many tags (at most 64)");
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(tags[i]);
        if (len == 0 || len > 200)
            return bad(b, field, "tag names must be 1..50 characters");
    }
    if ((lit = td_task_query_text_array(tags, n, b->a)) == NULL)
        return TD_ENOMEM;
    /* The user-scoped keys ("user|tag", GIN of 0004) make the index lookup touch only
     * this user's entries; the plain tag_keys test repeats it cheaply, so a plan that
     * filters rows of an ordered btree scan rejects them without calling the SQL
     * function (PostgreSQL evaluates the cheaper qual first). */
    int p = add_value(b, lit);
    sb_add(&b->where, " AND t.tag_keys ");
    sb_add(&b->where, op);
    sb_add(&b->where, " td_lower_array(");
    sb_param(&b->where, p);
    sb_add(&b->where, "::text[]) AND td_user_keys(t.user_id, t.tag_keys) ");
    sb_add(&b->where, op);
    sb_add(&b->where, " td_user_keys($1, td_lower_array(");
    sb_param(&b->where, p);
    sb_add(&b->where, "::text[]))");
    return TD_OK;
}

static td_status add_priorities(build *b, const Todo__V1__ListTasksRequest *r)
{
    bool seen[5] = {false};
    char lit[16];
    size_t o = 0;
    char *v;
    if (r->n_priorities == 0)
        return TD_OK;
    for (size_t i = 0; i < r->n_priorities; i++) {
        int p = (int)r->priorities[i];
        if (p < TODO__V1__PRIORITY__PRIORITY_LOW || p > TODO__V1__PRIORITY__PRIORITY_URGENT)
            return bad(b, "priorities", "must be LOW, MEDIUM, HIGH or URGENT");
        seen[p] = true;
    }
    lit[o++] = '{';
    for (int p = 1; p <= 4; p++)
        if (seen[p]) {
            if (o > 1)
                lit[o++] = ',';
            lit[o++] = (char)('0' + p);
        }
    lit[o++] = '}';
    lit[o] = '\0';
    if ((v = td_arena_strdup(b->a, lit)) == NULL)
        return TD_ENOMEM;
    sb_add(&b->where, " AND t.priority = ANY(");
    sb_param(&b->where, add_value(b, v));
    sb_add(&b->where, "::smallint[])");
    return TD_OK;
}

/* ---- the query ---- */

typedef struct order_info {
    const char *expr; /* key over alias t; RELEVANCE appends the search parameter */
    const char *cast; /* type of the key parameter */
} order_info;

static const order_info ORDERS[] = {
    [TD_TASK_ORDER_DUE] = {"t.due_sort", "timestamptz"},
    [TD_TASK_ORDER_PRIORITY] = {"t.priority", "smallint"},
    [TD_TASK_ORDER_CREATED] = {"t.created_at", "timestamptz"},
    [TD_TASK_ORDER_UPDATED] = {"t.updated_at", "timestamptz"},
    [TD_TASK_ORDER_TITLE] = {"lower(t.title)", "text"},
    [TD_TASK_ORDER_RELEVANCE] = {"ts_rank(t.search, td_search_query(", "real"},
};

static void add_key(sbuf *s, td_task_order order, int search_param)
{
    sb_add(s, ORDERS[order].expr);
    if (order == TD_TASK_ORDER_RELEVANCE) {
        sb_param(s, search_param);
        sb_add(s, "))");
    }
}

td_status td_task_query_build(const td_task_query_in *in, td_arena *a, td_task_query *out,
                              const char **bad_field, const char **bad_desc)
{
    const Todo__V1__ListTasksRequest *r = in->req;
    build b = {.in = in, .a = a, .q = out, .bad_field = bad_field, .bad_desc = bad_desc,
               .where = {.a = a}};
    sbuf sql = {.a = a};
    td_status st = TD_OK;
    int search_param = 0;
    const char *dir;
    char lim[16];
    char *limv;
    bool searching;

    memset(out, 0, sizeof(*out));
    *bad_field = NULL;
    *bad_desc = NULL;
    searching = td_task_query_search_effective(r->search);
    if (r->search != NULL && strlen(r->search) > TD_TASK_QUERY_MAX_SEARCH) {
        st = bad(&b, "search", "too long (at most 256 bytes)");
        goto out;
    }

    /* Order first: it decides nothing about the WHERE clause but is validated early. */
    switch (r->order_by) {
    case TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_UNSPECIFIED:
        out->order = searching ? TD_TASK_ORDER_RELEVANCE : TD_TASK_ORDER_CREATED;
        break;
    case TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_DUE: out->order = TD_TASK_ORDER_DUE; break;
    case TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_PRIORITY: out->order = TD_TASK_ORDER_PRIORITY; break;
    case TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_CREATED: out->order = TD_TASK_ORDER_CREATED; break;
    case TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_UPDATED: out->order = TD_TASK_ORDER_UPDATED; break;
    case TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_TITLE: out->order = TD_TASK_ORDER_TITLE; break;
    case TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_RELEVANCE:
        if (!searching) {
            st = bad(&b, "order_by", "RELEVANCE requires a search");
            goto out;
        }
        out->order = TD_TASK_ORDER_RELEVANCE;
        break;
    default:
        st = bad(&b, "order_by", "unknown sort order");
        goto out;
    }
    /* Best rank first when ascending: the SQL direction is inverted for RELEVANCE. */
    out->descending = out->order == TD_TASK_ORDER_RELEVANCE ? !r->descending : r->descending;
    dir = out->descending ? " DESC" : "";

    /* WHERE: user, then filters in a fixed order. */
    sb_add(&b.where, "t.user_id = ");
    sb_param(&b.where, add_value(&b, in->user));
    switch (r->completion) {
    case TODO__V1__COMPLETION_FILTER__COMPLETION_FILTER_UNSPECIFIED:
    case TODO__V1__COMPLETION_FILTER__COMPLETION_FILTER_ANY:
        break;
    case TODO__V1__COMPLETION_FILTER__COMPLETION_FILTER_OPEN:
        sb_add(&b.where, " AND t.completed_at IS NULL");
        break;
    case TODO__V1__COMPLETION_FILTER__COMPLETION_FILTER_COMPLETED:
        sb_add(&b.where, " AND t.completed_at IS NOT NULL");
        break;
    default:
        st = bad(&b, "completion", "unknown completion filter");
        goto out;
    }
    if ((st = add_priorities(&b, r)) != TD_OK ||
        (st = add_tags(&b, r->tags_any, r->n_tags_any, "tags_any", "&&")) != TD_OK ||
        (st = add_tags(&b, r->tags_all, r->n_tags_all, "tags_all", "@>")) != TD_OK ||
        (st = add_time(&b, r->due_after, "due_after", " AND t.due_sort >= ",
                       "::timestamptz AND t.due_sort < 'infinity'")) != TD_OK ||
        (st = add_time(&b, r->due_before, "due_before", " AND t.due_sort < ",
                       "::timestamptz")) != TD_OK)
        goto out;
    if (r->overdue_only) /* due_sort <= overdue_at: the extra bound lets a due-ordered
                          * range scan stop at now() */
        sb_add(&b.where, " AND t.completed_at IS NULL AND t.overdue_at <= now()"
                         " AND t.due_sort <= now()");
    if (r->no_due_date)
        sb_add(&b.where, " AND t.due_sort = 'infinity'");
    if (r->recurring_only) /* rr.user_id lets the planner start from the user's rules
                            * (recurrence_rules_user_idx) when they are few */
        sb_add(&b.where, " AND EXISTS (SELECT 1 FROM recurrence_rules rr"
                         " WHERE rr.task_id = t.id AND rr.user_id = t.user_id)");
    if ((st = add_time(&b, r->create_after, "create_after", " AND t.created_at >= ",
                       "::timestamptz")) != TD_OK ||
        (st = add_time(&b, r->create_before, "create_before", " AND t.created_at < ",
                       "::timestamptz")) != TD_OK ||
        (st = add_time(&b, r->update_after, "update_after", " AND t.updated_at >= ",
                       "::timestamptz")) != TD_OK ||
        (st = add_time(&b, r->update_before, "update_before", " AND t.updated_at < ",
                       "::timestamptz")) != TD_OK)
        goto out;
    if (searching) {
        search_param = add_value(&b, r->search);
        /* Same idea for words: "user|lexeme" prefixes (0004), exact given the user. */
        sb_add(&b.where, " AND t.search @@ td_search_query(");
        sb_param(&b.where, search_param);
        sb_add(&b.where, ") AND td_user_lexemes(t.user_id, t.search) @@ td_user_search_query($1, ");
        sb_param(&b.where, search_param);
        sb_add(&b.where, ")");
    }
    out->count_nparams = out->nparams;

    if (in->with_count) {
        sbuf cnt = {.a = a};
        sb_add(&cnt, "SELECT count(*) FROM tasks t WHERE ");
        sb_add(&cnt, b.where.oom ? "" : b.where.p);
        if (cnt.oom || b.where.oom) {
            st = TD_ENOMEM;
            goto out;
        }
        out->count_sql = cnt.p;
    }

    /* Keyset: strictly after the last row of the previous page, in SQL direction. */
    if (in->after_key != NULL) {
        sb_add(&b.where, " AND (");
        add_key(&b.where, out->order, search_param);
        sb_add(&b.where, ", t.id) ");
        sb_add(&b.where, out->descending ? "<" : ">");
        sb_add(&b.where, " (");
        sb_param(&b.where, add_value(&b, in->after_key));
        sb_add(&b.where, "::");
        sb_add(&b.where, ORDERS[out->order].cast);
        sb_add(&b.where, ", ");
        sb_param(&b.where, add_value(&b, in->after_id));
        sb_add(&b.where, "::uuid)");
    }

    snprintf(lim, sizeof(lim), "%d", in->page_size + 1);
    if ((limv = td_arena_strdup(a, lim)) == NULL) {
        st = TD_ENOMEM;
        goto out;
    }
    sb_add(&sql, "SELECT ");
    sb_add(&sql, in->columns);
    sb_add(&sql, ", t.k::text FROM (SELECT t.*, ");
    add_key(&sql, out->order, search_param);
    sb_add(&sql, " AS k FROM tasks t WHERE ");
    sb_add(&sql, b.where.oom ? "" : b.where.p);
    sb_add(&sql, " ORDER BY ");
    add_key(&sql, out->order, search_param);
    sb_add(&sql, dir);
    sb_add(&sql, ", t.id");
    sb_add(&sql, dir);
    sb_add(&sql, " LIMIT ");
    sb_param(&sql, add_value(&b, limv));
    sb_add(&sql, ") t ORDER BY t.k");
    sb_add(&sql, dir);
    sb_add(&sql, ", t.id");
    sb_add(&sql, dir);
    if (sql.oom || b.where.oom) {
        st = TD_ENOMEM;
        goto out;
    }
    out->sql = sql.p;
    out->key_col = in->ncolumns;
out:
    return st;
}
