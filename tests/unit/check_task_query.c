/* check_task_query.c - unit tests for server/store/task_query.c: the SQL and parameters
 * of ListTasks for filter/sort combinations, keyset direction (including RELEVANCE,
 * whose ascending order is tier-descending), defaults, validation naming the field, and
 * the rule that no request byte ever reaches the SQL text.
 * The module is compiled into this test (it lives in server/, not in libtd). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/store/task_query.c"
#include "check_run.h"

#define COLS "t.id::text, t.title"
/* A GIN condition (0010): the task keys against a tsquery. */
#define K "td_task_keys(t.user_id, t.search, t.tag_keys, t.created_at, t.updated_at) @@ "

static td_arena *A;
static td_task_query Q;
static const char *FIELD, *DESC;

static td_status run(const Todo__V1__ListTasksRequest *r, const char *key, const char *id,
                     bool count)
{
    td_task_query_in in = {.req = r,
                           .user = "user42",
                           .columns = COLS,
                           .ncolumns = 2,
                           .page_size = 50,
                           .after_key = key,
                           .after_id = id,
                           .with_count = count};
    return td_task_query_build(&in, A, &Q, &FIELD, &DESC);
}

/* Highest $n used in sql. */
static int max_param(const char *sql)
{
    int m = 0;
    for (const char *p = strchr(sql, '$'); p != NULL; p = strchr(p + 1, '$')) {
        int n = (int)strtol(p + 1, NULL, 10);
        if (n > m)
            m = n;
    }
    return m;
}

static void setup(void)
{
    A = td_arena_new(1 << 16);
}
static void teardown(void)
{
    td_arena_destroy(A);
}

START_TEST(defaults)
{
    Todo__V1__ListTasksRequest r = TODO__V1__LIST_TASKS_REQUEST__INIT;
    ck_assert_int_eq(run(&r, NULL, NULL, false), TD_OK);
    ck_assert_str_eq(Q.sql, "SELECT " COLS ", t.k::text FROM (SELECT t.*, t.created_at AS k "
                            "FROM tasks t WHERE t.user_id = $1 ORDER BY t.created_at, t.id "
                            "LIMIT $2) t ORDER BY t.k, t.id");
    ck_assert_int_eq(Q.nparams, 2);
    ck_assert_str_eq(Q.values[0], "user42");
    ck_assert_str_eq(Q.values[1], "51");
    ck_assert_int_eq(Q.key_col, 2);
    ck_assert_ptr_null(Q.count_sql);
    ck_assert_int_eq(Q.order, TD_TASK_ORDER_CREATED);
}
END_TEST

START_TEST(keyset_directions)
{
    Todo__V1__ListTasksRequest r = TODO__V1__LIST_TASKS_REQUEST__INIT;
    r.order_by = TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_DUE;
    ck_assert_int_eq(run(&r, "infinity", "0b7e6f4c-1d2a-4f3b-9c8d-7e6f5a4b3c2d", false), TD_OK);
    ck_assert_ptr_nonnull(strstr(Q.sql, "AND (t.due_sort, t.id) > ($2::timestamptz, $3::uuid)"));
    ck_assert_ptr_nonnull(strstr(Q.sql, "ORDER BY t.due_sort, t.id LIMIT $4"));
    ck_assert_str_eq(Q.values[1], "infinity");
    r.descending = true;
    ck_assert_int_eq(run(&r, "infinity", "0b7e6f4c-1d2a-4f3b-9c8d-7e6f5a4b3c2d", false), TD_OK);
    ck_assert_ptr_nonnull(strstr(Q.sql, "AND (t.due_sort, t.id) < ($2::timestamptz, $3::uuid)"));
    ck_assert_ptr_nonnull(strstr(Q.sql, "ORDER BY t.due_sort DESC, t.id DESC LIMIT $4"));
    ck_assert_ptr_nonnull(strstr(Q.sql, ") t ORDER BY t.k DESC, t.id DESC"));

    r.order_by = TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_TITLE;
    r.descending = false;
    ck_assert_int_eq(run(&r, "buy milk", "0b7e6f4c-1d2a-4f3b-9c8d-7e6f5a4b3c2d", false), TD_OK);
    ck_assert_ptr_nonnull(strstr(Q.sql, "(lower(t.title), t.id) > ($2::text, $3::uuid)"));
    r.order_by = TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_PRIORITY;
    ck_assert_int_eq(run(&r, "3", "0b7e6f4c-1d2a-4f3b-9c8d-7e6f5a4b3c2d", false), TD_OK);
    ck_assert_ptr_nonnull(strstr(Q.sql, "(t.priority, t.id) > ($2::smallint, $3::uuid)"));
    r.order_by = TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_UPDATED;
    ck_assert_int_eq(run(&r, "x", "0b7e6f4c-1d2a-4f3b-9c8d-7e6f5a4b3c2d", false), TD_OK);
    ck_assert_ptr_nonnull(strstr(Q.sql, "(t.updated_at, t.id) > ($2::timestamptz, $3::uuid)"));
}
END_TEST

START_TEST(relevance)
{
    Todo__V1__ListTasksRequest r = TODO__V1__LIST_TASKS_REQUEST__INIT;
    r.search = "gro";
    ck_assert_int_eq(
        run(&r, "1|2026-03-01 08:00:00.123456+00", "0b7e6f4c-1d2a-4f3b-9c8d-7e6f5a4b3c2d", false),
        TD_OK);
    ck_assert_int_eq(Q.order, TD_TASK_ORDER_RELEVANCE); /* default when searching */
    ck_assert(Q.descending);                            /* best first */
    ck_assert_int_eq(Q.strategy, TD_TASK_PLAN_GIN);     /* not a big user */
    ck_assert_ptr_nonnull(
        strstr(Q.sql, "td_task_keys(t.user_id, t.search, t.tag_keys, t.created_at, t.updated_at) "
                      "@@ (SELECT td_user_search_query($1, $2))"));
    /* prepared (generic plans): functions of parameters are InitPlans, never per row */
    ck_assert(Q.prepare);
    /* the tier: every word in the title, else in the title or a tag name, else anywhere */
    static const char TIER[] = "CASE WHEN t.search @@ (SELECT td_search_query($2, 'A')) THEN 2 "
                               "WHEN t.search @@ (SELECT td_search_query($2, 'AC')) THEN 1 "
                               "ELSE 0 END";
    /* within a tier most recently updated first; the key is "tier|updated_at" */
    ck_assert_ptr_nonnull(strstr(Q.sql, TIER));
    ck_assert_ptr_nonnull(strstr(Q.sql, "END, t.updated_at, t.id) < ((SELECT split_part($3, '|', "
                                        "1)::int), (SELECT split_part($3, '|', "
                                        "2)::timestamptz), $4::uuid)"));
    ck_assert_ptr_nonnull(strstr(Q.sql, "END DESC, t.updated_at DESC, t.id DESC LIMIT $5"));
    ck_assert_ptr_null(strstr(Q.sql, "ts_rank"));
    ck_assert_ptr_nonnull(strstr(Q.sql, "t.k::text || '|' || t.updated_at::text FROM"));
    ck_assert_ptr_nonnull(strstr(Q.sql, "ORDER BY t.k DESC, t.updated_at DESC, t.id DESC"));
    ck_assert_str_eq(Q.values[1], "gro");
    r.descending = true; /* worst first */
    ck_assert_int_eq(run(&r, NULL, NULL, false), TD_OK);
    ck_assert(!Q.descending);
    ck_assert_ptr_nonnull(strstr(Q.sql, "END, t.updated_at, t.id LIMIT"));
    /* explicit order with search: search filters, the key sorts */
    r.order_by = TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_DUE;
    ck_assert_int_eq(run(&r, NULL, NULL, false), TD_OK);
    ck_assert_int_eq(Q.order, TD_TASK_ORDER_DUE);
    ck_assert_ptr_null(strstr(Q.sql, "CASE"));
    ck_assert_ptr_null(strstr(Q.sql, "t.updated_at,")); /* the tie is RELEVANCE's only */
    ck_assert_ptr_null(strstr(Q.sql, "t.updated_at::text"));
}
END_TEST

START_TEST(punctuation_search_matches_nothing)
{
    Todo__V1__ListTasksRequest r = TODO__V1__LIST_TASKS_REQUEST__INIT;
    r.search = "  &|!():* ";
    ck_assert_int_eq(run(&r, NULL, NULL, false), TD_OK);
    ck_assert(Q.matches_nothing); /* an empty page, never the unfiltered list */
    ck_assert_int_eq(Q.order, TD_TASK_ORDER_CREATED);
    r.search = " \t ";
    ck_assert_int_eq(run(&r, NULL, NULL, false), TD_OK);
    ck_assert(!Q.matches_nothing); /* blank: no search at all */
    ck_assert_ptr_null(strstr(Q.sql, "search"));
    r.search = "gro";
    ck_assert_int_eq(run(&r, NULL, NULL, false), TD_OK);
    ck_assert(!Q.matches_nothing);
    r.search = "  &|!():* ";
    r.order_by = TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_RELEVANCE;
    ck_assert_int_eq(run(&r, NULL, NULL, false), TD_EINVAL);
    ck_assert_str_eq(FIELD, "order_by");
    ck_assert(td_task_query_search_effective("é"));
    ck_assert(td_task_query_search_effective("x"));
    ck_assert(!td_task_query_search_effective(""));
    ck_assert(!td_task_query_search_effective(NULL));
}
END_TEST

START_TEST(all_filters_and_count)
{
    Todo__V1__ListTasksRequest r = TODO__V1__LIST_TASKS_REQUEST__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Todo__V1__Priority pr[] = {TODO__V1__PRIORITY__PRIORITY_URGENT,
                               TODO__V1__PRIORITY__PRIORITY_LOW,
                               TODO__V1__PRIORITY__PRIORITY_URGENT};
    char *any[] = {"Work", "Ho\"me"};
    char *all[] = {"a\\b"};
    ts.seconds = 1767225600; /* 2026-01-01 */
    ts.nanos = 123456789;
    r.completion = TODO__V1__COMPLETION_FILTER__COMPLETION_FILTER_OPEN;
    r.n_priorities = 3;
    r.priorities = pr;
    r.n_tags_any = 2;
    r.tags_any = any;
    r.n_tags_all = 1;
    r.tags_all = all;
    r.due_after = r.due_before = r.create_after = r.create_before = &ts;
    r.update_after = r.update_before = &ts;
    r.overdue_only = r.no_due_date = r.recurring_only = true;
    r.search = "buy milk";
    r.order_by = TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_PRIORITY;
    ck_assert_int_eq(run(&r, "4", "0b7e6f4c-1d2a-4f3b-9c8d-7e6f5a4b3c2d", true), TD_OK);
    ck_assert_ptr_nonnull(strstr(Q.sql, "t.completed_at IS NULL"));
    ck_assert_ptr_nonnull(strstr(Q.sql, "t.priority = ANY($2::smallint[])"));
    ck_assert_str_eq(Q.values[1], "{1,4}");
    ck_assert_ptr_nonnull(strstr(Q.sql, "@@ (SELECT td_user_tags_query($1, "
                                        "td_lower_array($3::text[]), '|'))"));
    ck_assert_str_eq(Q.values[2], "{\"Work\",\"Ho\\\"me\"}");
    ck_assert_ptr_nonnull(strstr(Q.sql, "@@ (SELECT td_user_tags_query($1, "
                                        "(td_lower_array($4::text[]))[1:1], '&'))"));
    ck_assert_str_eq(Q.values[3], "{\"a\\\\b\"}");
    ck_assert_ptr_nonnull(
        strstr(Q.sql, "t.due_sort >= $5::timestamptz AND t.due_sort < 'infinity'"));
    ck_assert_str_eq(Q.values[4], "2026-01-01T00:00:00.123456Z");
    ck_assert_ptr_nonnull(strstr(Q.sql, "t.due_sort < $6::timestamptz"));
    ck_assert_ptr_nonnull(strstr(Q.sql, "t.overdue_at <= now()"));
    ck_assert_ptr_nonnull(strstr(Q.sql, "t.due_sort = 'infinity'"));
    ck_assert_ptr_nonnull(strstr(Q.sql, " AND t.recurring AND "));
    ck_assert_ptr_nonnull(
        strstr(Q.sql, "t.created_at >= $7::timestamptz AND t.created_at < $8::timestamptz"));
    ck_assert_ptr_nonnull(
        strstr(Q.sql, "t.updated_at >= $9::timestamptz AND t.updated_at < $10::timestamptz"));
    ck_assert_ptr_nonnull(strstr(Q.sql, "@@ (SELECT td_user_search_query($1, $11))"));
    ck_assert_int_eq(Q.count_nparams, 11);
    ck_assert_int_eq(Q.nparams, 14);
    ck_assert_int_eq(max_param(Q.sql), Q.nparams);
    ck_assert_ptr_nonnull(Q.count_sql);
    ck_assert_int_eq(max_param(Q.count_sql), Q.count_nparams);
    ck_assert_ptr_null(strstr(Q.count_sql, "LIMIT"));
    ck_assert_ptr_null(strstr(Q.count_sql, "t.id) >"));
    /* tag/search filters: the GIN keys (exact given the user; week keys are wider than
     * their range, which the row is tested against) and the user test as an expression
     * no btree serves (no BitmapAnd with a user btree) */
    ck_assert_str_eq(
        Q.count_sql,
        "SELECT count(*) FROM tasks t WHERE " K "(SELECT td_user_tags_query($1, "
        "td_lower_array($3::text[]), '|')) AND " K "(SELECT td_user_tags_query($1, "
        "(td_lower_array($4::text[]))[1:1], '&')) AND " K
        "(SELECT td_user_search_query($1, $11)) AND " K
        "(SELECT td_user_weeks_query($1, 'c', $7::timestamptz, $8::timestamptz)) AND " K
        "(SELECT td_user_weeks_query($1, 'u', $9::timestamptz, $10::timestamptz)) "
        "AND (t.user_id || '') = $1 AND t.completed_at IS NULL AND t.priority = "
        "ANY($2::smallint[]) "
        "AND t.due_sort >= $5::timestamptz AND t.due_sort < 'infinity' AND t.due_sort < "
        "$6::timestamptz "
        "AND t.completed_at IS NULL AND t.overdue_at <= now() AND t.due_sort <= now() "
        "AND t.due_sort = 'infinity' AND t.recurring AND t.created_at >= $7::timestamptz "
        "AND t.created_at < $8::timestamptz AND t.updated_at >= $9::timestamptz "
        "AND t.updated_at < $10::timestamptz");
    ck_assert_int_eq(Q.strategy, TD_TASK_PLAN_GIN);
}
END_TEST

static td_status run_big(const Todo__V1__ListTasksRequest *r, const char *key, const char *id)
{
    td_task_query_in in = {.req = r,
                           .user = "user42",
                           .columns = COLS,
                           .ncolumns = 2,
                           .page_size = 50,
                           .after_key = key,
                           .after_id = id,
                           .big_user = true};
    return td_task_query_build(&in, A, &Q, &FIELD, &DESC);
}

/* Which plan: WALK without tag/search; GIN for small users; PROBE for a big user's
 * tag/search filter (RELEVANCE: when the page's tier is known). */
START_TEST(plan_choice)
{
    Todo__V1__ListTasksRequest r = TODO__V1__LIST_TASKS_REQUEST__INIT;
    char *work[] = {"Work"};
    r.order_by = TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_DUE;
    ck_assert_int_eq(run_big(&r, NULL, NULL), TD_OK);
    ck_assert_int_eq(Q.strategy, TD_TASK_PLAN_WALK);
    ck_assert(!Q.prepare); /* custom plans: the best one depends on the values */
    ck_assert_ptr_null(Q.fallback_sql);
    ck_assert_ptr_null(strstr(Q.sql, "WITH"));
    ck_assert_ptr_null(strstr(Q.sql, "(t.user_id || '')"));
    r.n_tags_any = 1;
    r.tags_any = work;
    ck_assert_int_eq(run(&r, NULL, NULL, false), TD_OK);
    ck_assert_int_eq(Q.strategy, TD_TASK_PLAN_GIN);
    ck_assert_str_eq(Q.sql, "SELECT " COLS ", t.k::text FROM (SELECT t.*, t.due_sort AS k FROM "
                            "tasks t WHERE " K "(SELECT td_user_tags_query($1, "
                            "td_lower_array($2::text[]), '|')) AND (t.user_id || '') = $1 "
                            "ORDER BY t.due_sort, t.id LIMIT $3) t ORDER BY t.k, t.id");
    ck_assert(Q.prepare);
    ck_assert_ptr_null(Q.fallback_sql);
    ck_assert_int_eq(run_big(&r, NULL, NULL), TD_OK);
    ck_assert_int_eq(Q.strategy, TD_TASK_PLAN_PROBE);
    /* the walk: never prepared (a generic plan would take the user for an average one),
     * so its functions of the parameters are bare: the planner folds them */
    ck_assert(!Q.prepare);
    ck_assert_ptr_nonnull(strstr(Q.sql, "t.tag_keys && td_lower_array($2::text[])"));
    ck_assert_ptr_null(strstr(Q.sql, "(SELECT td_"));
    ck_assert_ptr_nonnull(Q.fallback_sql); /* custom-planned: sees the values */
    ck_assert_ptr_null(strstr(Q.fallback_sql, "(SELECT td_"));
    r.n_tags_all = 1; /* one all-of name: as selective as any-of */
    r.tags_all = work;
    ck_assert_int_eq(run_big(&r, NULL, NULL), TD_OK);
    ck_assert_int_eq(Q.strategy, TD_TASK_PLAN_PROBE);
    char *pair[] = {"Work", "Travel"};
    r.n_tags_all = 2; /* an intersection: GIN */
    r.tags_all = pair;
    ck_assert_int_eq(run_big(&r, NULL, NULL), TD_OK);
    ck_assert_int_eq(Q.strategy, TD_TASK_PLAN_GIN);
    ck_assert_ptr_nonnull(strstr(Q.sql, "(t.user_id || '') = $1"));
    /* many matches expected (big user): sorted as (id, key), the page joined back */
    static const char NARROW[] = "SELECT t.id, ";
    static const char JOIN_BACK[] = ") p JOIN tasks t ON t.id = p.id) t ORDER BY t.k";
    ck_assert_ptr_nonnull(strstr(Q.sql, NARROW));
    ck_assert_ptr_nonnull(strstr(Q.sql, JOIN_BACK));
    ck_assert_int_eq(run(&r, NULL, NULL, false), TD_OK); /* a 10k user: few matches */
    ck_assert_ptr_null(strstr(Q.sql, JOIN_BACK));
    r.search = "buy b"; /* a one-letter prefix: many matches for any user */
    ck_assert_int_eq(run(&r, NULL, NULL, false), TD_OK);
    ck_assert_int_eq(Q.strategy, TD_TASK_PLAN_GIN); /* tags_all: still the GIN, sorted narrow */
    ck_assert_ptr_nonnull(strstr(Q.sql, JOIN_BACK));
    r.n_tags_all = 0;
    ck_assert_int_eq(run(&r, NULL, NULL, false), TD_OK);
    ck_assert_int_eq(Q.strategy, TD_TASK_PLAN_PROBE); /* a walk finds a page at once */
    r.search = "buy milk";
    ck_assert_int_eq(run(&r, NULL, NULL, false), TD_OK);
    ck_assert_int_eq(Q.strategy, TD_TASK_PLAN_GIN);
    ck_assert_ptr_null(strstr(Q.sql, JOIN_BACK));
    r.search = "gro";
    r.order_by = TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_RELEVANCE;
    ck_assert_int_eq(run_big(&r, NULL, NULL), TD_OK);
    ck_assert_int_eq(Q.strategy, TD_TASK_PLAN_PROBE); /* walks the top tier */
    ck_assert_ptr_nonnull(strstr(Q.sql, "END = 2) AS hit"));
    ck_assert_int_eq(
        run_big(&r, "0|2026-03-01 08:00:00+00", "0b7e6f4c-1d2a-4f3b-9c8d-7e6f5a4b3c2d"), TD_OK);
    ck_assert_ptr_nonnull(strstr(Q.sql, "END = 0) AS hit")); /* the previous page's tier */
    ck_assert_int_eq(
        run_big(&r, "3|2026-03-01 08:00:00+00", "0b7e6f4c-1d2a-4f3b-9c8d-7e6f5a4b3c2d"), TD_OK);
    ck_assert_int_eq(Q.strategy, TD_TASK_PLAN_GIN); /* no tier of ours: GIN decides */
    ck_assert_ptr_null(strstr(Q.sql, "WITH"));
    r.descending = true; /* worst first: the walk starts in the lowest tier */
    ck_assert_int_eq(run_big(&r, NULL, NULL), TD_OK);
    ck_assert_ptr_nonnull(strstr(Q.sql, "END = 0) AS hit"));
}
END_TEST

/* The PROBE shape: one walk bounded to 4000 rows, the page from it with the verdict d.gin
 * as last column; the fallback with every condition bare; keyset and LIMIT in both, the
 * same parameters. */
START_TEST(probe_shape)
{
    Todo__V1__ListTasksRequest r = TODO__V1__LIST_TASKS_REQUEST__INIT;
    char *work[] = {"Work"};
    Todo__V1__Priority pr[] = {TODO__V1__PRIORITY__PRIORITY_URGENT};
    r.order_by = TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_DUE;
    r.descending = true;
    r.completion = TODO__V1__COMPLETION_FILTER__COMPLETION_FILTER_OPEN;
    r.n_priorities = 1;
    r.priorities = pr;
    r.n_tags_any = 1;
    r.tags_any = work;
    ck_assert_int_eq(run_big(&r, "2026-01-01 00:00:00+00", "0b7e6f4c-1d2a-4f3b-9c8d-7e6f5a4b3c2d"),
                     TD_OK);
    ck_assert_int_eq(Q.strategy, TD_TASK_PLAN_PROBE);
    ck_assert_str_eq(
        Q.sql,
        "WITH a AS MATERIALIZED (SELECT w.id, w.k FROM (SELECT t.id, t.due_sort AS k, (true AND "
        "t.priority = ANY($2::smallint[]) AND t.tag_keys && td_lower_array($3::text[])) AS hit "
        "FROM tasks t WHERE t.user_id = $1 AND t.completed_at IS NULL AND (t.due_sort, t.id) < "
        "($4::timestamptz, $5::uuid) ORDER BY t.due_sort DESC, t.id DESC LIMIT 16000) w "
        "WHERE w.hit LIMIT $6), "
        "d AS MATERIALIZED (SELECT CASE WHEN (SELECT count(*) FROM a) >= $6::int8 THEN false "
        "ELSE (SELECT count(*) FROM (SELECT FROM tasks t WHERE t.user_id = $1 AND "
        "t.completed_at IS NULL AND (t.due_sort, t.id) < ($4::timestamptz, $5::uuid) LIMIT "
        "16000) w) >= 16000 END AS gin) "
        "SELECT " COLS ", t.k::text, d.gin FROM d LEFT JOIN (SELECT t.*, a.k FROM a JOIN tasks t "
        "ON t.id = a.id) t ON NOT d.gin ORDER BY t.k DESC, t.id DESC");
    ck_assert_str_eq(
        Q.fallback_sql,
        "SELECT " COLS ", t.k::text FROM (SELECT t.*, t.due_sort AS k FROM tasks t "
        "WHERE t.user_id = $1 AND t.completed_at IS NULL AND t.priority = ANY($2::smallint[]) "
        "AND t.tag_keys && td_lower_array($3::text[]) AND " K "td_user_tags_query($1, "
        "td_lower_array($3::text[]), '|') AND (t.due_sort, t.id) < "
        "($4::timestamptz, $5::uuid) ORDER BY t.due_sort DESC, t.id DESC LIMIT $6) t "
        "ORDER BY t.k DESC, t.id DESC");
    ck_assert_int_eq(Q.nparams, 6);
    ck_assert_int_eq(max_param(Q.sql), Q.nparams);
    ck_assert_int_eq(max_param(Q.fallback_sql), Q.nparams);
    ck_assert_str_eq(Q.values[5], "51");
    /* 16000: open tasks by due, filtered on priority and tags, is index-only (0009); a
     * filter on any other column, another order or completion reads the heap: 4000 */
    static const char HEAP_WALK[] = "LIMIT 4000) w WHERE";
    ck_assert_ptr_null(strstr(Q.sql, HEAP_WALK));
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    r.create_after = &ts;
    ck_assert_int_eq(run_big(&r, NULL, NULL), TD_OK);
    ck_assert_ptr_nonnull(strstr(Q.sql, HEAP_WALK));
    r.create_after = NULL;
    r.search = "gro";
    ck_assert_int_eq(run_big(&r, NULL, NULL), TD_OK);
    ck_assert_ptr_nonnull(strstr(Q.sql, HEAP_WALK));
    r.search = NULL;
    r.completion = TODO__V1__COMPLETION_FILTER__COMPLETION_FILTER_ANY;
    ck_assert_int_eq(run_big(&r, NULL, NULL), TD_OK);
    ck_assert_ptr_nonnull(strstr(Q.sql, HEAP_WALK));
    r.completion = TODO__V1__COMPLETION_FILTER__COMPLETION_FILTER_OPEN;
    r.order_by = TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_PRIORITY;
    ck_assert_int_eq(run_big(&r, NULL, NULL), TD_OK);
    ck_assert_ptr_nonnull(strstr(Q.sql, HEAP_WALK));
}
END_TEST

/* A created/updated range of at most 13 weeks beside a tag or search filter: its week
 * keys join the GIN conditions (the row still tests the exact range) and the plan is GIN,
 * even for a big user. An open range ends now: the caller's clock, else no week keys. */
START_TEST(week_keys)
{
    Todo__V1__ListTasksRequest r = TODO__V1__LIST_TASKS_REQUEST__INIT;
    Google__Protobuf__Timestamp lo = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Google__Protobuf__Timestamp hi = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    char *pair[] = {"Work", "Home"};
    td_task_query_in in = {.req = &r,
                           .user = "user42",
                           .columns = COLS,
                           .ncolumns = 2,
                           .page_size = 50,
                           .big_user = true,
                           .now_seconds = 1767225600}; /* 2026-01-01 */
    lo.seconds = in.now_seconds - 30 * 86400;
    r.order_by = TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_DUE;
    r.search = "pay";
    r.create_after = &lo;
    ck_assert_int_eq(td_task_query_build(&in, A, &Q, &FIELD, &DESC), TD_OK);
    ck_assert_int_eq(Q.strategy, TD_TASK_PLAN_GIN);
    ck_assert_ptr_nonnull(strstr(Q.sql, "t.created_at >= $2::timestamptz"));
    ck_assert_ptr_nonnull(strstr(Q.sql, " AND " K "(SELECT td_user_weeks_query($1, 'c', "
                                        "$2::timestamptz, NULL))"));
    ck_assert_int_eq(max_param(Q.sql), Q.nparams);
    in.now_seconds = 0; /* no clock: an open range is not known to be short */
    ck_assert_int_eq(td_task_query_build(&in, A, &Q, &FIELD, &DESC), TD_OK);
    ck_assert_int_eq(Q.strategy, TD_TASK_PLAN_PROBE);
    ck_assert_ptr_null(strstr(Q.fallback_sql, "td_user_weeks_query"));
    hi.seconds = lo.seconds + 13 * 7 * 86400; /* closed: 13 weeks */
    r.create_after = NULL;
    r.update_after = &lo;
    r.update_before = &hi;
    ck_assert_int_eq(td_task_query_build(&in, A, &Q, &FIELD, &DESC), TD_OK);
    ck_assert_int_eq(Q.strategy, TD_TASK_PLAN_GIN);
    ck_assert_ptr_nonnull(strstr(Q.sql, "td_user_weeks_query($1, 'u', $2::timestamptz, "
                                        "$3::timestamptz)"));
    hi.seconds++; /* longer: tested on the rows only */
    ck_assert_int_eq(td_task_query_build(&in, A, &Q, &FIELD, &DESC), TD_OK);
    ck_assert_int_eq(Q.strategy, TD_TASK_PLAN_PROBE);
    ck_assert_ptr_null(strstr(Q.fallback_sql, "td_user_weeks_query"));
    lo.seconds = INT64_MIN; /* the plan is chosen before validation: no overflow */
    hi.seconds = INT64_MAX;
    ck_assert_int_eq(td_task_query_build(&in, A, &Q, &FIELD, &DESC), TD_EINVAL);
    ck_assert_str_eq(FIELD, "update_after");
    in.now_seconds = 1767225600;
    lo.seconds = in.now_seconds - 30 * 86400;
    r.search = NULL; /* no tag or search: a range alone walks a btree */
    r.update_before = NULL;
    ck_assert_int_eq(td_task_query_build(&in, A, &Q, &FIELD, &DESC), TD_OK);
    ck_assert_int_eq(Q.strategy, TD_TASK_PLAN_WALK);
    ck_assert_ptr_null(strstr(Q.sql, "td_task_keys"));
    r.n_tags_all = 2; /* all of: a key per tag */
    r.tags_all = pair;
    ck_assert_int_eq(td_task_query_build(&in, A, &Q, &FIELD, &DESC), TD_OK);
    ck_assert_str_eq(Q.sql,
                     "SELECT " COLS ", t.k::text FROM (SELECT t.*, p.k FROM (SELECT t.id, "
                     "t.due_sort AS k FROM tasks t WHERE " K "(SELECT td_user_tags_query($1, "
                     "(td_lower_array($2::text[]))[1:1], '&')) AND " K
                     "(SELECT td_user_tags_query($1, (td_lower_array($2::text[]))[2:2], "
                     "'&')) AND " K "(SELECT td_user_weeks_query($1, 'u', "
                     "$3::timestamptz, NULL)) AND (t.user_id || '') = $1 AND "
                     "t.updated_at >= $3::timestamptz ORDER BY t.due_sort, t.id LIMIT "
                     "$4) p JOIN tasks t ON t.id = p.id) t ORDER BY t.k, t.id");
}
END_TEST

/* A RELEVANCE PROBE page walks one tier in updated_at order from the token's position
 * (its tie-breakers only); a walk short of a page always falls back, since the next
 * tier's rows were not looked for; the fallback compares the whole key. */
START_TEST(probe_relevance_shape)
{
    Todo__V1__ListTasksRequest r = TODO__V1__LIST_TASKS_REQUEST__INIT;
    r.search = "gro";
    r.completion = TODO__V1__COMPLETION_FILTER__COMPLETION_FILTER_OPEN;
    ck_assert_int_eq(
        run_big(&r, "2|2026-03-01 08:00:00+00", "0b7e6f4c-1d2a-4f3b-9c8d-7e6f5a4b3c2d"), TD_OK);
    ck_assert_int_eq(Q.strategy, TD_TASK_PLAN_PROBE);
    ck_assert_str_eq(
        Q.sql,
        "WITH a AS MATERIALIZED (SELECT w.id, w.k FROM (SELECT t.id, 2 AS k, (true AND t.search "
        "@@ td_search_query($2) "
        "AND CASE WHEN t.search @@ td_search_query($2, 'A') THEN 2 WHEN t.search @@ "
        "td_search_query($2, 'AC') THEN 1 ELSE 0 END = 2) AS hit FROM tasks t WHERE "
        "t.user_id = $1 AND "
        "t.completed_at IS NULL AND (t.updated_at, t.id) < ((SELECT split_part($3, '|', "
        "2)::timestamptz), $4::uuid) ORDER BY t.updated_at DESC, t.id DESC LIMIT 4000) w "
        "WHERE w.hit LIMIT $5), "
        "d AS MATERIALIZED (SELECT CASE WHEN (SELECT count(*) FROM a) >= $5::int8 THEN false "
        "ELSE true END AS gin) SELECT " COLS ", t.k::text || '|' || t.updated_at::text, d.gin "
        "FROM d LEFT JOIN (SELECT t.*, a.k FROM a JOIN tasks t ON t.id = a.id) t ON NOT d.gin "
        "ORDER BY t.k DESC, t.updated_at DESC, t.id DESC");
    ck_assert_ptr_nonnull(
        strstr(Q.fallback_sql, "END, t.updated_at, t.id) < ((SELECT split_part($3, '|', 1)::int), "
                               "(SELECT split_part($3, '|', 2)::timestamptz), $4::uuid)"));
    ck_assert_int_eq(max_param(Q.sql), Q.nparams);
    ck_assert_int_eq(max_param(Q.fallback_sql), Q.nparams);
}
END_TEST

START_TEST(user_text_never_in_sql)
{
    Todo__V1__ListTasksRequest r = TODO__V1__LIST_TASKS_REQUEST__INIT;
    char *evil[] = {"x'); DROP TABLE tasks; --"};
    r.search = "zz'; DELETE FROM tasks; --";
    r.n_tags_any = 1;
    r.tags_any = evil;
    ck_assert_int_eq(run(&r, "q' OR '1'='1", "0b7e6f4c-1d2a-4f3b-9c8d-7e6f5a4b3c2d", true), TD_OK);
    ck_assert_ptr_null(strstr(Q.sql, "DROP"));
    ck_assert_ptr_null(strstr(Q.sql, "DELETE"));
    ck_assert_ptr_null(strstr(Q.sql, "user42"));
    ck_assert_ptr_null(strstr(Q.sql, "'1'='1"));
    ck_assert_ptr_null(strstr(Q.count_sql, "DELETE"));
    ck_assert_int_eq(max_param(Q.sql), Q.nparams);
    r.order_by = TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_TITLE; /* PROBE plan */
    ck_assert_int_eq(run_big(&r, "q' OR '1'='1", "0b7e6f4c-1d2a-4f3b-9c8d-7e6f5a4b3c2d"), TD_OK);
    ck_assert_int_eq(Q.strategy, TD_TASK_PLAN_PROBE);
    ck_assert_ptr_null(strstr(Q.sql, "DROP"));
    ck_assert_ptr_null(strstr(Q.sql, "DELETE"));
    ck_assert_ptr_null(strstr(Q.sql, "user42"));
    ck_assert_ptr_null(strstr(Q.sql, "'1'='1"));
    ck_assert_int_eq(max_param(Q.sql), Q.nparams);
}
END_TEST

START_TEST(validation_names_field)
{
    Todo__V1__ListTasksRequest r = TODO__V1__LIST_TASKS_REQUEST__INIT;
    Todo__V1__Priority pr[] = {(Todo__V1__Priority)0};
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    char *empty[] = {""};
    static char big[300];

    r.n_priorities = 1;
    r.priorities = pr;
    ck_assert_int_eq(run(&r, NULL, NULL, false), TD_EINVAL);
    ck_assert_str_eq(FIELD, "priorities");
    pr[0] = (Todo__V1__Priority)9;
    ck_assert_int_eq(run(&r, NULL, NULL, false), TD_EINVAL);
    r.n_priorities = 0;

    r.completion = (Todo__V1__CompletionFilter)7;
    ck_assert_int_eq(run(&r, NULL, NULL, false), TD_EINVAL);
    ck_assert_str_eq(FIELD, "completion");
    r.completion = 0;

    r.order_by = (Todo__V1__TaskOrderBy)42;
    ck_assert_int_eq(run(&r, NULL, NULL, false), TD_EINVAL);
    ck_assert_str_eq(FIELD, "order_by");
    r.order_by = 0;

    r.n_tags_all = 1;
    r.tags_all = empty;
    ck_assert_int_eq(run(&r, NULL, NULL, false), TD_EINVAL);
    ck_assert_str_eq(FIELD, "tags_all");
    r.n_tags_all = 0;

    ts.seconds = 253402300800LL; /* 10000-01-01 */
    r.update_before = &ts;
    ck_assert_int_eq(run(&r, NULL, NULL, false), TD_EINVAL);
    ck_assert_str_eq(FIELD, "update_before");
    ts.seconds = 0;
    ts.nanos = -1;
    ck_assert_int_eq(run(&r, NULL, NULL, false), TD_EINVAL);
    r.update_before = NULL;

    memset(big, 'a', sizeof(big) - 1);
    r.search = big;
    ck_assert_int_eq(run(&r, NULL, NULL, false), TD_EINVAL);
    ck_assert_str_eq(FIELD, "search");
}
END_TEST

START_TEST(timestamps)
{
    char b[48];
    ck_assert_int_eq(td_task_query_timestamp_text(0, 0, b, sizeof(b)), 0);
    ck_assert_str_eq(b, "1970-01-01T00:00:00.000000Z");
    ck_assert_int_eq(td_task_query_timestamp_text(-62135596800LL, 0, b, sizeof(b)), 0);
    ck_assert_str_eq(b, "0001-01-01T00:00:00.000000Z");
    ck_assert_int_eq(td_task_query_timestamp_text(253402300799LL, 999999999, b, sizeof(b)), 0);
    ck_assert_str_eq(b, "9999-12-31T23:59:59.999999Z");
    ck_assert_int_eq(td_task_query_timestamp_text(-62135596801LL, 0, b, sizeof(b)), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("task_query");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, keyset_directions);
    tcase_add_test(tc, relevance);
    tcase_add_test(tc, punctuation_search_matches_nothing);
    tcase_add_test(tc, all_filters_and_count);
    tcase_add_test(tc, plan_choice);
    tcase_add_test(tc, probe_shape);
    tcase_add_test(tc, probe_relevance_shape);
    tcase_add_test(tc, week_keys);
    tcase_add_test(tc, user_text_never_in_sql);
    tcase_add_test(tc, validation_names_field);
    tcase_add_test(tc, timestamps);
    suite_add_tcase(s, tc);
    return td_check_run(s);
}
