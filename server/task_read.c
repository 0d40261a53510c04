/* task_read.c - GetTask and ListTasks handlers (see task_read.h).
 *
 * Invariants: every query is scoped by the JWT subject ($user parameter); the page token
 * is verified before any of its bytes are used; a next_page_token is issued only when
 * one more row than the page exists (LIMIT page_size + 1), so the last page has none.
 * Single exit per handler: the pooled connection and PGresults are released at `out:`.
 *
 * Big users: ListTasks picks its plan for tag/search filters by the user's size
 * (td_task_query_in.big_user, see task_query.h). The size comes from PostgreSQL's own
 * statistics: user ids among the most common values of tasks.user_id whose share times
 * the table's row estimate is >= BIG_USER_TASKS. A process-wide list, refreshed at most
 * every BIG_USER_TTL_MS by the ListTasks call that finds it stale (one query on pg_stats,
 * ~1 ms; other calls keep using the old list meanwhile). Only a plan hint: a stale or
 * empty list changes latency, never rows. Guarded by big_mu (any gRPC thread). */
#include "task_read.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "page_token.h"
#include "rpc/service.h"
#include "store/task_query.h"
#include "store/task_row.h"

static const char GET_SQL[] =
    "SELECT " TD_TASK_COLUMNS " FROM tasks t WHERE t.id = $1::uuid AND t.user_id = $2";

const td_pg_stmt td_task_read_stmts[] = {
    {.name = "td_task_get", .sql = GET_SQL, .nparams = 2, .idempotent = true},
};
const size_t td_task_read_nstmts = sizeof(td_task_read_stmts) / sizeof(td_task_read_stmts[0]);

#define BIG_USER_TASKS    "20000"
#define BIG_USER_MAX_TEXT "64"
enum { BIG_USER_MAX = 64, BIG_USER_TTL_MS = 60000 };

static const char BIG_USERS_SQL[] =
    "SELECT m.v FROM pg_stats s CROSS JOIN LATERAL "
    "unnest(s.most_common_vals::text::text[], s.most_common_freqs) AS m(v, f) "
    "JOIN pg_class c ON c.oid = 'tasks'::regclass "
    "WHERE s.schemaname = current_schema() AND s.tablename = 'tasks' "
    "AND s.attname = 'user_id' AND m.f * c.reltuples >= " BIG_USER_TASKS
    " LIMIT " BIG_USER_MAX_TEXT;

/* ListTasks pages by how their rows were found: td_list_pages_total{plan}, where a PROBE
 * page is "probe" when its walk answered and "probe_gin" when the fallback did. Set once
 * at registration, before any call; the counters are atomic. */
typedef enum {
    LIST_PLAN_WALK,
    LIST_PLAN_GIN,
    LIST_PLAN_PROBE,
    LIST_PLAN_PROBE_GIN,
    LIST_PLANS
} list_plan;
static const char *const list_plan_names[LIST_PLANS] = {"walk", "gin", "probe", "probe_gin"};
static td_metric_counter *list_pages[LIST_PLANS];

static pthread_mutex_t big_mu = PTHREAD_MUTEX_INITIALIZER;
static char *big_ids[BIG_USER_MAX]; /* owned here; replaced whole under big_mu */
static size_t big_n;
static int64_t big_at_ms = -1; /* last refresh (CLOCK_MONOTONIC), -1 = never */
static bool big_loading;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Refreshes the list when stale (on conn), then answers for `user`. */
static bool big_user(td_pg_conn *conn, const char *user)
{
    bool refresh = false, found = false;
    int64_t now = mono_ms();
    pthread_mutex_lock(&big_mu);
    if (!big_loading && (big_at_ms < 0 || now - big_at_ms >= BIG_USER_TTL_MS))
        refresh = big_loading = true;
    pthread_mutex_unlock(&big_mu);
    if (refresh) {
        char err[256];
        td_status st;
        char *ids[BIG_USER_MAX] = {NULL}, *old[BIG_USER_MAX];
        size_t n = 0, nold;
        PGresult *r = td_pg_exec_sql(conn, BIG_USERS_SQL, 0, NULL, &st, err, sizeof(err));
        for (int i = 0; r != NULL && i < PQntuples(r) && n < BIG_USER_MAX; i++)
            if ((ids[n] = strdup(PQgetvalue(r, i, 0))) != NULL)
                n++;
        PQclear(r);
        pthread_mutex_lock(&big_mu);
        memcpy(old, big_ids, sizeof(old));
        nold = big_n;
        memcpy(big_ids, ids, sizeof(ids));
        big_n = n;
        big_at_ms = now; /* also after a failure: retry after the TTL, not every call */
        big_loading = false;
        pthread_mutex_unlock(&big_mu);
        for (size_t i = 0; i < nold; i++)
            free(old[i]);
    }
    pthread_mutex_lock(&big_mu);
    for (size_t i = 0; i < big_n && !found; i++)
        found = strcmp(big_ids[i], user) == 0;
    pthread_mutex_unlock(&big_mu);
    return found;
}

/* GetTask's answer from its row (r may be NULL when st is an error); clears r. */
static td_status get_result(td_rpc_call *call, Todo__V1__Task *resp, PGresult *r, td_status st,
                            const char *err)
{
    if (st != TD_OK)
        st = td_store_fail(call, st, "get task", err);
    else if (PQntuples(r) == 0)
        st = td_rpc_call_fail(call, TD_ENOTFOUND, "task not found");
    else if ((st = td_task_from_row(r, 0, 0, td_rpc_call_arena(call), resp)) != TD_OK)
        st = td_store_fail(call, st, "get task", NULL);
    PQclear(r);
    return st;
}

typedef struct get_pending {
    td_rpc_call *call;
    Todo__V1__Task *resp;
} get_pending;

/* Runs on the pipelined sessions' I/O thread. */
static void get_done(void *arg, PGresult *r, td_status st, const char *err)
{
    get_pending *g = arg;
    td_rpc_call_complete(g->call, get_result(g->call, g->resp, r, st, err));
}

/* GetTask: on the pipelined read sessions when they are configured (the handler returns at
 * once and never blocks: it runs on the polling thread), else on a pooled connection. */
static td_status get_task(td_rpc_call *call, const ProtobufCMessage *req_msg,
                          ProtobufCMessage *resp_msg, void *svc)
{
    const Todo__V1__GetTaskRequest *req = (const Todo__V1__GetTaskRequest *)req_msg;
    Todo__V1__Task *resp = (Todo__V1__Task *)resp_msg;
    td_store *store = svc;
    td_pg_conn *conn = NULL;
    PGresult *r = NULL;
    unsigned char id[16];
    char err[256] = "";
    td_status st;
    const char *values[2] = {req->id, td_rpc_call_user(call)};
    get_pending *g;

    if (td_page_uuid_parse(req->id, id) != 0)
        return td_rpc_call_fail(call, TD_ENOTFOUND, "task not found");
    if (store->reads == NULL) {
        if ((conn = td_store_acquire(store, call)) == NULL)
            return TD_EUNAVAIL; /* the error is already on the call */
        r = td_pg_exec(conn, "td_task_get", 2, values, NULL, NULL, 0, &st, err, sizeof(err));
        td_store_release(store, conn);
        return get_result(call, resp, r, st, err);
    }
    if ((g = td_arena_alloc(td_rpc_call_arena(call), sizeof(*g))) == NULL)
        return td_rpc_call_fail(call, TD_ENOMEM, "out of memory");
    g->call = call;
    g->resp = resp;
    td_rpc_call_defer(call); /* before submitting: get_done may run before we return */
    st = td_store_read_async(store, "td_task_get", 2, values, get_done, g);
    if (st != TD_OK)
        td_rpc_call_complete(call,
                             td_store_fail(call, st, "get task", "no pipelined session is up"));
    return TD_PENDING;
}

/* Runs one of q's statements: prepared once per session, or sent with its values each
 * time (see td_task_query.prepare). */
static PGresult *list_exec(td_pg_conn *conn, const td_task_query *q, bool prepared, const char *sql,
                           int nparams, td_status *st, char *err, size_t cap)
{
    return (prepared ? td_pg_exec_cached : td_pg_exec_sql)(conn, sql, nparams, q->values, st, err,
                                                           cap);
}

/* Runs the page query of q; a PROBE page whose walk found too few rows is answered by
 * its fallback. *rows: the tasks in the result (a PROBE's row of NULLs excluded). */
static PGresult *list_page(td_pg_conn *conn, const td_task_query *q, int *rows, td_status *st,
                           char *err, size_t cap)
{
    list_plan plan = q->strategy == TD_TASK_PLAN_PROBE ? LIST_PLAN_PROBE
                     : q->strategy == TD_TASK_PLAN_GIN ? LIST_PLAN_GIN
                                                       : LIST_PLAN_WALK;
    PGresult *r = list_exec(conn, q, q->prepare, q->sql, q->nparams, st, err, cap);
    if (r != NULL && q->fallback_sql != NULL && PQntuples(r) > 0 &&
        PQgetvalue(r, 0, q->key_col + 1)[0] == 't') {
        PQclear(r);
        r = list_exec(conn, q, false, q->fallback_sql, q->nparams, st, err, cap);
        plan = LIST_PLAN_PROBE_GIN;
    }
    if (r == NULL)
        return NULL;
    *rows = PQntuples(r);
    if (q->fallback_sql != NULL && *rows == 1 && PQgetisnull(r, 0, 0))
        *rows = 0;
    td_metric_counter_inc(list_pages[plan]);
    return r;
}

/* Canonical bytes of what a page token is bound to: the request minus page_size,
 * page_token and include_total_size (which may change between pages). */
static td_status query_hash(td_rpc_call *call, const Todo__V1__ListTasksRequest *req,
                            unsigned char out[TD_PAGE_TOKEN_HASH_LEN])
{
    Todo__V1__ListTasksRequest c = *req;
    uint8_t *buf;
    size_t n;
    c.page_size = 0;
    c.page_token = (char *)protobuf_c_empty_string;
    c.include_total_size = 0;
    n = protobuf_c_message_get_packed_size(&c.base);
    buf = td_arena_alloc(td_rpc_call_arena(call), n + 1);
    if (buf == NULL)
        return TD_ENOMEM;
    protobuf_c_message_pack(&c.base, buf);
    td_page_token_query_hash(td_rpc_call_user(call), buf, n, out);
    return TD_OK;
}

static td_status list_tasks(td_rpc_call *call, const ProtobufCMessage *req_msg,
                            ProtobufCMessage *resp_msg, void *svc)
{
    const Todo__V1__ListTasksRequest *req = (const Todo__V1__ListTasksRequest *)req_msg;
    Todo__V1__ListTasksResponse *resp = (Todo__V1__ListTasksResponse *)resp_msg;
    td_store *store = svc;
    td_arena *a = td_rpc_call_arena(call);
    td_pg_conn *conn = NULL;
    PGresult *r = NULL, *cr = NULL;
    unsigned char qh[TD_PAGE_TOKEN_HASH_LEN];
    td_page_cursor cur = {0};
    td_task_query q;
    td_task_query_in in = {0};
    const char *bad_field = NULL, *bad_desc = NULL, *why = NULL;
    char err[256] = "";
    td_status st;
    int page_size = req->page_size, rows, shown;

    if (page_size < 0) {
        td_rpc_call_add_violation(call, "page_size", "must not be negative");
        st = td_rpc_call_fail(call, TD_EINVAL, "page_size: must not be negative");
        goto out;
    }
    if (page_size == 0)
        page_size = TD_TASK_PAGE_DEFAULT;
    if (page_size > TD_TASK_PAGE_MAX)
        page_size = TD_TASK_PAGE_MAX;
    if ((st = query_hash(call, req, qh)) != TD_OK) {
        st = td_rpc_call_fail(call, st, "out of memory");
        goto out;
    }
    if (req->page_token != NULL && req->page_token[0] != '\0') {
        st = td_page_token_decode(store->page_key, qh, req->page_token, a, &cur, &why);
        if (st == TD_EINVAL) {
            td_rpc_call_add_violation(call, "page_token", why);
            st = td_rpc_call_fail(call, TD_EINVAL, "page_token: %s", why);
            goto out;
        }
        if (st != TD_OK) {
            st = td_rpc_call_fail(call, st, "page_token: cannot decode");
            goto out;
        }
    }
    in.req = req;
    in.user = td_rpc_call_user(call);
    in.columns = TD_TASK_COLUMNS;
    in.ncolumns = TD_TASK_NCOLUMNS;
    in.page_size = page_size;
    in.after_key = cur.key;
    in.after_id = cur.key != NULL ? cur.id : NULL;
    in.with_count = req->include_total_size;
    in.now_seconds = (int64_t)time(NULL);
    st = td_task_query_build(&in, a, &q, &bad_field, &bad_desc);
    if (st == TD_EINVAL) {
        td_rpc_call_add_violation(call, bad_field, bad_desc);
        st = td_rpc_call_fail(call, TD_EINVAL, "%s: %s", bad_field, bad_desc);
        goto out;
    }
    if (st != TD_OK) {
        st = td_rpc_call_fail(call, st, "out of memory");
        goto out;
    }
    if (q.matches_nothing) { /* empty page, no next token, total 0: nothing to ask SQL */
        st = TD_OK;
        goto out;
    }

    if ((conn = td_store_acquire_list(store, call)) == NULL) {
        st = TD_EUNAVAIL;
        goto out;
    }
    /* Tag/search filters: a big user gets the PROBE plan, or GIN matches sorted as narrow
     * rows (same rows either way). The first build validated the request; this one cannot
     * fail on it. */
    if (q.strategy == TD_TASK_PLAN_GIN && big_user(conn, in.user)) {
        in.big_user = true;
        if ((st = td_task_query_build(&in, a, &q, &bad_field, &bad_desc)) != TD_OK) {
            st = td_rpc_call_fail(call, st == TD_ENOMEM ? st : TD_EINTERNAL, "list tasks");
            goto out;
        }
    }
    if ((r = list_page(conn, &q, &rows, &st, err, sizeof(err))) == NULL) {
        st = td_store_fail(call, st, "list tasks", err);
        goto out;
    }
    shown = rows > page_size ? page_size : rows;
    resp->tasks = td_arena_alloc(a, sizeof(*resp->tasks) * (size_t)(shown > 0 ? shown : 1));
    if (resp->tasks == NULL) {
        st = td_rpc_call_fail(call, TD_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < shown; i++) {
        Todo__V1__Task *t = td_arena_alloc(a, sizeof(*t));
        if (t == NULL) {
            st = td_rpc_call_fail(call, TD_ENOMEM, "out of memory");
            goto out;
        }
        todo__v1__task__init(t);
        if ((st = td_task_from_row(r, i, 0, a, t)) != TD_OK) {
            st = td_store_fail(call, st, "list tasks", NULL);
            goto out;
        }
        resp->tasks[resp->n_tasks++] = t;
    }
    if (rows > page_size && shown > 0) {
        const char *key = PQgetvalue(r, shown - 1, q.key_col);
        char *tok = td_page_token_encode(store->page_key, qh, key,
                                         (size_t)PQgetlength(r, shown - 1, q.key_col),
                                         PQgetvalue(r, shown - 1, 0), a, &st);
        if (tok == NULL) {
            st = td_store_fail(call, st == TD_EINVAL ? TD_EINTERNAL : st, "page token", NULL);
            goto out;
        }
        resp->next_page_token = tok;
    }
    if (q.count_sql != NULL) {
        long long total;
        cr = list_exec(conn, &q, q.prepare, q.count_sql, q.count_nparams, &st, err, sizeof(err));
        if (cr == NULL) {
            st = td_store_fail(call, st, "count tasks", err);
            goto out;
        }
        total = PQntuples(cr) == 1 ? strtoll(PQgetvalue(cr, 0, 0), NULL, 10) : 0;
        resp->total_size = total > INT32_MAX ? INT32_MAX : (int32_t)total;
    }
    st = TD_OK;
out:
    PQclear(cr);
    PQclear(r);
    td_store_release_list(store, conn);
    return st;
}

td_status td_task_read_register(td_rpc_method *methods, size_t n, td_store *store,
                                td_metrics *metrics)
{
    for (int i = 0; i < LIST_PLANS && metrics != NULL; i++) {
        const char *plan[] = {list_plan_names[i]};
        list_pages[i] =
            td_metrics_counter_labels(metrics, "td_list_pages_total",
                                      "ListTasks pages by how their rows were found", "plan", plan);
    }
    td_status st =
        td_rpc_methods_set_unary(methods, n, "todo.v1.TaskService", "GetTask", get_task, store);
    if (st == TD_OK && store->reads != NULL)
        st = td_rpc_methods_add_flags(methods, n, "todo.v1.TaskService", "GetTask",
                                      TD_RPC_NONBLOCKING);
    if (st == TD_OK)
        st = td_rpc_methods_set_unary(methods, n, "todo.v1.TaskService", "ListTasks", list_tasks,
                                      store);
    return st;
}
