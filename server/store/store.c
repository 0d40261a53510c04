/* store.c - the server's PostgreSQL access (contract in store.h): one pool whose
 * connections carry every store module's prepared statements, call-scoped acquisition
 * bounded by the gRPC deadline, the one place that turns store errors into client-safe
 * gRPC errors, and the page-token key.
 *
 * Statement registry = td_task_stmts + td_changes_stmts + td_tag_stmts +
 * td_task_read_stmts (the last two when their headers are built in), concatenated once
 * at start-up into s->stmts, which outlives the pool (pg.h borrows it).
 * Threads: acquire/release/fail run on handler threads; the pool is thread-safe. */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/log.h"
#include "store/changes.h"
#include "store/task_store.h"

#if defined(__has_include)
#if __has_include("store/tag_store.h")
#include "store/tag_store.h"
#define TD_HAVE_TAG_STMTS 1
#endif
#if __has_include("task_read.h")
#include "task_read.h"
#define TD_HAVE_TASK_READ_STMTS 1
#endif
#endif

#define LOG_COMP           "store"
#define ACQUIRE_DEFAULT_MS 5000
#define PAGE_KEY_LABEL     "todo page tokens v1"

static td_status registry_build(td_store *s)
{
    struct {
        const td_pg_stmt *v;
        size_t n;
    } parts[] = {
        {td_task_stmts, td_task_nstmts},
        {td_changes_stmts, td_changes_nstmts},
#ifdef TD_HAVE_TAG_STMTS
        {td_tag_stmts, td_tag_nstmts},
#endif
#ifdef TD_HAVE_TASK_READ_STMTS
        {td_task_read_stmts, td_task_read_nstmts},
#endif
    };
    size_t total = 0, k = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        total += parts[i].n;
    s->stmts = calloc(total ? total : 1, sizeof(*s->stmts));
    if (s->stmts == NULL)
        return TD_ENOMEM;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        for (size_t j = 0; j < parts[i].n; j++) {
            /* A duplicate name would silently shadow another module's statement. */
            for (size_t m = 0; m < k; m++)
                if (strcmp(s->stmts[m].name, parts[i].v[j].name) == 0)
                    return TD_EINTERNAL;
            s->stmts[k++] = parts[i].v[j];
        }
    s->nstmts = k;
    return TD_OK;
}

td_store *td_store_new(const char *db_url, size_t pool_size, size_t list_size, size_t read_conns,
                       const unsigned char *secret, size_t secret_len, char *err, size_t err_cap)
{
    td_store *s = calloc(1, sizeof(*s));
    td_status st;
    unsigned int klen = 0;

    if (s == NULL) {
        snprintf(err, err_cap, "store: out of memory");
        goto fail;
    }
    st = registry_build(s);
    if (st != TD_OK) {
        snprintf(err, err_cap, "store: %s",
                 st == TD_ENOMEM ? "out of memory" : "duplicate statement name");
        goto fail;
    }
    if (secret != NULL && secret_len > 0) {
        if (HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)PAGE_KEY_LABEL,
                 strlen(PAGE_KEY_LABEL), s->page_key, &klen) == NULL ||
            klen != sizeof(s->page_key)) {
            snprintf(err, err_cap, "store: cannot derive the page-token key");
            goto fail;
        }
    } else if (getrandom(s->page_key, sizeof(s->page_key), 0) != (ssize_t)sizeof(s->page_key)) {
        snprintf(err, err_cap, "store: no entropy for the page-token key");
        goto fail;
    }
    s->pool = td_pg_pool_new(db_url, pool_size, s->stmts, s->nstmts, err, err_cap);
    if (s->pool == NULL)
        goto fail;
    s->lists = td_pg_pool_new(db_url, list_size, s->stmts, s->nstmts, err, err_cap);
    if (s->lists == NULL)
        goto fail;
    if (read_conns > 0) {
        s->reads = td_pg_async_new(db_url, s->stmts, s->nstmts, read_conns,
                                   TD_STORE_READ_TIMEOUT_MS, err, err_cap);
        if (s->reads == NULL)
            goto fail;
    }
    return s;
fail:
    td_store_destroy(s);
    return NULL;
}

void td_store_destroy(td_store *s)
{
    if (s == NULL)
        return;
    td_pg_async_destroy(s->reads);
    td_pg_pool_destroy(s->lists);
    td_pg_pool_destroy(s->pool);
    free(s->stmts);
    memset(s->page_key, 0, sizeof(s->page_key));
    free(s);
}

td_status td_store_read_async(td_store *s, const char *stmt, int nparams, const char *const *values,
                              td_pg_async_fn fn, void *arg)
{
    if (s->reads == NULL)
        return TD_EUNAVAIL;
    return td_pg_async_submit(s->reads, stmt, nparams, values, fn, arg);
}

void td_store_stop_reads(void *store)
{
    td_store *s = store;
    td_pg_async_stop(s->reads);
}

static td_pg_conn *acquire_from(td_pg_pool *pool, td_rpc_call *call)
{
    td_status st = TD_OK;
    int64_t left = td_rpc_call_deadline_left_ms(call);
    int wait_ms = ACQUIRE_DEFAULT_MS;
    td_pg_conn *c;

    if (left <= 0) {
        td_rpc_call_fail(call, TD_EDEADLINE, "deadline exceeded");
        return NULL;
    }
    if (left < wait_ms)
        wait_ms = (int)left;
    c = td_pg_pool_acquire(pool, wait_ms, &st);
    if (c == NULL) {
        if (left <= ACQUIRE_DEFAULT_MS)
            td_rpc_call_fail(call, TD_EDEADLINE, "deadline exceeded waiting for the database");
        else
            td_rpc_call_fail(call, TD_EUNAVAIL, "database busy, retry");
        return NULL;
    }
    td_pg_conn_set_deadline(c, left > (int64_t)60000 ? 0 : (int)left);
    return c;
}

td_pg_conn *td_store_acquire(td_store *s, td_rpc_call *call)
{
    return acquire_from(s->pool, call);
}

td_pg_conn *td_store_acquire_list(td_store *s, td_rpc_call *call)
{
    return acquire_from(s->lists, call);
}

void td_store_release(td_store *s, td_pg_conn *conn)
{
    if (s != NULL && conn != NULL)
        td_pg_pool_release(s->pool, conn);
}

void td_store_release_list(td_store *s, td_pg_conn *conn)
{
    if (s != NULL && conn != NULL)
        td_pg_pool_release(s->lists, conn);
}

td_status td_store_fail(td_rpc_call *call, td_status st, const char *what, const char *pg_err)
{
    const char *cid = td_rpc_call_cid(call);
    switch (st) {
    case TD_EUNAVAIL:
        td_log(TD_LOG_WARN, LOG_COMP, cid, "%s: %s", what, pg_err ? pg_err : "");
        return td_rpc_call_fail(call, st, "database unavailable, retry");
    case TD_EDEADLINE:
        return td_rpc_call_fail(call, st, "deadline exceeded");
    case TD_ECONFLICT:
        /* 40001/40P01/55P03 or a lost race: the client may retry. */
        return td_rpc_call_fail(call, st, "%s: concurrent modification, retry", what);
    case TD_ENOTFOUND:
        return td_rpc_call_fail(call, st, "%s: not found", what);
    case TD_EEXIST:
        return td_rpc_call_fail(call, st, "%s: already exists", what);
    case TD_EINVAL:
        td_log(TD_LOG_INFO, LOG_COMP, cid, "%s: rejected by the database: %s", what,
               pg_err ? pg_err : "");
        return td_rpc_call_fail(call, st, "%s: invalid argument", what);
    case TD_ELIMIT:
    case TD_ENOMEM:
        td_log(TD_LOG_WARN, LOG_COMP, cid, "%s: %s (%s)", what, td_strerror(st),
               pg_err ? pg_err : "");
        return td_rpc_call_fail(call, st, "%s: resource exhausted", what);
    default:
        td_log(TD_LOG_ERROR, LOG_COMP, cid, "%s: %s: %s", what, td_strerror(st),
               pg_err ? pg_err : "");
        return td_rpc_call_fail(call, TD_EINTERNAL, "internal error");
    }
}
