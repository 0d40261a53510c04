/* task_read.h - TaskService read RPCs: GetTask and ListTasks.
 *
 * GetTask runs the prepared statement "td_task_get" (by id AND user; a missing id,
 * another user's id and a non-uuid all answer NOT_FOUND "task not found", so nothing
 * leaks). ListTasks validates the request, decodes the page token (bound to user,
 * filters and order; anything else is INVALID_ARGUMENT on "page_token"), builds the SQL
 * with td_task_query_build() and runs it on the list pool, prepared per session
 * (td_pg_exec_cached) or planned with the values (PQexecParams), as the query says; a
 * PROBE page whose bounded walk finds too few rows runs the query's fallback.
 * page_size: 0 -> 50, > 500 -> 500 (AIP clamps), < 0 -> INVALID_ARGUMENT.
 * include_total_size runs a count(*) over the same filters (opt-in: it reads every
 * matching row).
 *
 * Threads: handlers run on gRPC worker threads; each borrows one pooled connection for
 * the call. Memory: everything in the call arena; PGresults are cleared at `out:`. */
#ifndef TD_SERVER_TASK_READ_H
#define TD_SERVER_TASK_READ_H
#include <stddef.h>

#include "core/metrics.h"
#include "pg/pg.h"
#include "rpc/server.h"
#include "store/store.h"

enum { TD_TASK_PAGE_DEFAULT = 50, TD_TASK_PAGE_MAX = 500 };

/* Prepared statements of this module (concatenated into the store's registry). */
extern const td_pg_stmt td_task_read_stmts[];
extern const size_t td_task_read_nstmts;

/* Attaches GetTask and ListTasks of todo.v1.TaskService in methods[0..n) to handlers
 * using `store` (borrowed; must outlive the server). metrics (borrowed, may be NULL) gets
 * td_list_pages_total{plan}. TD_ENOTFOUND if the table lacks them. */
td_status td_task_read_register(td_rpc_method *methods, size_t n, td_store *store,
                                td_metrics *metrics);

#endif
