/* task_query.h - builds the SQL of one ListTasks page (and its optional count) from a
 * ListTasksRequest: filters, search, sort and the keyset position.
 *
 * The SQL text is assembled ONLY from constant fragments of task_query.c and "$n"
 * placeholders; every user value (user id, tag names, search text, timestamps, the
 * keyset position) travels as a text parameter. Shape of a page:
 *
 *   SELECT <columns>, t.k::text FROM (
 *       SELECT t.*, <key> AS k FROM tasks t
 *       WHERE t.user_id = $1 AND <filters> [AND (<key>, t.id) > ($k::<type>, $id::uuid)]
 *       ORDER BY <key> <dir>, t.id <dir> LIMIT $limit) t
 *   ORDER BY t.k <dir>, t.id <dir>
 *
 * The inner query is what the planner sees as a plain keyset range over one of the
 * (user_id, key, id) btrees; the outer one evaluates the per-task subqueries of <columns>
 * (reminders, recurrence) only for the <= page_size + 1 rows of the page. The last column
 * is the sort key in PostgreSQL's text form, which round-trips exactly through the page
 * token (timestamptz with microseconds and offset, 'infinity', smallint, lower(title), and
 * float4 ranks printed shortest-exact since PostgreSQL 12).
 *
 * Tag and search filters (td_task_query_plan) are tested twice: on the row's own columns
 * (tag_keys, search: exact, given user_id = $1) and on the user-prefixed GIN keys of 0010
 * (index conditions, one per filter; a created/updated range of at most 13 weeks beside
 * them adds its weeks' keys, wider than the range, which the row is still tested
 * against). Every plan returns exactly the rows that pass every filter, in the same
 * order; they differ only in how the rows are found:
 *  - WALK  no tag/search filter: the keyset range above.
 *  - GIN   "FROM tasks t WHERE <GIN keys> AND (t.user_id || '') = $1 AND ...": the GIN
 *          bitmap alone (no btree serves the user expression, so no BitmapAnd), then the
 *          other filters and a top-N sort over the matches. Used when few matches are
 *          expected (a user that is not big, no search word of one or two letters), for
 *          all-of several tags, and for a RELEVANCE key that names no tier. When many matches
 *          are expected (a big user, a search word of one or two letters) the sort runs
 *          over narrow (id, key) rows and the page's rows are joined back by primary key.
 *  - PROBE many matches expected: a big user (in->big_user), or a search word of one or
 *          two letters. A subquery walks the sort btree lazily, at most 4000 rows
 *          (TD__TASK_QUERY_PROBE_ROWS_TEXT; 16000 when the walk reads only the index:
 *          open tasks by due, filtered by priority, tags or due range, whose index holds
 *          priority and tag_keys since 0009), testing tags/search on each; if that
 *          yields a full page, or the walk ran out of rows, those rows are the page
 *          (every row before them in the order was examined); otherwise the page comes
 *          from fallback_sql, the GIN plan with every filter visible to the planner. A
 *          broad tag then costs a short walk, a rare one a small bitmap; never a 1M-row
 *          scan. Not for tags_all with >= 2 names, nor with week keys (intersections
 *          the GIN computes at once: GIN).
 *          RELEVANCE walks one tier (below) in updated_at order, from the page token's
 *          position in it (the top tier on a first page); a walk short of a page falls
 *          back, since the page then goes on in the next tier.
 *
 * Decisions (docs: ListTasks semantics):
 *  - completion UNSPECIFIED = ANY (AIP: an unset filter matches everything).
 *  - order_by UNSPECIFIED = RELEVANCE when searching, else CREATED. RELEVANCE without a
 *    search is INVALID_ARGUMENT. Its key is a tier: 2 when every search word is a prefix
 *    of a title word, 1 when of a title or tag-name word, else 0 (a word only in the
 *    description); td_search_query(q, weights) of 0008. Ascending RELEVANCE = best first
 *    (tier descending), then most recently updated, then id; its page-token key is
 *    "tier|updated_at". Why not ts_rank: it ties in bulk anyway (a word once in a title
 *    scores the same in every task: all 16,664 "gro" matches of the 1M-task bench user),
 *    and only a per-row test lets a big user's page come from a short walk instead of
 *    ranking every match (p99 156 -> 21 ms).
 *  - DUE sorts on due_sort ('infinity' when undated): ascending puts undated tasks last;
 *    `descending` reverses the whole order (undated first), as for every other key.
 *  - due_after/due_before compare due_sort (all-day tasks: local midnight of the date);
 *    due_after never matches undated tasks.
 *  - search whose text holds no letter or digit (only spaces/punctuation) is no search
 *    filter; otherwise every word must match as a prefix (td_search_query, 0001).
 *  - tag filters compare lower-cased names (tag_keys); an empty tag name is invalid.
 * Pure: no I/O, any thread; all output lives in the caller's arena. */
#ifndef TD_SERVER_STORE_TASK_QUERY_H
#define TD_SERVER_STORE_TASK_QUERY_H
#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/status.h"
#include "todo/v1/task.pb-c.h"

enum {
    TD_TASK_QUERY_MAX_PARAMS = 24,
    TD_TASK_QUERY_MAX_TAGS = 64,    /* per tag filter */
    TD_TASK_QUERY_MAX_SEARCH = 256, /* bytes of search text */
};

/* The key a page is sorted on, after defaults are applied. */
typedef enum td_task_order {
    TD_TASK_ORDER_DUE = 1,
    TD_TASK_ORDER_PRIORITY,
    TD_TASK_ORDER_CREATED,
    TD_TASK_ORDER_UPDATED,
    TD_TASK_ORDER_TITLE,
    TD_TASK_ORDER_RELEVANCE,
} td_task_order;

typedef struct td_task_query_in {
    const Todo__V1__ListTasksRequest *req;
    const char *user;      /* JWT subject */
    const char *columns;   /* select list over alias t (TD_TASK_COLUMNS) */
    int ncolumns;          /* number of columns in `columns` */
    int page_size;         /* 1..500 (already validated) */
    const char *after_key; /* keyset position (from the page token) or NULL */
    const char *after_id;  /* uuid text, with after_key */
    bool with_count;       /* also build count_sql */
    bool big_user;         /* the user holds many tasks: PROBE plan (see above); a hint
                            * only, either value gives the same rows */
    int64_t now_seconds;   /* the caller's clock (Unix seconds): does a created/updated
                            * range with no end span few weeks (week keys, 0010)? 0 =
                            * unknown: no week keys. A hint only, like big_user */
} td_task_query_in;

/* How the page's rows are found (see the top of this file); the rows never differ. */
typedef enum td_task_query_plan {
    TD_TASK_PLAN_WALK = 1,
    TD_TASK_PLAN_GIN,
    TD_TASK_PLAN_PROBE,
} td_task_query_plan;

typedef struct td_task_query {
    const char *sql; /* page query; LIMIT page_size + 1 */
    /* PROBE only: sql's last column (key_col + 1) is the walk's verdict, the same on
     * every row; sql returns one row of NULLs when it has no task to show. When that
     * column is 't' the walk found too few rows: run fallback_sql (same values, nparams,
     * columns) for the page instead. NULL for the other plans. */
    const char *fallback_sql;
    const char *count_sql; /* SELECT count(*) over the same filters, or NULL */
    const char *values[TD_TASK_QUERY_MAX_PARAMS];
    int nparams;       /* parameters of sql */
    int count_nparams; /* count_sql uses values[0 .. count_nparams) */
    int key_col;       /* result column holding the sort key text (= ncolumns) */
    td_task_order order;
    td_task_query_plan strategy;
    bool descending; /* SQL direction of the key (RELEVANCE ascending = true) */
    /* GIN plans: the plan's shape does not depend on the parameter values (the GIN keys
     * are the only access path), so the caller prepares the SQL once per session
     * (td_pg_exec_cached) and PostgreSQL runs a generic plan after five custom ones:
     * no parse and no planning per page. Every function of the parameters is then an
     * InitPlan "(SELECT f($n))", run once per execution; custom and generic plans see
     * the same estimates, so the generic one wins on cost; count_sql likewise. WALK and
     * PROBE pages stay custom-planned (PQexecParams): their best plan depends on the
     * values. A prepared PROBE walk ran custom plans until an ANALYZE changed the
     * estimates; PostgreSQL then switched it to the generic plan, which takes the user for
     * an average one and reads all 700k open tasks of the 1M-task user in the wrong
     * index (1.3 s a page instead of 7 ms). */
    bool prepare;
    /* The search holds text but no word character ("%", "'", ".*"): no indexed word can
     * match it, so the answer is an empty page (never the unfiltered list). */
    bool matches_nothing;
} td_task_query;

/* Validates the request's filters and order and builds the query. TD_OK; TD_EINVAL with
 * *bad_field (proto field name, e.g. "priorities") and *bad_desc set; TD_ENOMEM. */
td_status td_task_query_build(const td_task_query_in *in, td_arena *a, td_task_query *out,
                              const char **bad_field, const char **bad_desc);

/* True when `search` holds at least one letter or digit (ASCII alnum, or any non-ASCII
 * byte: PostgreSQL's parser treats those as word characters). */
bool td_task_query_search_effective(const char *search);

/* Formats a google.protobuf.Timestamp as ISO 8601 UTC text with microseconds
 * ("2026-03-01T08:00:00.123456Z") into buf (>= 40 bytes). -1 when out of the
 * Timestamp range (0001-01-01 .. 9999-12-31) or nanos not in 0..999999999. */
int td_task_query_timestamp_text(int64_t seconds, int32_t nanos, char *buf, size_t cap);

/* Writes a PostgreSQL text[] literal of items (each double-quoted, \ and " escaped) into
 * `a`. NULL on out of memory. */
char *td_task_query_text_array(char *const *items, size_t n, td_arena *a);

#endif
