/* store.h - the server's access to PostgreSQL: two connection pools whose connections
 * carry the prepared statements of every store module (tasks, tags, changes), pipelined
 * read sessions, and the key that signs page tokens.
 *
 * Pools: `pool` serves writes and point reads; `lists` serves ListTasks and ListTags,
 * whose pages cost milliseconds of database CPU each. Writes spend their time waiting for
 * the commit flush, so they want many connections in flight (group commit); list pages
 * are CPU-bound, and more of them running than the database has cores only time-slices
 * them (measured on 2 cores, 8 clients: p99 17 ms with 16 connections, 7 ms with 4, same
 * pages/s), so they queue here, first come first served, on a smaller pool.
 *
 * Each store module exports its statements as `const td_pg_stmt td_<module>_stmts[]` and
 * `const size_t td_<module>_nstmts`; store.c concatenates them at start-up.
 * Threads: td_store_acquire/release are thread-safe (the pool's lock); a td_pg_conn is
 * used by one handler at a time. */
#ifndef TD_SERVER_STORE_H
#define TD_SERVER_STORE_H
#include <stddef.h>
#include <stdint.h>

#include "pg/async.h"
#include "pg/pg.h"
#include "rpc/server.h"

typedef struct td_store {
    td_pg_pool *pool;   /* writes and point reads */
    td_pg_pool *lists;  /* ListTasks, ListTags */
    td_pg_async *reads; /* pipelined read sessions; NULL when turned off */
    td_pg_stmt *stmts;  /* concatenated registry, owned */
    size_t nstmts;
    unsigned char page_key[32]; /* HMAC key for page tokens, derived from the JWT secret */
} td_store;

/* secret/secret_len: key material for page tokens (the HS256 secret, or NULL for a random
 * per-process key). NULL on failure with a reason in err. */
td_store *td_store_new(const char *db_url, size_t pool_size, size_t list_size, size_t read_conns,
                       const unsigned char *secret, size_t secret_len, char *err, size_t err_cap);
void td_store_destroy(td_store *s); /* NULL is a no-op */
/* Sends an idempotent read on the pipelined sessions (see pg/async.h; s->reads is NULL
 * when they are turned off); fn runs later on their I/O thread. TD_EUNAVAIL when every
 * session is down. Their statement_timeout is TD_STORE_READ_TIMEOUT_MS. */
enum { TD_STORE_READ_TIMEOUT_MS = 3000 };
/* Stops the pipelined sessions (reads still in flight complete with UNAVAILABLE); later
 * reads use the pool. For the server's shutdown (td_rpc_server_opts.on_drain). */
void td_store_stop_reads(void *store);
td_status td_store_read_async(td_store *s, const char *stmt, int nparams, const char *const *values,
                              td_pg_async_fn fn, void *arg);

/* Borrows a connection for this call: waits at most until the call's deadline (or 5 s) for
 * a free one, and bounds its SQL by the deadline (statement_timeout). On failure records
 * the error on the call (UNAVAILABLE / DEADLINE_EXCEEDED) and returns NULL. */
td_pg_conn *td_store_acquire(td_store *s, td_rpc_call *call);
void td_store_release(td_store *s, td_pg_conn *conn);
/* The same for list pages, from the `lists` pool. */
td_pg_conn *td_store_acquire_list(td_store *s, td_rpc_call *call);
void td_store_release_list(td_store *s, td_pg_conn *conn);

/* Maps a failed store operation onto the call: records the status and a message that is
 * safe to show the client (no SQL, no internals for TD_EINTERNAL). Returns st. */
td_status td_store_fail(td_rpc_call *call, td_status st, const char *what, const char *pg_err);

#endif
