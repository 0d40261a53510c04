/* pg.c - reconnecting libpq connection, pipeline helper, pool, health ping.
 *
 * Owns: td_pg_conn (PGconn + URL copy + session state), td_pg_pool (array of conns,
 * free stack, mutex + condvar). The statement registry is borrowed from the caller.
 *
 * Session state kept per connection, reset on every new session:
 *   - prepared: every registry statement is prepared right after connect;
 *   - timeout_set: the statement_timeout (ms) the session runs with (-1 = unknown);
 *   - generation: counts sessions, so callers and tests can observe reconnects;
 *   - sql cache: ad-hoc SQL prepared on this session (td_pg_exec_cached), LRU.
 *
 * Reconnect policy (see pg.h): before sending, an idle session whose socket is readable
 * is checked (a restarted server leaves a FATAL/EOF there), so a stale session is
 * replaced before a write is sent on it; after a failure with the session gone, only an
 * idempotent statement outside a transaction is re-sent, once.
 *
 * Threads: a td_pg_conn is used by one thread at a time; the pool's free list is
 * guarded by pool->mu. */
#include "pg/pg.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

#define LOG_COMP "pg"

/* Ad-hoc statements kept prepared per session. Bounds the backend's memory (a plan of a
 * ListTasks page is tens of kB) and this process's (a copy of each SQL text). */
#define TD_PG_SQL_CACHE 32

typedef struct sql_entry {
    char *sql;        /* owned copy; NULL = free slot */
    uint64_t hash;    /* of sql */
    uint64_t used;    /* pc_sql_clock at the last use (LRU) */
    unsigned long id; /* statement name "td_sql_<id>" */
} sql_entry;

struct td_pg_conn {
    PGconn *pc_conn;
    char *pc_url;
    const td_pg_stmt *pc_stmts; /* borrowed */
    size_t pc_nstmts;
    unsigned long pc_generation;
    int pc_timeout_want; /* bucketed ms, 0 = none */
    int pc_timeout_set;  /* what the session has, -1 = unknown */
    bool pc_prepared;
    bool pc_needs_reset; /* left mid-command: reconnect before reuse */
    sql_entry pc_sql[TD_PG_SQL_CACHE];
    uint64_t pc_sql_clock;
    unsigned long pc_sql_next_id;
};

struct td_pg_pool {
    pthread_mutex_t pp_mu;
    pthread_cond_t pp_cv;
    td_pg_conn **pp_conns; /* all connections */
    td_pg_conn **pp_free;  /* stack of idle connections */
    size_t pp_size;
    size_t pp_nfree;
};

/* ------------------------------------------------------------------------------------
 * Pure helpers */

td_status td_pg_sqlstate_status(const char *s)
{
    if (s == NULL || strlen(s) != 5)
        return TD_EINTERNAL;
    if (strcmp(s, "23505") == 0)
        return TD_EEXIST;
    if (strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0 || strcmp(s, "55P03") == 0)
        return TD_ECONFLICT;
    if (strcmp(s, "57014") == 0)
        return TD_EDEADLINE;
    if (strcmp(s, "23502") == 0 || strcmp(s, "23514") == 0 || strncmp(s, "22", 2) == 0)
        return TD_EINVAL;
    if (strcmp(s, "23503") == 0)
        return TD_ENOTFOUND;
    if (strncmp(s, "08", 2) == 0 || strncmp(s, "53", 2) == 0 || strncmp(s, "57P0", 4) == 0 ||
        strcmp(s, "40003") == 0)
        return TD_EUNAVAIL;
    if (strncmp(s, "54", 2) == 0)
        return TD_ELIMIT;
    return TD_EINTERNAL;
}

int td_pg_timeout_bucket(int ms)
{
    static const int ladder[] = {100, 250, 500, 1000, 2000, 5000, 10000, 30000, 60000};
    int out = 0;
    if (ms <= 0)
        goto out;
    for (size_t i = 0; i < sizeof ladder / sizeof ladder[0]; i++) {
        if (ms <= ladder[i]) {
            out = ladder[i];
            goto out;
        }
    }
    out = 0; /* beyond a minute: no statement bound, the call deadline still applies */
out:
    return out;
}

/* ------------------------------------------------------------------------------------
 * Messages */

/* Copies the first line of msg (PostgreSQL's primary message or libpq's text). */
static void put_first_line(char *err, size_t cap, const char *prefix, const char *msg,
                           const char *sqlstate)
{
    size_t len;
    if (err == NULL || cap == 0)
        return;
    if (msg == NULL || *msg == '\0')
        msg = "unknown error";
    if (strncmp(msg, "ERROR:  ", 8) == 0 || strncmp(msg, "FATAL:  ", 8) == 0)
        msg += 8;
    len = strcspn(msg, "\n");
    if (sqlstate != NULL && *sqlstate != '\0')
        snprintf(err, cap, "%s: %.*s (SQLSTATE %s)", prefix, (int)len, msg, sqlstate);
    else
        snprintf(err, cap, "%s: %.*s", prefix, (int)len, msg);
}

static void set_err(char *err, size_t cap, const char *msg)
{
    if (err != NULL && cap > 0)
        snprintf(err, cap, "%s", msg);
}

/* ------------------------------------------------------------------------------------
 * Connection */

/* Forgets the session's ad-hoc statements (they die with the session). */
static void sql_cache_clear(td_pg_conn *c)
{
    for (size_t i = 0; i < TD_PG_SQL_CACHE; i++) {
        free(c->pc_sql[i].sql);
        c->pc_sql[i].sql = NULL;
    }
}

static void conn_drop(td_pg_conn *c)
{
    sql_cache_clear(c);
    if (c->pc_conn != NULL)
        PQfinish(c->pc_conn);
    c->pc_conn = NULL;
    c->pc_prepared = false;
    c->pc_timeout_set = -1;
    c->pc_needs_reset = false;
}

/* Notices arrive here instead of stderr. A FATAL one received while idle is the server
 * closing the session (shutdown, restart, pg_terminate_backend): libpq reports it as a
 * notice and keeps CONNECTION_OK until it reads EOF, so remember to replace the session. */
static void notice_receiver(void *arg, const PGresult *r)
{
    td_pg_conn *c = arg;
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

    if (sev != NULL && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0)) {
        c->pc_needs_reset = true;
        td_log_warn(LOG_COMP, "server ended the session: %s", msg ? msg : "");
    } else {
        td_log_debug(LOG_COMP, "notice: %s", msg ? msg : "");
    }
}

bool td_pg_conn_ok(const td_pg_conn *c)
{
    return c != NULL && c->pc_conn != NULL && c->pc_prepared && !c->pc_needs_reset &&
           PQstatus(c->pc_conn) == CONNECTION_OK;
}

td_status td_pg_conn_connect(td_pg_conn *c, char *err, size_t cap)
{
    /* connect_timeout comes before dbname so that a value in the URL wins. */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const vals[] = {"5", "todo", c->pc_url, NULL};
    td_status st = TD_OK;
    PGresult *r = NULL;

    if (td_pg_conn_ok(c))
        goto out;
    conn_drop(c);
    c->pc_conn = PQconnectdbParams(keys, vals, 1);
    if (c->pc_conn == NULL) {
        st = TD_ENOMEM;
        set_err(err, cap, "connect: out of memory");
        goto out;
    }
    if (PQstatus(c->pc_conn) != CONNECTION_OK) {
        st = TD_EUNAVAIL;
        put_first_line(err, cap, "connect", PQerrorMessage(c->pc_conn), NULL);
        goto out;
    }
    PQsetNoticeReceiver(c->pc_conn, notice_receiver, c);
    for (size_t i = 0; i < c->pc_nstmts; i++) {
        const td_pg_stmt *s = &c->pc_stmts[i];
        r = PQprepare(c->pc_conn, s->name, s->sql, s->nparams, NULL);
        if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
            const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
            char prefix[128];
            snprintf(prefix, sizeof prefix, "prepare %s", s->name);
            put_first_line(err, cap, prefix,
                           r ? PQresultErrorMessage(r) : PQerrorMessage(c->pc_conn), state);
            st = PQstatus(c->pc_conn) == CONNECTION_OK ? TD_EINTERNAL : TD_EUNAVAIL;
            goto out;
        }
        PQclear(r);
        r = NULL;
    }
    c->pc_prepared = true;
    c->pc_timeout_set = 0; /* the server default; a role/database default is not tracked */
    c->pc_generation++;
    if (c->pc_generation > 1)
        td_log_info(LOG_COMP, "reconnected to PostgreSQL (session %lu)", c->pc_generation);
out:
    PQclear(r);
    if (st != TD_OK && c->pc_conn != NULL)
        conn_drop(c);
    return st;
}

void td_pg_conn_close(td_pg_conn *c)
{
    if (c != NULL)
        conn_drop(c);
}

td_pg_conn *td_pg_conn_new(const char *url, const td_pg_stmt *stmts, size_t nstmts, char *err,
                           size_t cap)
{
    td_pg_conn *c = NULL;
    PQconninfoOption *opts = NULL;
    char *perr = NULL;

    if (url == NULL || (stmts == NULL && nstmts > 0)) {
        set_err(err, cap, "pg: missing URL or statement table");
        goto out;
    }
    opts = PQconninfoParse(url, &perr);
    if (opts == NULL) {
        /* perr may quote the URL; report only that it is malformed. */
        set_err(err, cap, perr ? "database URL is malformed" : "pg: out of memory");
        goto out;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL || (c->pc_url = strdup(url)) == NULL) {
        set_err(err, cap, "pg: out of memory");
        free(c);
        c = NULL;
        goto out;
    }
    c->pc_stmts = stmts;
    c->pc_nstmts = nstmts;
    c->pc_timeout_set = -1;
    /* A failed first connect is not fatal: the next exec retries. */
    if (td_pg_conn_connect(c, err, cap) != TD_OK)
        td_log_warn(LOG_COMP, "PostgreSQL not reachable yet: %s", err ? err : "");
    if (err != NULL && cap > 0)
        err[0] = '\0';
out:
    PQconninfoFree(opts);
    PQfreemem(perr);
    return c;
}

void td_pg_conn_destroy(td_pg_conn *c)
{
    if (c == NULL)
        return;
    conn_drop(c);
    if (c->pc_url != NULL) {
        /* The URL may hold a password: do not leave it in freed memory. */
        explicit_bzero(c->pc_url, strlen(c->pc_url));
        free(c->pc_url);
    }
    free(c);
}

PGconn *td_pg_conn_raw(td_pg_conn *c)
{
    return c ? c->pc_conn : NULL;
}

unsigned long td_pg_conn_generation(const td_pg_conn *c)
{
    return c ? c->pc_generation : 0;
}

bool td_pg_in_transaction(const td_pg_conn *c)
{
    PGTransactionStatusType t;
    if (c == NULL || c->pc_conn == NULL)
        return false;
    t = PQtransactionStatus(c->pc_conn);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

void td_pg_conn_set_deadline(td_pg_conn *c, int ms)
{
    c->pc_timeout_want = td_pg_timeout_bucket(ms);
}

/* An idle session whose socket has something to read was most likely closed by the
 * server (restart, idle kill). Consume it; drop the session if it is dead. */
static void conn_check_idle(td_pg_conn *c)
{
    struct pollfd pfd;
    if (c->pc_conn == NULL || PQstatus(c->pc_conn) != CONNECTION_OK)
        return;
    if (PQtransactionStatus(c->pc_conn) != PQTRANS_IDLE)
        return;
    pfd.fd = PQsocket(c->pc_conn);
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (pfd.fd < 0 || poll(&pfd, 1, 0) <= 0)
        return;
    /* PQisBusy parses what was read, so a FATAL notice reaches notice_receiver. */
    if (PQconsumeInput(c->pc_conn) == 0 || (PQisBusy(c->pc_conn), false) ||
        PQstatus(c->pc_conn) != CONNECTION_OK || c->pc_needs_reset) {
        td_log_warn(LOG_COMP, "PostgreSQL session lost while idle; reconnecting");
        conn_drop(c);
        return;
    }
    /* Stray notifications on a pool connection are not ours to keep. */
    for (PGnotify *n = PQnotifies(c->pc_conn); n != NULL; n = PQnotifies(c->pc_conn))
        PQfreemem(n);
}

/* Makes the session usable and applies the wanted statement_timeout. */
static td_status conn_ensure(td_pg_conn *c, char *err, size_t cap)
{
    td_status st = TD_OK;
    PGresult *r = NULL;
    char val[16];
    const char *params[1];

    /* Two rounds: a session found dead while setting the timeout is replaced once. */
    for (int round = 0; round < 2; round++) {
        if (c->pc_needs_reset || (c->pc_conn != NULL && PQstatus(c->pc_conn) != CONNECTION_OK))
            conn_drop(c);
        conn_check_idle(c);
        st = td_pg_conn_connect(c, err, cap);
        if (st != TD_OK)
            goto out;
        if (c->pc_timeout_set == c->pc_timeout_want ||
            PQtransactionStatus(c->pc_conn) != PQTRANS_IDLE)
            goto out;
        snprintf(val, sizeof val, "%d", c->pc_timeout_want);
        params[0] = val;
        r = PQexecParams(c->pc_conn, "SELECT set_config('statement_timeout', $1, false)", 1, NULL,
                         params, NULL, NULL, 0);
        if (r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK) {
            c->pc_timeout_set = c->pc_timeout_want;
            goto out;
        }
        st = PQstatus(c->pc_conn) == CONNECTION_OK ? TD_EINTERNAL : TD_EUNAVAIL;
        put_first_line(err, cap, "statement_timeout",
                       r ? PQresultErrorMessage(r) : PQerrorMessage(c->pc_conn), NULL);
        PQclear(r);
        r = NULL;
        if (st != TD_EUNAVAIL)
            goto out;
        conn_drop(c);
    }
out:
    PQclear(r);
    return st;
}

const td_pg_stmt *td_pg_stmt_find(const td_pg_stmt *stmts, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(stmts[i].name, name) == 0)
            return &stmts[i];
    return NULL;
}

/* Classifies a finished result. Takes ownership of r: returns it on success, else
 * clears it and returns NULL with *st and err set. */
static PGresult *result_check(td_pg_conn *c, PGresult *r, const char *what, td_status *st,
                              char *err, size_t cap)
{
    ExecStatusType es = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    const char *state = NULL;

    if (es == PGRES_TUPLES_OK || es == PGRES_COMMAND_OK) {
        *st = TD_OK;
        return r;
    }
    if (c->pc_conn == NULL || PQstatus(c->pc_conn) != CONNECTION_OK) {
        *st = TD_EUNAVAIL;
        put_first_line(err, cap, what, c->pc_conn ? PQerrorMessage(c->pc_conn) : "no session",
                       NULL);
    } else if (r == NULL) {
        *st = TD_EINTERNAL;
        put_first_line(err, cap, what, PQerrorMessage(c->pc_conn), NULL);
    } else {
        state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        *st = td_pg_sqlstate_status(state);
        put_first_line(err, cap, what, PQresultErrorMessage(r), state);
    }
    PQclear(r);
    return NULL;
}

PGresult *td_pg_exec(td_pg_conn *c, const char *stmt, int nparams, const char *const *values,
                     const int *lengths, const int *formats, int result_format, td_status *st,
                     char *err, size_t cap)
{
    const td_pg_stmt *s = td_pg_stmt_find(c->pc_stmts, c->pc_nstmts, stmt);
    PGresult *r = NULL;
    bool was_idle;

    if (s == NULL || nparams != s->nparams) {
        *st = TD_EINTERNAL;
        snprintf(err, cap, "%s: unknown statement or wrong parameter count", stmt);
        goto out;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        *st = conn_ensure(c, err, cap);
        if (*st != TD_OK)
            goto out;
        was_idle = PQtransactionStatus(c->pc_conn) == PQTRANS_IDLE;
        r = PQexecPrepared(c->pc_conn, s->name, nparams, values, lengths, formats, result_format);
        r = result_check(c, r, s->name, st, err, cap);
        if (r != NULL || *st != TD_EUNAVAIL)
            goto out;
        /* The session broke with the statement in flight: its effect is unknown. */
        conn_drop(c);
        if (!s->idempotent || !was_idle)
            goto out;
        td_log_warn(LOG_COMP, "%s: session lost, retrying once", s->name);
    }
out:
    return r;
}

PGresult *td_pg_exec_sql(td_pg_conn *c, const char *sql, int nparams, const char *const *values,
                         td_status *st, char *err, size_t cap)
{
    PGresult *r = NULL;

    *st = conn_ensure(c, err, cap);
    if (*st != TD_OK)
        goto out;
    r = PQexecParams(c->pc_conn, sql, nparams, NULL, values, NULL, NULL, 0);
    r = result_check(c, r, "sql", st, err, cap);
    if (r == NULL && *st == TD_EUNAVAIL)
        conn_drop(c);
out:
    return r;
}

static uint64_t sql_hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The slot holding `sql` on this session, else one to prepare it in: a free slot, or
 * the least recently used one after DEALLOCATE (its name is ours, never user text). */
static sql_entry *sql_cache_slot(td_pg_conn *c, const char *sql, uint64_t h, bool *hit)
{
    sql_entry *victim = &c->pc_sql[0];
    char cmd[64];

    for (size_t i = 0; i < TD_PG_SQL_CACHE; i++) {
        sql_entry *e = &c->pc_sql[i];
        if (e->sql != NULL && e->hash == h && strcmp(e->sql, sql) == 0) {
            *hit = true;
            return e;
        }
        if (victim->sql != NULL && (e->sql == NULL || e->used < victim->used))
            victim = e;
    }
    *hit = false;
    if (victim->sql != NULL) {
        snprintf(cmd, sizeof cmd, "DEALLOCATE td_sql_%lu", victim->id);
        PQclear(PQexec(c->pc_conn, cmd)); /* a failure leaves the session to result_check */
        free(victim->sql);
        victim->sql = NULL;
    }
    return victim;
}

PGresult *td_pg_exec_cached(td_pg_conn *c, const char *sql, int nparams, const char *const *values,
                            td_status *st, char *err, size_t cap)
{
    uint64_t h = sql_hash(sql);
    PGresult *r = NULL;
    sql_entry *e;
    char name[32];
    bool hit;

    if ((*st = conn_ensure(c, err, cap)) != TD_OK)
        goto out;
    e = sql_cache_slot(c, sql, h, &hit);
    if (!hit)
        e->id = ++c->pc_sql_next_id; /* names are never reused within a session */
    snprintf(name, sizeof name, "td_sql_%lu", e->id);
    if (!hit) {
        r = result_check(c, PQprepare(c->pc_conn, name, sql, nparams, NULL), "prepare sql", st, err,
                         cap);
        if (r == NULL)
            goto out;
        PQclear(r);
        if ((e->sql = strdup(sql)) == NULL) {
            /* Unknown to the cache yet prepared: it only occupies the session until it ends. */
            *st = TD_ENOMEM;
            set_err(err, cap, "sql cache: out of memory");
            r = NULL;
            goto out;
        }
        e->hash = h;
    }
    e->used = ++c->pc_sql_clock;
    r = result_check(c, PQexecPrepared(c->pc_conn, name, nparams, values, NULL, NULL, 0), "sql", st,
                     err, cap);
out:
    if (r == NULL && *st == TD_EUNAVAIL) /* also after a failed conn_ensure: a no-op then */
        conn_drop(c);
    return r;
}

/* BEGIN/COMMIT/ROLLBACK carry no values: a plain PQexec is parameter-free SQL. */
static td_status exec_simple(td_pg_conn *c, const char *sql, char *err, size_t cap)
{
    td_status st = TD_OK;
    PGresult *r = PQexec(c->pc_conn, sql);
    r = result_check(c, r, sql, &st, err, cap);
    PQclear(r);
    if (st == TD_EUNAVAIL)
        conn_drop(c);
    return st;
}

td_status td_pg_begin(td_pg_conn *c, char *err, size_t cap)
{
    td_status st = conn_ensure(c, err, cap);
    if (st == TD_OK)
        st = exec_simple(c, "BEGIN", err, cap);
    return st;
}

td_status td_pg_commit(td_pg_conn *c, char *err, size_t cap)
{
    td_status st = TD_OK;
    if (c->pc_conn == NULL || PQstatus(c->pc_conn) != CONNECTION_OK) {
        set_err(err, cap, "COMMIT: session lost; transaction rolled back");
        st = TD_EUNAVAIL;
        goto out;
    }
    if (PQtransactionStatus(c->pc_conn) == PQTRANS_INERROR) {
        /* COMMIT of a failed transaction reports success but rolls back. */
        exec_simple(c, "ROLLBACK", NULL, 0);
        set_err(err, cap, "COMMIT: transaction had failed; rolled back");
        st = TD_EINTERNAL;
        goto out;
    }
    st = exec_simple(c, "COMMIT", err, cap);
out:
    return st;
}

td_status td_pg_rollback(td_pg_conn *c)
{
    td_status st = TD_OK;
    if (c == NULL || c->pc_conn == NULL || PQstatus(c->pc_conn) != CONNECTION_OK)
        goto out; /* no session: the server rolled back */
    if (PQtransactionStatus(c->pc_conn) == PQTRANS_IDLE)
        goto out;
    if (PQtransactionStatus(c->pc_conn) == PQTRANS_ACTIVE) {
        c->pc_needs_reset = true;
        goto out;
    }
    st = exec_simple(c, "ROLLBACK", NULL, 0);
    if (st == TD_EUNAVAIL)
        st = TD_OK;
out:
    return st;
}

/* ------------------------------------------------------------------------------------
 * Pipeline */

td_status td_pg_pipeline(td_pg_conn *c, const td_pg_call *calls, size_t n, PGresult **results,
                         size_t *failed_at, char *err, size_t cap)
{
    td_status st = TD_OK, cst = TD_OK;
    size_t first_fail = n;
    bool in_pipeline = false;
    PGresult *r = NULL;

    for (size_t i = 0; i < n; i++)
        results[i] = NULL;
    for (size_t i = 0; i < n; i++) {
        const td_pg_stmt *s = td_pg_stmt_find(c->pc_stmts, c->pc_nstmts, calls[i].stmt);
        if (s == NULL || s->nparams != calls[i].nparams) {
            st = TD_EINTERNAL;
            first_fail = i;
            snprintf(err, cap, "%s: unknown statement or wrong parameter count", calls[i].stmt);
            goto out;
        }
    }
    st = conn_ensure(c, err, cap);
    if (st != TD_OK)
        goto out;
    if (PQtransactionStatus(c->pc_conn) != PQTRANS_IDLE) {
        st = TD_EINTERNAL;
        set_err(err, cap, "pipeline: called inside a transaction");
        goto out;
    }
    if (PQenterPipelineMode(c->pc_conn) != 1) {
        st = TD_EINTERNAL;
        put_first_line(err, cap, "pipeline", PQerrorMessage(c->pc_conn), NULL);
        goto out;
    }
    in_pipeline = true;
    for (size_t i = 0; i < n; i++) {
        const td_pg_call *k = &calls[i];
        if (PQsendQueryPrepared(c->pc_conn, k->stmt, k->nparams, k->values, k->lengths, k->formats,
                                k->result_format) != 1 ||
            ((k->sync_after || i + 1 == n) && PQpipelineSync(c->pc_conn) != 1)) {
            st = PQstatus(c->pc_conn) == CONNECTION_OK ? TD_EINTERNAL : TD_EUNAVAIL;
            first_fail = i;
            put_first_line(err, cap, k->stmt, PQerrorMessage(c->pc_conn), NULL);
            goto out;
        }
    }
    /* Per query: one result (or PIPELINE_ABORTED) then NULL; per Sync: PIPELINE_SYNC.
     * A blocking PQgetResult flushes what is still buffered. */
    for (size_t i = 0; i < n; i++) {
        bool first = first_fail == n;
        r = PQgetResult(c->pc_conn);
        if (r != NULL && PQresultStatus(r) == PGRES_PIPELINE_ABORTED) {
            PQclear(r); /* skipped: its segment failed earlier; results[i] stays NULL */
            cst = TD_OK;
        } else {
            results[i] =
                result_check(c, r, calls[i].stmt, &cst, first ? err : NULL, first ? cap : 0);
        }
        r = NULL;
        if (cst != TD_OK && first) {
            st = cst;
            first_fail = i;
        }
        if (cst == TD_EUNAVAIL)
            goto out;
        r = PQgetResult(c->pc_conn); /* the NULL that ends query i */
        if (r != NULL)
            goto protocol;
        if (calls[i].sync_after || i + 1 == n) {
            r = PQgetResult(c->pc_conn);
            if (r == NULL || PQresultStatus(r) != PGRES_PIPELINE_SYNC)
                goto protocol;
            PQclear(r);
            r = NULL;
        }
    }
    goto out;
protocol:
    if (first_fail == n) {
        st = PQstatus(c->pc_conn) == CONNECTION_OK ? TD_EINTERNAL : TD_EUNAVAIL;
        first_fail = 0;
        put_first_line(err, cap, "pipeline", r ? PQresultErrorMessage(r) : "unexpected result",
                       NULL);
    }
    c->pc_needs_reset = true; /* out of step with the server: never reuse this session */
out:
    PQclear(r);
    if (in_pipeline && c->pc_conn != NULL && PQexitPipelineMode(c->pc_conn) != 1)
        c->pc_needs_reset = true; /* results left unread */
    if (c->pc_conn != NULL && (c->pc_needs_reset || PQstatus(c->pc_conn) != CONNECTION_OK))
        conn_drop(c);
    if (failed_at != NULL)
        *failed_at = first_fail;
    return st;
}

/* ------------------------------------------------------------------------------------
 * Pool */

td_pg_pool *td_pg_pool_new(const char *url, size_t size, const td_pg_stmt *stmts, size_t nstmts,
                           char *err, size_t cap)
{
    td_pg_pool *p = NULL;
    bool mu_ok = false, cv_ok = false;

    if (size < 1 || size > 1024) {
        set_err(err, cap, "pg pool: size must be 1..1024");
        goto fail;
    }
    p = calloc(1, sizeof *p);
    if (p == NULL)
        goto oom;
    p->pp_conns = calloc(size, sizeof *p->pp_conns);
    p->pp_free = calloc(size, sizeof *p->pp_free);
    if (p->pp_conns == NULL || p->pp_free == NULL)
        goto oom;
    if (pthread_mutex_init(&p->pp_mu, NULL) != 0)
        goto oom;
    mu_ok = true;
    if (pthread_cond_init(&p->pp_cv, NULL) != 0)
        goto oom;
    cv_ok = true;
    for (size_t i = 0; i < size; i++) {
        p->pp_conns[i] = td_pg_conn_new(url, stmts, nstmts, err, cap);
        if (p->pp_conns[i] == NULL)
            goto fail;
        p->pp_size = i + 1;
        p->pp_free[p->pp_nfree++] = p->pp_conns[i];
    }
    return p;
oom:
    set_err(err, cap, "pg pool: out of memory");
fail:
    if (p != NULL) {
        for (size_t i = 0; i < p->pp_size; i++)
            td_pg_conn_destroy(p->pp_conns[i]);
        if (cv_ok)
            pthread_cond_destroy(&p->pp_cv);
        if (mu_ok)
            pthread_mutex_destroy(&p->pp_mu);
        free(p->pp_conns);
        free(p->pp_free);
        free(p);
    }
    return NULL;
}

void td_pg_pool_destroy(td_pg_pool *p)
{
    if (p == NULL)
        return;
    if (p->pp_nfree != p->pp_size)
        td_log_error(LOG_COMP, "pool destroyed with %zu connection(s) still acquired",
                     p->pp_size - p->pp_nfree);
    for (size_t i = 0; i < p->pp_size; i++)
        td_pg_conn_destroy(p->pp_conns[i]);
    pthread_cond_destroy(&p->pp_cv);
    pthread_mutex_destroy(&p->pp_mu);
    free(p->pp_conns);
    free(p->pp_free);
    free(p);
}

size_t td_pg_pool_size(const td_pg_pool *p)
{
    return p->pp_size;
}

td_pg_conn *td_pg_pool_acquire(td_pg_pool *p, int timeout_ms, td_status *st)
{
    td_pg_conn *c = NULL;
    struct timespec until;
    int rc = 0;

    if (timeout_ms > 0) {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&p->pp_mu);
    while (p->pp_nfree == 0 && rc == 0) {
        if (timeout_ms == 0)
            rc = ETIMEDOUT;
        else if (timeout_ms < 0)
            rc = pthread_cond_wait(&p->pp_cv, &p->pp_mu);
        else
            rc = pthread_cond_timedwait(&p->pp_cv, &p->pp_mu, &until);
    }
    if (p->pp_nfree > 0)
        c = p->pp_free[--p->pp_nfree];
    pthread_mutex_unlock(&p->pp_mu);
    *st = c != NULL ? TD_OK : TD_EUNAVAIL;
    return c;
}

void td_pg_pool_release(td_pg_pool *p, td_pg_conn *c)
{
    if (c == NULL)
        return;
    if (c->pc_conn != NULL && PQstatus(c->pc_conn) == CONNECTION_OK &&
        PQtransactionStatus(c->pc_conn) != PQTRANS_IDLE) {
        td_log_warn(LOG_COMP, "connection released inside a transaction; rolling back");
        td_pg_rollback(c);
    }
    c->pc_timeout_want = 0;
    pthread_mutex_lock(&p->pp_mu);
    p->pp_free[p->pp_nfree++] = c;
    pthread_cond_signal(&p->pp_cv);
    pthread_mutex_unlock(&p->pp_mu);
}

/* ------------------------------------------------------------------------------------
 * Health */

td_status td_pg_ping(const char *url)
{
    const char *const keys[] = {"connect_timeout", "application_name", "options", "dbname", NULL};
    const char *const vals[] = {"2", "todo-health", "-c statement_timeout=1000", url, NULL};
    td_status st = TD_EUNAVAIL;
    PGconn *pc = NULL;
    PGresult *r = NULL;

    if (url == NULL)
        goto out;
    pc = PQconnectdbParams(keys, vals, 1);
    if (pc == NULL || PQstatus(pc) != CONNECTION_OK)
        goto out;
    r = PQexec(pc, "SELECT 1");
    if (r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK)
        st = TD_OK;
out:
    PQclear(r);
    PQfinish(pc);
    return st;
}
