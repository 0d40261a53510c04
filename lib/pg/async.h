/* async.h - pipelined, non-blocking reads on a few shared PostgreSQL sessions.
 *
 * Why: a blocking read costs a worker thread two context switches and a poll() per
 * query, and each query wakes a PostgreSQL backend on its own. Here any thread submits a
 * read-only prepared statement and returns at once; one I/O thread owns the sockets
 * (epoll), reads the results and runs the completion. Queries from concurrent calls share
 * a session in libpq pipeline mode (a Sync after each, so each runs in its own implicit
 * transaction and an error touches no other query), so a busy backend reads several at
 * once.
 *
 * Ownership: td_pg_async owns its sessions (td_pg_conn), the I/O thread and every queued
 * query (with a private copy of its parameters). The statement table is borrowed and must
 * outlive it. The PGresult given to a completion belongs to the completion (PQclear it).
 *
 * Failure policy: only statements marked idempotent may be submitted. A session that
 * breaks is replaced by the I/O thread, and the queries that were in flight on it are sent
 * again once on the new session; if it cannot be replaced they complete with TD_EUNAVAIL.
 * While no session is up, td_pg_async_submit() answers TD_EUNAVAIL without queueing, so
 * the caller can use its blocking path (which reports the outage the usual way).
 * Every session runs with a statement_timeout, so no query holds a pipeline for long.
 *
 * Threads: submit is thread-safe. Completions run on the pool's own threads (the I/O
 * thread; the repair thread for queries that fail with their session), so they may run
 * concurrently with each other, and must not block. */
#ifndef TD_PG_ASYNC_H
#define TD_PG_ASYNC_H

#include <stddef.h>

#include "pg/pg.h"

typedef struct td_pg_async td_pg_async;

/* Runs exactly once per accepted submission. On success st == TD_OK and r is the
 * PGRES_TUPLES_OK / PGRES_COMMAND_OK result (the completion owns it); otherwise r is NULL
 * and err is a one-line reason (statement name, primary message, SQLSTATE). */
typedef void (*td_pg_async_fn)(void *arg, PGresult *r, td_status st, const char *err);

enum { TD_PG_ASYNC_MAX_PARAMS = 8 };

/* nconns sessions (1..64) to url, each preparing the statement table, each with
 * statement_timeout = timeout_ms. PostgreSQL need not be up (sessions are opened by the
 * I/O thread and retried). NULL with err on bad arguments, out of memory or no thread. */
td_pg_async *td_pg_async_new(const char *url, const td_pg_stmt *stmts, size_t nstmts, size_t nconns,
                             int timeout_ms, char *err, size_t err_cap);

/* Queues statement `stmt` (text parameters, text results). TD_OK: fn will run. TD_EUNAVAIL:
 * no session is up; TD_EINVAL: unknown or non-idempotent statement, too many parameters;
 * TD_ENOMEM. fn does not run when the result is not TD_OK. */
td_status td_pg_async_submit(td_pg_async *a, const char *stmt, int nparams,
                             const char *const *values, td_pg_async_fn fn, void *arg);

/* Stops the I/O thread; queries still queued complete with TD_EUNAVAIL, and later submits
 * answer TD_EUNAVAIL. Idempotent; NULL is a no-op. Not from a completion. */
void td_pg_async_stop(td_pg_async *a);
/* Stops (as above) and frees. NULL is a no-op. */
void td_pg_async_destroy(td_pg_async *a);

#endif
