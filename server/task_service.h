/* task_service.h - the TaskService write path: CreateTask, UpdateTask, DeleteTask,
 * CompleteTask, ReopenTask (GetTask/ListTasks live in task_read.c).
 *
 * Each handler: validate (task_validate.h; violations -> INVALID_ARGUMENT with field
 * paths, nothing stored) -> borrow a connection (td_store_acquire, bounded by the call
 * deadline) -> one transaction in task_store.c -> fill the response from the stored row.
 * Another user's id, a missing id and a non-UUID id all answer NOT_FOUND "task not
 * found". Stale etag -> ABORTED. Handlers run on runtime worker threads; the td_store
 * is shared and thread-safe. */
#ifndef TD_SERVER_TASK_SERVICE_H
#define TD_SERVER_TASK_SERVICE_H
#include <stddef.h>

#include "rpc/server.h"
#include "store/store.h"

/* Attaches the five write handlers to todo.v1.TaskService in methods[0..n). store is
 * borrowed and must outlive the server. */
void td_task_service_register(td_rpc_method *methods, size_t n, td_store *store);

#endif
