/* task_service.c - TaskService write handlers (contract in task_service.h; SQL and
 * round trips in store/task_store.h). Worker threads; all memory in the call arena. */
#include "task_service.h"

#include <string.h>

#include "rpc/service.h"
#include "store/task_row.h"
#include "store/task_store.h"
#include "task_validate.h"
#include "todo/v1/task.pb-c.h"

#define SERVICE "todo.v1.TaskService"

typedef struct vsink {
    td_rpc_call *call;
    char first[200];
    size_t n;
} vsink;

static void on_violation(void *ctx, const char *field, const char *description)
{
    vsink *v = ctx;
    td_rpc_call_add_violation(v->call, field, description);
    if (v->n++ == 0)
        snprintf(v->first, sizeof(v->first), "%s: %s", field, description);
}

static td_status fail_invalid(vsink *v)
{
    if (v->n > 1)
        return td_rpc_call_fail(v->call, TD_EINVAL, "%s (and %zu more)", v->first, v->n - 1);
    return td_rpc_call_fail(v->call, TD_EINVAL, "%s", v->first);
}

static td_status not_found(td_rpc_call *call)
{
    return td_rpc_call_fail(call, TD_ENOTFOUND, "task not found");
}

/* Maps a store failure onto the call. */
static td_status store_error(td_rpc_call *call, td_task_ctx *ctx, td_status st, const char *what)
{
    char field[80];
    switch (st) {
    case TD_ENOTFOUND:
        return not_found(call);
    case TD_ECONFLICT:
        if (ctx->err[0] == '\0')
            return td_rpc_call_fail(call, TD_ECONFLICT,
                                    "etag mismatch: the task was changed, re-read it");
        break;
    case TD_EINVAL:
        if (ctx->bad_field != NULL) {
            const char *why = ctx->bad_why != NULL ? ctx->bad_why : "is not a known IANA time zone";
            snprintf(field, sizeof(field), "task.%s", ctx->bad_field);
            td_rpc_call_add_violation(call, field, why);
            return td_rpc_call_fail(call, TD_EINVAL, "%s: %s", field, why);
        }
        break;
    default:
        break;
    }
    return td_store_fail(call, st, what, ctx->err);
}

static void set_response(ProtobufCMessage *resp, const Todo__V1__Task *t)
{
    Todo__V1__Task *r = (Todo__V1__Task *)resp;
    ProtobufCMessage base = r->base;
    *r = *t;
    r->base = base;
}

/* A shallow, mutable copy of the request's task (validation normalises in place). */
static Todo__V1__Task *task_copy(td_arena *a, const Todo__V1__Task *t)
{
    Todo__V1__Task *c = td_arena_alloc(a, sizeof(*c));
    if (c == NULL)
        return NULL;
    *c = *t;
    if (t->n_tags > 0) {
        c->tags = td_arena_alloc(a, t->n_tags * sizeof(*c->tags));
        if (c->tags == NULL)
            return NULL;
        memcpy(c->tags, t->tags, t->n_tags * sizeof(*c->tags));
    }
    if (t->due != NULL) {
        c->due = td_arena_alloc(a, sizeof(*c->due));
        if (c->due == NULL)
            return NULL;
        *c->due = *t->due;
    }
    if (t->recurrence != NULL) {
        c->recurrence = td_arena_alloc(a, sizeof(*c->recurrence));
        if (c->recurrence == NULL)
            return NULL;
        *c->recurrence = *t->recurrence;
    }
    return c;
}

static td_status run_store(td_rpc_call *call, td_store *store, td_task_ctx *ctx, td_pg_conn **conn)
{
    memset(ctx, 0, sizeof(*ctx));
    *conn = td_store_acquire(store, call);
    if (*conn == NULL)
        return TD_EUNAVAIL; /* already recorded on the call */
    ctx->conn = *conn;
    ctx->user = td_rpc_call_user(call);
    ctx->cid = td_rpc_call_cid(call);
    ctx->arena = td_rpc_call_arena(call);
    return TD_OK;
}

static td_status create_task(td_rpc_call *call, const ProtobufCMessage *req_msg,
                             ProtobufCMessage *resp, void *svc)
{
    const Todo__V1__CreateTaskRequest *req = (const Todo__V1__CreateTaskRequest *)req_msg;
    td_arena *a = td_rpc_call_arena(call);
    vsink v = {call, "", 0};
    td_task_ctx ctx;
    td_pg_conn *conn = NULL;
    Todo__V1__Task *t = NULL, out = TODO__V1__TASK__INIT;
    bool existed = false;
    td_status st;

    if (req->task == NULL) {
        on_violation(&v, "task", "is required");
        return fail_invalid(&v);
    }
    if ((t = task_copy(a, req->task)) == NULL)
        return td_rpc_call_fail(call, TD_ENOMEM, "out of memory");
    td_task_validate(t, TD_TASK_F_ALL, "task", a, on_violation, &v);
    td_task_validate_request_id(req->request_id, on_violation, &v);
    if (v.n > 0)
        return fail_invalid(&v);
    if ((st = run_store(call, svc, &ctx, &conn)) != TD_OK)
        return st;
    st = td_task_store_create(&ctx, t, req->request_id, &out, &existed);
    td_store_release(svc, conn);
    if (st != TD_OK)
        return store_error(call, &ctx, st, "create task");
    set_response(resp, &out);
    return TD_OK;
}

/* "" -> -1 (unconditional); else the revision; -2 when it is not one of our etags. */
static int64_t etag_revision(const char *etag)
{
    int64_t rev;
    if (etag == NULL || etag[0] == '\0')
        return -1;
    return td_task_etag_parse(etag, &rev) ? rev : -2;
}

static td_status update_task(td_rpc_call *call, const ProtobufCMessage *req_msg,
                             ProtobufCMessage *resp, void *svc)
{
    const Todo__V1__UpdateTaskRequest *req = (const Todo__V1__UpdateTaskRequest *)req_msg;
    td_arena *a = td_rpc_call_arena(call);
    vsink v = {call, "", 0};
    td_task_ctx ctx;
    td_pg_conn *conn = NULL;
    Todo__V1__Task *t = NULL, out = TODO__V1__TASK__INIT;
    unsigned fields = 0;
    int64_t etag_rev;
    td_status st;

    if (req->task == NULL) {
        on_violation(&v, "task", "is required");
        return fail_invalid(&v);
    }
    td_task_validate_mask(req->update_mask, &fields, on_violation, &v);
    if ((t = task_copy(a, req->task)) == NULL)
        return td_rpc_call_fail(call, TD_ENOMEM, "out of memory");
    td_task_validate(t, fields, "task", a, on_violation, &v);
    if (v.n > 0)
        return fail_invalid(&v);
    if (!td_task_id_valid(t->id))
        return not_found(call);
    etag_rev = etag_revision(t->etag);
    if (etag_rev == -2)
        return td_rpc_call_fail(call, TD_ECONFLICT,
                                "etag mismatch: the task was changed, re-read it");
    if ((st = run_store(call, svc, &ctx, &conn)) != TD_OK)
        return st;
    st = td_task_store_update(&ctx, t, fields, etag_rev, &out);
    td_store_release(svc, conn);
    if (st != TD_OK)
        return store_error(call, &ctx, st, "update task");
    set_response(resp, &out);
    return TD_OK;
}

static td_status delete_task(td_rpc_call *call, const ProtobufCMessage *req_msg,
                             ProtobufCMessage *resp, void *svc)
{
    const Todo__V1__DeleteTaskRequest *req = (const Todo__V1__DeleteTaskRequest *)req_msg;
    td_task_ctx ctx;
    td_pg_conn *conn = NULL;
    int64_t etag_rev;
    td_status st;

    (void)resp; /* google.protobuf.Empty */
    if (!td_task_id_valid(req->id))
        return not_found(call);
    etag_rev = etag_revision(req->etag);
    if (etag_rev == -2)
        return td_rpc_call_fail(call, TD_ECONFLICT,
                                "etag mismatch: the task was changed, re-read it");
    if ((st = run_store(call, svc, &ctx, &conn)) != TD_OK)
        return st;
    st = td_task_store_delete(&ctx, req->id, etag_rev);
    td_store_release(svc, conn);
    if (st != TD_OK)
        return store_error(call, &ctx, st, "delete task");
    return TD_OK;
}

static td_status set_completed(td_rpc_call *call, const char *id, bool completed,
                               ProtobufCMessage *resp, td_store *store)
{
    td_task_ctx ctx;
    td_pg_conn *conn = NULL;
    Todo__V1__Task out = TODO__V1__TASK__INIT;
    td_status st;

    if (!td_task_id_valid(id))
        return not_found(call);
    if ((st = run_store(call, store, &ctx, &conn)) != TD_OK)
        return st;
    st = td_task_store_set_completed(&ctx, id, completed, &out);
    td_store_release(store, conn);
    if (st != TD_OK)
        return store_error(call, &ctx, st, completed ? "complete task" : "reopen task");
    set_response(resp, &out);
    return TD_OK;
}

static td_status complete_task(td_rpc_call *call, const ProtobufCMessage *req_msg,
                               ProtobufCMessage *resp, void *svc)
{
    const Todo__V1__CompleteTaskRequest *req = (const Todo__V1__CompleteTaskRequest *)req_msg;
    return set_completed(call, req->id, true, resp, svc);
}

static td_status reopen_task(td_rpc_call *call, const ProtobufCMessage *req_msg,
                             ProtobufCMessage *resp, void *svc)
{
    const Todo__V1__ReopenTaskRequest *req = (const Todo__V1__ReopenTaskRequest *)req_msg;
    return set_completed(call, req->id, false, resp, svc);
}

void td_task_service_register(td_rpc_method *methods, size_t n, td_store *store)
{
    td_rpc_methods_set_unary(methods, n, SERVICE, "CreateTask", create_task, store);
    td_rpc_methods_set_unary(methods, n, SERVICE, "UpdateTask", update_task, store);
    td_rpc_methods_set_unary(methods, n, SERVICE, "DeleteTask", delete_task, store);
    td_rpc_methods_set_unary(methods, n, SERVICE, "CompleteTask", complete_task, store);
    td_rpc_methods_set_unary(methods, n, SERVICE, "ReopenTask", reopen_task, store);
}
