/* pg.h - PostgreSQL access: a reconnecting connection with its prepared statements,
 * a pipeline helper, a fixed-size pool, and a health ping.
 *
 * Ownership
 *  - td_pg_conn owns its PGconn and a private copy of the connection URL (which may hold
 *    a password: it is never logged nor copied into an error message). The statement
 *    table passed to td_pg_conn_new()/td_pg_pool_new() is BORROWED and must outlive
 *    the connection (normally a static const array).
 *  - Every PGresult returned to the caller is owned by the caller: PQclear() it, or
 *    attach it to the call's arena (td_arena_on_destroy(a, (td_arena_cleanup_fn)PQclear, r)).
 *  - Connections taken from a pool go back with td_pg_pool_release(), never destroyed.
 *
 * Invariants
 *  - A connection is lazy: td_pg_conn_new() tries once to connect but returns a usable
 *    handle even while PostgreSQL is down; every exec first makes sure the session is up
 *    (reconnecting and re-preparing every statement as needed), so processes start and
 *    recover without a restart. Statements are prepared on every new session.
 *  - A statement whose outcome is unknown (the connection broke after it was sent) is
 *    retried once only if it is marked idempotent AND no transaction was open. Writes
 *    are never retried blindly: the caller gets TD_EUNAVAIL.
 *  - SQL is always parameterised (prepared statements or PQexecParams).
 *  - Errors are mapped to td_status by td_pg_sqlstate_status(); messages put in `err`
 *    carry the statement name, PostgreSQL's primary message and the SQLSTATE, never the
 *    connection string nor DETAIL (which can echo row values).
 *
 * Threads: libpq is thread-safe as long as one PGconn is used by one thread at a time.
 * A td_pg_conn is not thread-safe: one thread uses it at a time (the pool hands it out
 * exclusively). td_pg_pool_* and td_pg_ping are thread-safe. */
#ifndef TD_PG_PG_H
#define TD_PG_PG_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "core/status.h"

/* One prepared statement. name is also the libpq statement name. */
typedef struct td_pg_stmt {
    const char *name;
    const char *sql;
    int nparams;     /* parameter types are inferred by the server ($1::uuid etc.) */
    bool idempotent; /* read-only / safe to repeat: retried once after a broken connection */
} td_pg_stmt;

typedef struct td_pg_conn td_pg_conn;
typedef struct td_pg_pool td_pg_pool;

/* ---- pure helpers (unit-tested without a database) ---- */

/* SQLSTATE -> td_status: 23505 -> EEXIST; 40001/40P01/55P03 -> ECONFLICT; 57014 ->
 * EDEADLINE; class 22, 23502, 23514 -> EINVAL; 23503 -> ENOTFOUND; class 08, 53, 57P0x,
 * 40003 -> EUNAVAIL; class 54 -> ELIMIT; NULL/other -> EINTERNAL. */
td_status td_pg_sqlstate_status(const char *sqlstate);

/* Rounds a deadline (ms, <= 0 = none) up to the statement_timeout actually set, from a
 * short ladder (100 ms .. 60 s), so the session setting changes rarely. 0 = no timeout. */
int td_pg_timeout_bucket(int ms);

/* The statement named `name` in stmts[0..n), or NULL. */
const td_pg_stmt *td_pg_stmt_find(const td_pg_stmt *stmts, size_t n, const char *name);

/* ---- connection ---- */

/* Creates a connection for `url` (libpq URI or key=value; connect_timeout defaults to
 * 5 s unless the URL sets it). Tries to connect once; failure to connect is NOT an error
 * (see td_pg_conn_ok). Returns NULL only for an unparsable URL or out of memory, with a
 * message in err. Caller frees with td_pg_conn_destroy(). */
td_pg_conn *td_pg_conn_new(const char *url, const td_pg_stmt *stmts, size_t nstmts, char *err,
                           size_t err_cap);
void td_pg_conn_destroy(td_pg_conn *c); /* NULL is a no-op */

/* (Re)connects now if the session is not up, and prepares every statement.
 * TD_OK, or TD_EUNAVAIL (server down / auth / missing db) / TD_EINTERNAL (a statement
 * failed to prepare: a bug) with a message. */
td_status td_pg_conn_connect(td_pg_conn *c, char *err, size_t err_cap);
/* Closes the session now (the next td_pg_conn_connect opens a new one). */
void td_pg_conn_close(td_pg_conn *c);
/* True when the session looks up (no I/O). */
bool td_pg_conn_ok(const td_pg_conn *c);
/* The underlying PGconn (borrowed; may be NULL while down). For LISTEN loops and tests. */
PGconn *td_pg_conn_raw(td_pg_conn *c);
/* Number of sessions established so far (1 after the first connect; +1 per reconnect). */
unsigned long td_pg_conn_generation(const td_pg_conn *c);

/* Bounds the SQL of the following calls by `ms` (<= 0: no bound). Applied lazily before
 * the next statement, and only when the (bucketed) value differs from the session's;
 * never changed inside an open transaction. 57014 then maps to TD_EDEADLINE. */
void td_pg_conn_set_deadline(td_pg_conn *c, int ms);

/* Executes prepared statement `stmt` (one of the registry's names). result_format 0 =
 * text, 1 = binary. Returns the PGresult (PGRES_TUPLES_OK or PGRES_COMMAND_OK; caller
 * clears it) with *st = TD_OK, or NULL with *st and err set. */
PGresult *td_pg_exec(td_pg_conn *c, const char *stmt, int nparams, const char *const *values,
                     const int *lengths, const int *formats, int result_format, td_status *st,
                     char *err, size_t err_cap);

/* Ad-hoc parameterised SQL (PQexecParams, text parameters and results): migrations,
 * tests, rare admin paths. `sql` must be a constant; values go in `values`. Never
 * retried. Same result contract as td_pg_exec(). */
PGresult *td_pg_exec_sql(td_pg_conn *c, const char *sql, int nparams, const char *const *values,
                         td_status *st, char *err, size_t err_cap);

/* td_pg_exec_sql() for SQL that repeats: prepared on first use on this session and kept
 * (an LRU of 32 statements per connection, dropped with the session), so a repeat skips
 * parse and, once PostgreSQL settles on a generic plan, planning. For SQL whose best
 * plan does not depend on the parameter values (see td_task_query.prepare). */
PGresult *td_pg_exec_cached(td_pg_conn *c, const char *sql, int nparams, const char *const *values,
                            td_status *st, char *err, size_t cap);

/* Transactions. begin fails with TD_EUNAVAIL when the session cannot be established.
 * rollback is safe to call in any state (no-op when idle, TD_OK when the session is
 * gone since the server has rolled back). */
td_status td_pg_begin(td_pg_conn *c, char *err, size_t err_cap);
td_status td_pg_commit(td_pg_conn *c, char *err, size_t err_cap);
td_status td_pg_rollback(td_pg_conn *c);
/* True inside BEGIN .. COMMIT/ROLLBACK (including a failed transaction). */
bool td_pg_in_transaction(const td_pg_conn *c);

/* ---- pipeline: several prepared statements in one round trip ---- */

typedef struct td_pg_call {
    const char *stmt; /* registry name */
    int nparams;
    const char *const *values;
    const int *lengths; /* NULL: all text */
    const int *formats; /* NULL: all text */
    int result_format;
    /* Send a Sync after this call. Calls between two Syncs run as ONE implicit
     * transaction: an error rolls back the whole segment, and its later calls are
     * skipped. The next segment still runs. The last call is always followed by a Sync.
     * E.g. [write.., write (sync_after), notify] puts a pg_notify after the commit. */
    bool sync_after;
} td_pg_call;

/* Runs calls[0..n) pipelined, in one round trip. results[i] receives call i's PGresult
 * or NULL when it failed or was skipped because its segment aborted; the caller clears
 * every non-NULL results[i], whatever the return value (a segment before the failing
 * one has committed). Returns TD_OK when every call succeeded, else the status of the
 * first failure (err names its statement; *failed_at, if not NULL, is its index, n when
 * none). Must not be called inside an explicit transaction. Nothing is retried: on a
 * connection failure mid-pipeline the outcome of unsynced segments is unknown. */
td_status td_pg_pipeline(td_pg_conn *c, const td_pg_call *calls, size_t n, PGresult **results,
                         size_t *failed_at, char *err, size_t err_cap);

/* ---- pool ---- */

/* `size` connections (1..1024) to `url`, each with the statement registry. PostgreSQL
 * need not be up. NULL with err on bad arguments / out of memory.
 * Caller frees with td_pg_pool_destroy() after every connection is released. */
td_pg_pool *td_pg_pool_new(const char *url, size_t size, const td_pg_stmt *stmts, size_t nstmts,
                           char *err, size_t err_cap);
void td_pg_pool_destroy(td_pg_pool *p); /* NULL is a no-op */

/* Takes a connection exclusively, waiting up to timeout_ms (< 0: forever; 0: no wait).
 * NULL with *st = TD_EUNAVAIL when none became free in time. The connection may be
 * disconnected: td_pg_exec reconnects. */
td_pg_conn *td_pg_pool_acquire(td_pg_pool *p, int timeout_ms, td_status *st);
/* Returns a connection. An open transaction is rolled back; a connection left
 * mid-command or broken is reset before its next use. Clears the deadline. */
void td_pg_pool_release(td_pg_pool *p, td_pg_conn *c);
size_t td_pg_pool_size(const td_pg_pool *p);

/* ---- health ---- */

/* Health probe: a fresh connection (connect_timeout 2 s unless the URL sets one,
 * statement_timeout 1 s) running SELECT 1. TD_OK or TD_EUNAVAIL. Thread-safe. */
td_status td_pg_ping(const char *url);

#endif
