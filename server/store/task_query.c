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

/* Rows a PROBE page walks in sort order before it falls back to the GIN (see
 * td_task_query_plan). About sqrt(page * big user's tasks): with f the share of the walked
 * rows that match, the walk costs min(PROBE, page / f) rows and the fallback at most
 * page * tasks / PROBE matches, so neither side exceeds ~2 * sqrt(51 * 1M) ~ 14k rows.
 * A covered walk (covered_walk) reads only the index, about 1/4 of a heap row's cost,
 * so it goes 4x as far for the same time. */
#define TD__TASK_QUERY_PROBE_ROWS_TEXT         "4000"
#define TD__TASK_QUERY_COVERED_PROBE_ROWS_TEXT "16000"

/* The GIN's expression (0010): a task's user-scoped keys. Each tag, search or week
 * filter is its own "TD__TASK_KEYS @@ <tsquery>" condition, so the one index scan takes
 * each as a scan key and skips through the posting lists of the others (measured: one
 * tsquery AND-ing them, 250 pages/s; separate keys, 857). */
#define TD__TASK_KEYS "td_task_keys(t.user_id, t.search, t.tag_keys, t.created_at, t.updated_at)"

/* A created/updated range spanning at most this many weeks becomes the OR of its weeks'
 * GIN keys (a 30-day range of a one-year account: 8% of its tasks); a longer one is
 * tested on the rows only. */
#define TD__TASK_QUERY_MAX_RANGE_WEEKS 13

/* google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z. */
#define TD__TASK_QUERY_MIN_SECONDS (-62135596800LL)
#define TD__TASK_QUERY_MAX_SECONDS 253402300799LL

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

/* A tag/search condition "<pre><fn>", fn being a function of the parameters only: bare,
 * for custom plans (the planner folds fn to a constant and estimates with it), and, when
 * initplan is not NULL, with fn as an InitPlan, "(SELECT fn)", for statements the server
 * prepares once and runs with generic plans, where a bare fn would run once per row. */
static void sb_cond(sbuf *bare, sbuf *initplan, const char *pre, const char *fn)
{
    sb_add(bare, pre);
    sb_add(bare, fn);
    if (initplan == NULL)
        return;
    sb_add(initplan, pre);
    sb_add(initplan, "(SELECT ");
    sb_add(initplan, fn);
    sb_add(initplan, ")");
}

static bool word_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

bool td_task_query_search_effective(const char *search)
{
    for (const unsigned char *p = (const unsigned char *)search; p != NULL && *p; p++)
        if (word_byte(*p))
            return true;
    return false;
}

/* A word of one or two characters is a prefix of a large share of any user's words, so
 * the search matches many rows (a plan hint only; the rows do not depend on it). */
static bool search_has_short_word(const char *search)
{
    size_t run = 0;
    for (const unsigned char *p = (const unsigned char *)search;; p++) {
        if (*p != '\0' && word_byte(*p)) {
            run++;
            continue;
        }
        if (run > 0 && run <= 2)
            return true;
        run = 0;
        if (*p == '\0')
            return false;
    }
}

int td_task_query_timestamp_text(int64_t seconds, int32_t nanos, char *buf, size_t cap)
{
    struct tm tm;
    time_t tt;
    if (seconds < TD__TASK_QUERY_MIN_SECONDS || seconds > TD__TASK_QUERY_MAX_SECONDS || nanos < 0 ||
        nanos > 999999999 || cap < 40)
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
    sbuf where;      /* user + filters a btree walk can test on each row */
    size_t user_len; /* where's leading "t.user_id = $1" */
    /* Tag/search tests (sb_cond). On the row's own columns (exact given the user): only
     * custom-planned statements test them (PROBE). On the user-prefixed GIN keys (0010),
     * index conditions: bare for the PROBE fallback, InitPlan ("_ip") for GIN pages. */
    sbuf plain;
    sbuf index, index_ip;
    /* A RELEVANCE PROBE page: the tier it walks (TIER_TEXT), else NULL. */
    const char *probe_tier;
} build;

/* Any of the filter buffers ran out of memory. */
static bool filters_oom(const build *b)
{
    return b->where.oom || b->plain.oom || b->index.oom || b->index_ip.oom;
}

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

/* A timestamp filter "<pre>$n<post>"; *param (when not NULL) gets n, or 0 without ts. */
static td_status add_time(build *b, const Google__Protobuf__Timestamp *ts, const char *field,
                          const char *pre, const char *post, int *param)
{
    char tmp[48];
    char *v;
    int n;
    if (param != NULL)
        *param = 0;
    if (ts == NULL)
        return TD_OK;
    if (td_task_query_timestamp_text(ts->seconds, ts->nanos, tmp, sizeof(tmp)) != 0)
        return bad(b, field, "timestamp out of range");
    if ((v = td_arena_strdup(b->a, tmp)) == NULL)
        return TD_ENOMEM;
    n = add_value(b, v);
    sb_add(&b->where, pre);
    sb_param(&b->where, n);
    sb_add(&b->where, post);
    if (param != NULL)
        *param = n;
    return TD_OK;
}

/* The range [lo, hi) spans few enough weeks for week keys (TD__TASK_QUERY_MAX_RANGE_WEEKS);
 * no hi: up to now (the caller's clock, now_seconds; 0 = unknown: no week keys). Runs
 * before the bounds are validated: seconds outside years 1-9999 (which add_time refuses)
 * give false, so the difference cannot overflow. */
static bool range_weeks(const Google__Protobuf__Timestamp *lo,
                        const Google__Protobuf__Timestamp *hi, int64_t now_seconds)
{
    int64_t end = hi != NULL ? hi->seconds : now_seconds;
    if (lo == NULL || (hi == NULL && now_seconds == 0) ||
        lo->seconds < TD__TASK_QUERY_MIN_SECONDS || lo->seconds > TD__TASK_QUERY_MAX_SECONDS ||
        end < TD__TASK_QUERY_MIN_SECONDS || end > TD__TASK_QUERY_MAX_SECONDS)
        return false;
    return end - lo->seconds <= (int64_t)TD__TASK_QUERY_MAX_RANGE_WEEKS * 7 * 86400;
}

/* The GIN condition of a created ('c') or updated ('u') range whose bounds are the
 * parameters lo and hi (0: none, i.e. now; td_user_weeks_query of 0010). */
static void add_range_weeks(build *b, char kind, int lo, int hi)
{
    char fn[96];
    if (hi > 0)
        snprintf(fn, sizeof(fn),
                 "td_user_weeks_query($1, '%c', $%d::timestamptz, $%d::timestamptz)", kind, lo, hi);
    else
        snprintf(fn, sizeof(fn), "td_user_weeks_query($1, '%c', $%d::timestamptz, NULL)", kind, lo);
    sb_cond(&b->index, &b->index_ip, " AND " TD__TASK_KEYS " @@ ", fn);
}

static td_status add_tags(build *b, char *const *tags, size_t n, const char *field, const char *op)
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
    /* The user-scoped keys ("user|#tag", GIN of 0010) make the index lookup touch only
     * this user's entries; the plain tag_keys test is what rows are checked with (cheap,
     * no SQL function call per row). */
    int p = add_value(b, lit);
    bool all = op[0] == '@';
    char pre[128], fn[112];
    snprintf(pre, sizeof(pre), " AND t.tag_keys %s ", op);
    snprintf(fn, sizeof(fn), "td_lower_array($%d::text[])", p);
    sb_cond(&b->plain, NULL, pre, fn);
    /* Any of: one key (an OR). All of: a key per tag, so that the scan skips (measured,
     * two tags never together on the 1M-task user: one "a & b" key 2.3 ms, two keys
     * 0.06 ms). */
    for (size_t i = 1; i <= (all ? n : 1); i++) {
        snprintf(pre, sizeof(pre), "%s" TD__TASK_KEYS " @@ ", b->index.len > 0 ? " AND " : "");
        if (all)
            snprintf(fn, sizeof(fn),
                     "td_user_tags_query($1, (td_lower_array($%d::text[]))[%zu:%zu], '&')", p, i,
                     i);
        else
            snprintf(fn, sizeof(fn), "td_user_tags_query($1, td_lower_array($%d::text[]), '|')", p);
        sb_cond(&b->index, &b->index_ip, pre, fn);
    }
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
    const char *expr; /* key over alias t (RELEVANCE: see add_key) */
    const char *cast; /* type of the key parameter */
    /* RELEVANCE: a tier holds many tasks, so the most recently updated comes first among
     * equals, then the id. The page token's key is then "tier|updated_at" (split_part in
     * the keyset). */
    const char *tie;
} order_info;

static const order_info ORDERS[] = {
    [TD_TASK_ORDER_DUE] = {"t.due_sort", "timestamptz", NULL},
    [TD_TASK_ORDER_PRIORITY] = {"t.priority", "smallint", NULL},
    [TD_TASK_ORDER_CREATED] = {"t.created_at", "timestamptz", NULL},
    [TD_TASK_ORDER_UPDATED] = {"t.updated_at", "timestamptz", NULL},
    [TD_TASK_ORDER_TITLE] = {"lower(t.title)", "text", NULL},
    [TD_TASK_ORDER_RELEVANCE] = {NULL, "int", "t.updated_at"},
};

/* The RELEVANCE tiers (task_query.h), as tsquery weights of tasks.search (0001: title A,
 * description B, tag names C) that every search word must match within. */
static const char *const TIER_WEIGHTS[] = {"'A'", "'AC'"};
static const char *const TIER_TEXT[] = {"2", "1", "0"}; /* tier of TIER_WEIGHTS[i]; else */

/* The sort key. RELEVANCE: "CASE WHEN t.search @@ td_search_query($s, 'A') THEN 2 WHEN
 * ... 'AC' THEN 1 ELSE 0 END", each query an InitPlan when the page is prepared. */
static void add_key(sbuf *s, const td_task_query *q, int search_param)
{
    if (q->order != TD_TASK_ORDER_RELEVANCE) {
        sb_add(s, ORDERS[q->order].expr);
        return;
    }
    sb_add(s, "CASE");
    for (size_t i = 0; i < sizeof(TIER_WEIGHTS) / sizeof(TIER_WEIGHTS[0]); i++) {
        sb_add(s, q->prepare ? " WHEN t.search @@ (SELECT td_search_query("
                             : " WHEN t.search @@ td_search_query(");
        sb_param(s, search_param);
        sb_add(s, ", ");
        sb_add(s, TIER_WEIGHTS[i]);
        sb_add(s, q->prepare ? ")) THEN " : ") THEN ");
        sb_add(s, TIER_TEXT[i]);
    }
    sb_add(s, " ELSE ");
    sb_add(s, TIER_TEXT[sizeof(TIER_WEIGHTS) / sizeof(TIER_WEIGHTS[0])]);
    sb_add(s, " END");
}

static const char *sb_str(const sbuf *s)
{
    return s->p != NULL && !s->oom ? s->p : "";
}

/* "tasks t WHERE <filters>" of a WALK or GIN query (GIN keys as InitPlans when the
 * statement is prepared, sb_cond). GIN: the user-prefixed GIN conditions, which are exact
 * given the user (so the row-level tag/search tests are not repeated), and the user test
 * written as (t.user_id || '') = $1: no btree can serve that expression, so the planner
 * cannot AND the GIN bitmap with a (user_id, ...) btree bitmap, which it otherwise does
 * because it takes the user-prefixed keys and user_id for independent (10,000 extra TIDs
 * for a 10k-task user, 1,000,000 for a big one). An expression rather than an OFFSET 0
 * subquery: no projection of whole rows in between (measured: ranked search for "b" on
 * the 10k-task user, 8 clients, +18% pages/s). */
static void add_from_where(sbuf *s, const build *b)
{
    const char *where = sb_str(&b->where);
    sb_add(s, "tasks t WHERE ");
    if (b->index.len == 0) {
        sb_add(s, where);
        return;
    }
    sb_add(s, sb_str(b->q->prepare ? &b->index_ip : &b->index));
    sb_add(s, " AND (t.user_id || '') = $1");
    sb_add(s, where + (b->where.oom ? 0 : b->user_len)); /* the filters after the user test */
}

/* " ORDER BY <key> dir[, <tie> dir], t.id dir"; alias "k" orders the outer query by its k
 * column. */
static void add_order(sbuf *s, const td_task_query *q, int search_param, const char *alias)
{
    const char *dir = q->descending ? " DESC" : "";
    sb_add(s, " ORDER BY ");
    if (alias[0] != '\0')
        sb_add(s, "t.k");
    else
        add_key(s, q, search_param);
    sb_add(s, dir);
    if (ORDERS[q->order].tie != NULL) {
        sb_add(s, ", ");
        sb_add(s, ORDERS[q->order].tie);
        sb_add(s, dir);
    }
    sb_add(s, ", t.id");
    sb_add(s, dir);
}

/* The key column of a result row (key_col), as the page token stores it. */
static void add_key_text(sbuf *s, const td_task_query *q)
{
    sb_add(s, ", t.k::text");
    if (ORDERS[q->order].tie != NULL) {
        sb_add(s, " || '|' || ");
        sb_add(s, ORDERS[q->order].tie);
        sb_add(s, "::text");
    }
}

/* The tier a RELEVANCE PROBE page walks (task_query.h): the first in SQL order on the
 * first page, else the tier of the previous page's last row, which the page token's key
 * "tier|updated_at" starts with. NULL (no PROBE: the GIN plan) for any other key. */
static const char *relevance_tier(const char *after_key, bool descending)
{
    size_t n = sizeof(TIER_TEXT) / sizeof(TIER_TEXT[0]);
    if (after_key == NULL)
        return TIER_TEXT[descending ? 0 : n - 1];
    for (size_t i = 0; i < n; i++)
        if (after_key[0] == TIER_TEXT[i][0] && after_key[1] == '|')
            return TIER_TEXT[i];
    return NULL;
}

/* The walk reads nothing but the open-due index (0009: keys user_id, due_sort, id;
 * INCLUDE priority, tag_keys; open tasks): open tasks by due, filtered by priorities,
 * tags and due ranges only. */
static bool covered_walk(const build *b)
{
    const Todo__V1__ListTasksRequest *r = b->in->req;
    return b->q->order == TD_TASK_ORDER_DUE &&
           r->completion == TODO__V1__COMPLETION_FILTER__COMPLETION_FILTER_OPEN &&
           !td_task_query_search_effective(r->search) && !r->overdue_only && !r->recurring_only &&
           r->create_after == NULL && r->create_before == NULL && r->update_after == NULL &&
           r->update_before == NULL;
}

/* The two statements of a PROBE page (see task_query.h).
 * sql: a's subquery w walks the user's first PROBE_ROWS rows in page order (within the
 * completion filter, which a partial index serves), each marked with whether it passes
 * every other filter; a reads it lazily and stops as soon as it holds a page of hits. w
 * is a subquery, not a CTE: nothing is stored per walked row (measured, the 1M-task
 * user's open/tag/URGENT page at 8 clients in pgbench: 515 -> 780 pages/s). d.gin: the
 * walk neither filled a page nor ran out of rows, so the matches are rarer than 1 in
 * PROBE_ROWS / limit; only when a is short, PostgreSQL counts the walk's rows again
 * (index-only where the index holds the walk's filter). The result is the hits joined
 * back whole, each row carrying d.gin in its last column; one NULL row when there are
 * none or d.gin is true. Never prepared (td_task_query.prepare). fallback_sql, run when
 * d.gin is true: the page with every condition visible to the planner (GIN keys AND-ed
 * with a priority or range btree when that narrows a big user's bitmap). */
static td_status add_probe(build *b, sbuf *sql, const sbuf *keyset, const sbuf *walk_keyset,
                           size_t walk_len, int search_param, int limit_param)
{
    const td_task_query *q = b->q;
    const char *dir = q->descending ? " DESC" : "";
    const char *probe_rows =
        covered_walk(b) ? TD__TASK_QUERY_COVERED_PROBE_ROWS_TEXT : TD__TASK_QUERY_PROBE_ROWS_TEXT;
    sbuf fb = {.a = b->a};
    char *walk_where = b->where.oom ? NULL : td_arena_alloc(b->a, walk_len + 1);
    if (walk_where == NULL)
        return TD_ENOMEM;
    memcpy(walk_where, sb_str(&b->where), walk_len);
    walk_where[walk_len] = '\0';

    sb_add(sql, "WITH a AS MATERIALIZED (SELECT w.id, w.k FROM (SELECT t.id, ");
    if (b->probe_tier == NULL)
        add_key(sql, q, search_param);
    else /* every hit is of the tier, whose test runs last: only on rows that match */
        sb_add(sql, b->probe_tier);
    sb_add(sql, " AS k, (true");
    sb_add(sql, sb_str(&b->where) + walk_len);
    sb_add(sql, sb_str(&b->plain));
    if (b->probe_tier != NULL) {
        sb_add(sql, " AND ");
        add_key(sql, q, search_param);
        sb_add(sql, " = ");
        sb_add(sql, b->probe_tier);
    }
    sb_add(sql, ") AS hit FROM tasks t WHERE ");
    sb_add(sql, walk_where);
    sb_add(sql, sb_str(walk_keyset));
    if (b->probe_tier == NULL) {
        add_order(sql, q, search_param, "");
    } else { /* one tier, by its tie-breakers */
        sb_add(sql, " ORDER BY ");
        sb_add(sql, ORDERS[q->order].tie);
        sb_add(sql, dir);
        sb_add(sql, ", t.id");
        sb_add(sql, dir);
    }
    sb_add(sql, " LIMIT ");
    sb_add(sql, probe_rows);
    sb_add(sql, ") w WHERE w.hit LIMIT ");
    sb_param(sql, limit_param);
    sb_add(sql, "), d AS MATERIALIZED (SELECT CASE WHEN (SELECT count(*) FROM a) >= ");
    sb_param(sql, limit_param);
    /* Too few hits: the matches are rare, or (RELEVANCE) the tier ended and the page
     * goes on in the next one, whose rows the walk did not look for. */
    sb_add(sql, "::int8 THEN false ELSE ");
    if (b->probe_tier != NULL) {
        sb_add(sql, "true");
    } else { /* the walk again, uncapped by hits: did it run out of rows? */
        sb_add(sql, "(SELECT count(*) FROM (SELECT FROM tasks t WHERE ");
        sb_add(sql, walk_where);
        sb_add(sql, sb_str(walk_keyset));
        sb_add(sql, " LIMIT ");
        sb_add(sql, probe_rows);
        sb_add(sql, ") w) >= ");
        sb_add(sql, probe_rows);
    }
    sb_add(sql, " END AS gin) SELECT ");
    sb_add(sql, b->in->columns);
    add_key_text(sql, q);
    sb_add(sql, ", d.gin FROM d LEFT JOIN "
                "(SELECT t.*, a.k FROM a JOIN tasks t ON t.id = a.id) t ON NOT d.gin");
    add_order(sql, q, search_param, "k");

    sb_add(&fb, "SELECT ");
    sb_add(&fb, b->in->columns);
    add_key_text(&fb, q);
    sb_add(&fb, " FROM (SELECT t.*, ");
    add_key(&fb, q, search_param);
    sb_add(&fb, " AS k FROM tasks t WHERE ");
    sb_add(&fb, sb_str(&b->where));
    sb_add(&fb, sb_str(&b->plain));
    sb_add(&fb, " AND ");
    sb_add(&fb, sb_str(&b->index));
    sb_add(&fb, sb_str(keyset));
    add_order(&fb, q, search_param, "");
    sb_add(&fb, " LIMIT ");
    sb_param(&fb, limit_param);
    sb_add(&fb, ") t");
    add_order(&fb, q, search_param, "k");
    if (sql->oom || fb.oom || keyset->oom || walk_keyset->oom || filters_oom(b))
        return TD_ENOMEM;
    b->q->sql = sql->p;
    b->q->fallback_sql = fb.p;
    b->q->key_col = b->in->ncolumns;
    return TD_OK;
}

td_status td_task_query_build(const td_task_query_in *in, td_arena *a, td_task_query *out,
                              const char **bad_field, const char **bad_desc)
{
    const Todo__V1__ListTasksRequest *r = in->req;
    build b = {.in = in,
               .a = a,
               .q = out,
               .bad_field = bad_field,
               .bad_desc = bad_desc,
               .where = {.a = a},
               .plain = {.a = a},
               .index = {.a = a},
               .index_ip = {.a = a}};
    sbuf sql = {.a = a}, keyset = {.a = a}, walk_keyset = {.a = a};
    td_status st = TD_OK;
    int search_param = 0;
    char lim[16];
    char *limv;
    int limit_param;
    int created_lo, created_hi, updated_lo, updated_hi;
    size_t walk_len;
    bool searching, indexed, many, created_weeks, updated_weeks, probe;

    memset(out, 0, sizeof(*out));
    *bad_field = NULL;
    *bad_desc = NULL;
    searching = td_task_query_search_effective(r->search);
    out->matches_nothing =
        !searching && r->search != NULL && r->search[strspn(r->search, " \t\r\n")] != '\0';
    if (r->search != NULL && strlen(r->search) > TD_TASK_QUERY_MAX_SEARCH) {
        st = bad(&b, "search", "too long (at most 256 bytes)");
        goto out;
    }

    /* Order first: it decides nothing about the WHERE clause but is validated early. */
    switch (r->order_by) {
    case TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_UNSPECIFIED:
        out->order = searching ? TD_TASK_ORDER_RELEVANCE : TD_TASK_ORDER_CREATED;
        break;
    case TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_DUE:
        out->order = TD_TASK_ORDER_DUE;
        break;
    case TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_PRIORITY:
        out->order = TD_TASK_ORDER_PRIORITY;
        break;
    case TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_CREATED:
        out->order = TD_TASK_ORDER_CREATED;
        break;
    case TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_UPDATED:
        out->order = TD_TASK_ORDER_UPDATED;
        break;
    case TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_TITLE:
        out->order = TD_TASK_ORDER_TITLE;
        break;
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

    /* The plan (see task_query.h): PROBE when many matches are expected, for a big user or
     * a search word of one or two letters (measured: ranked "b" of the 10k-task user, 8
     * clients, p99 24.9 -> 10.6 ms). All-of two or more tags: the GIN intersects posting
     * lists, which leaves few rows unless the tags nearly always go together; a probe
     * would walk 4000 rows for nothing (measured: 0-match pair on the 1M-task user 15-19
     * ms vs 7 ms). A created/updated range of a few weeks: its week keys join the GIN's
     * intersection, and a walk in another order would find few rows in the range
     * (measured with the keys of 0010, the 1M-task user's search + 3 tags + 30-day
     * created range by due, 8 clients: p99 176 -> 15.4 ms). */
    indexed = r->n_tags_any > 0 || r->n_tags_all > 0 || searching;
    many = in->big_user || (searching && search_has_short_word(r->search));
    created_weeks = indexed && range_weeks(r->create_after, r->create_before, in->now_seconds);
    updated_weeks = indexed && range_weeks(r->update_after, r->update_before, in->now_seconds);
    probe = indexed && many && r->n_tags_all < 2 && !created_weeks && !updated_weeks;
    if (probe && out->order == TD_TASK_ORDER_RELEVANCE)
        probe = (b.probe_tier = relevance_tier(in->after_key, out->descending)) != NULL;
    out->strategy = !indexed ? TD_TASK_PLAN_WALK : probe ? TD_TASK_PLAN_PROBE : TD_TASK_PLAN_GIN;
    out->prepare = out->strategy == TD_TASK_PLAN_GIN;

    /* WHERE: user, then filters in a fixed order. */
    sb_add(&b.where, "t.user_id = ");
    sb_param(&b.where, add_value(&b, in->user));
    b.user_len = b.where.len;
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
    walk_len = b.where.len; /* user + completion: what a PROBE walk's index scan tests */
    if ((st = add_priorities(&b, r)) != TD_OK ||
        (st = add_tags(&b, r->tags_any, r->n_tags_any, "tags_any", "&&")) != TD_OK ||
        (st = add_tags(&b, r->tags_all, r->n_tags_all, "tags_all", "@>")) != TD_OK ||
        (st = add_time(&b, r->due_after, "due_after", " AND t.due_sort >= ",
                       "::timestamptz AND t.due_sort < 'infinity'", NULL)) != TD_OK ||
        (st = add_time(&b, r->due_before, "due_before", " AND t.due_sort < ", "::timestamptz",
                       NULL)) != TD_OK)
        goto out;
    if (r->overdue_only) /* due_sort <= overdue_at: the extra bound lets a due-ordered
                          * range scan stop at now() */
        sb_add(&b.where, " AND t.completed_at IS NULL AND t.overdue_at <= now()"
                         " AND t.due_sort <= now()");
    if (r->no_due_date)
        sb_add(&b.where, " AND t.due_sort = 'infinity'");
    if (r->recurring_only) /* kept by a trigger on recurrence_rules (0005) */
        sb_add(&b.where, " AND t.recurring");
    if ((st = add_time(&b, r->create_after, "create_after",
                       " AND t.created_at >= ", "::timestamptz", &created_lo)) != TD_OK ||
        (st = add_time(&b, r->create_before, "create_before", " AND t.created_at < ",
                       "::timestamptz", &created_hi)) != TD_OK ||
        (st = add_time(&b, r->update_after, "update_after",
                       " AND t.updated_at >= ", "::timestamptz", &updated_lo)) != TD_OK ||
        (st = add_time(&b, r->update_before, "update_before", " AND t.updated_at < ",
                       "::timestamptz", &updated_hi)) != TD_OK)
        goto out;
    if (searching) {
        char fn[48];
        search_param = add_value(&b, r->search);
        /* Same idea for words: "user|lexeme" prefixes (0010), exact given the user. */
        snprintf(fn, sizeof(fn), "td_search_query($%d)", search_param);
        sb_cond(&b.plain, NULL, " AND t.search @@ ", fn);
        snprintf(fn, sizeof(fn), "td_user_search_query($1, $%d)", search_param);
        sb_cond(&b.index, &b.index_ip,
                b.index.len > 0 ? " AND " TD__TASK_KEYS " @@ " : TD__TASK_KEYS " @@ ", fn);
    }
    /* Week keys only beside a tag or search key: alone, a range is a btree's job. They
     * are wider than the range, which the row is tested against (where). */
    if (created_weeks)
        add_range_weeks(&b, 'c', created_lo, created_hi);
    if (updated_weeks)
        add_range_weeks(&b, 'u', updated_lo, updated_hi);
    out->count_nparams = out->nparams;

    if (in->with_count) {
        sbuf cnt = {.a = a};
        sb_add(&cnt, "SELECT count(*) FROM ");
        add_from_where(&cnt, &b);
        if (cnt.oom || filters_oom(&b)) {
            st = TD_ENOMEM;
            goto out;
        }
        out->count_sql = cnt.p;
    }

    /* Keyset: strictly after the last row of the previous page, in SQL direction. */
    if (in->after_key != NULL) {
        const order_info *o = &ORDERS[out->order];
        int key_param = add_value(&b, in->after_key);
        sb_add(&keyset, " AND (");
        add_key(&keyset, out, search_param);
        if (o->tie != NULL) {
            sb_add(&keyset, ", ");
            sb_add(&keyset, o->tie);
        }
        sb_add(&keyset, ", t.id) ");
        sb_add(&keyset, out->descending ? "<" : ">");
        sb_add(&keyset, " (");
        if (o->tie != NULL) { /* "tier|updated_at" (add_key_text); InitPlans, so the text
                               * is parsed once, not once per row compared */
            sb_add(&keyset, "(SELECT split_part(");
            sb_param(&keyset, key_param);
            sb_add(&keyset, ", '|', 1)::");
            sb_add(&keyset, o->cast);
            sb_add(&keyset, "), (SELECT split_part(");
            sb_param(&keyset, key_param);
            sb_add(&keyset, ", '|', 2)::timestamptz)");
        } else {
            sb_param(&keyset, key_param);
            sb_add(&keyset, "::");
            sb_add(&keyset, o->cast);
        }
        sb_add(&keyset, ", ");
        int id_param = add_value(&b, in->after_id);
        sb_param(&keyset, id_param);
        sb_add(&keyset, "::uuid)");
        if (b.probe_tier != NULL) { /* the walk stays in the key's tier: tie-breakers only */
            sb_add(&walk_keyset, " AND (");
            sb_add(&walk_keyset, o->tie);
            sb_add(&walk_keyset, ", t.id) ");
            sb_add(&walk_keyset, out->descending ? "<" : ">");
            sb_add(&walk_keyset, " ((SELECT split_part(");
            sb_param(&walk_keyset, key_param);
            sb_add(&walk_keyset, ", '|', 2)::timestamptz), ");
            sb_param(&walk_keyset, id_param);
            sb_add(&walk_keyset, "::uuid)");
        }
    }

    snprintf(lim, sizeof(lim), "%d", in->page_size + 1);
    if ((limv = td_arena_strdup(a, lim)) == NULL) {
        st = TD_ENOMEM;
        goto out;
    }
    limit_param = add_value(&b, limv);
    if (probe) {
        st = add_probe(&b, &sql, &keyset, b.probe_tier != NULL ? &walk_keyset : &keyset, walk_len,
                       search_param, limit_param);
        goto out;
    }
    /* GIN with many matches expected (a big user, a one- or two-letter word): the matches
     * are sorted as narrow (id, key) rows and only the page's rows are read whole, by
     * primary key. Measured at 8 clients: ranked search for "b" on the 10k-task user
     * 400 -> 475 pages/s, a tag + priority page of the 1M-task user p99 211 -> 144 ms;
     * with a few hundred matches the extra join costs 10-15%, hence not always. */
    bool narrow = out->strategy == TD_TASK_PLAN_GIN && many;
    sb_add(&sql, "SELECT ");
    sb_add(&sql, in->columns);
    add_key_text(&sql, out);
    sb_add(&sql, " FROM (");
    if (narrow)
        sb_add(&sql, "SELECT t.*, p.k FROM (");
    sb_add(&sql, narrow ? "SELECT t.id, " : "SELECT t.*, ");
    add_key(&sql, out, search_param);
    sb_add(&sql, " AS k FROM ");
    add_from_where(&sql, &b);
    sb_add(&sql, sb_str(&keyset));
    add_order(&sql, out, search_param, "");
    sb_add(&sql, " LIMIT ");
    sb_param(&sql, limit_param);
    if (narrow)
        sb_add(&sql, ") p JOIN tasks t ON t.id = p.id");
    sb_add(&sql, ") t");
    add_order(&sql, out, search_param, "k");
    if (sql.oom || keyset.oom || filters_oom(&b)) {
        st = TD_ENOMEM;
        goto out;
    }
    out->sql = sql.p;
    out->key_col = in->ncolumns;
out:
    return st;
}
