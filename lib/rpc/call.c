/* call.c - one gRPC call of the runtime (see server.h for the contract, server_internal.h
 * for the structure): its lifetime, the batches it sends, the handler-side API and the
 * stream API.
 *
 * Ownership: a td_rpc_call is created for a request slot (server->live_calls++) and owns its
 * arena, the grpc_call, metadata arrays and its send queue. It is freed once no batch is in
 * flight (pending == 0) and nobody refers to it (refs == 0: the runtime's own reference,
 * the running handler's, stream subscribers'). The runtime's reference is dropped when the
 * call is complete: status sent (or the send failed) and close-on-server arrived.
 * on_done() runs exactly once per stream, outside c->mu, never while its handler runs.
 * Threads: any; c->mu guards the mutable state. Lock order: server->mu before c->mu. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "core/log.h"
#include "rpc/server_internal.h"
#include "rpc/status_map.h"

td_rpc_call *td__call_new(td_rpc_server *s, method_entry *e, int cq_index)
{
    td_rpc_call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->server = s;
    c->entry = e;
    c->cq_index = cq_index;
    grpc_metadata_array_init(&c->md);
    grpc_call_details_init(&c->details);
    pthread_mutex_init(&c->mu, NULL);
    c->t_request = (op_tag){TAG_REQUEST, c};
    c->t_close = (op_tag){TAG_CLOSE, c};
    c->t_send = (op_tag){TAG_SEND, c};
    c->t_recv = (op_tag){TAG_RECV, c};
    c->refs = 1;
    c->runtime_ref = true;
    atomic_fetch_add(&s->live_calls, 1);
    return c;
}

void td__call_free(td_rpc_call *c)
{
    td_rpc_server *s = c->server;
    send_item *it = c->q_head;
    while (it != NULL) {
        send_item *next = it->next;
        grpc_byte_buffer_destroy(it->bb);
        free(it);
        it = next;
    }
    if (c->payload)
        grpc_byte_buffer_destroy(c->payload);
    if (c->recv_bb)
        grpc_byte_buffer_destroy(c->recv_bb);
    grpc_metadata_array_destroy(&c->md);
    grpc_call_details_destroy(&c->details);
    if (c->call)
        grpc_call_unref(c->call);
    td_arena_destroy(c->arena);
    free(c->final_message);
    pthread_mutex_destroy(&c->mu);
    free(c);
    if (atomic_fetch_sub(&s->live_calls, 1) == 1) {
        pthread_mutex_lock(&s->mu);
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
}

/* Caller holds c->mu; returns true when the caller must td__call_free(c) after unlocking. */
static bool call_should_free_locked(td_rpc_call *c)
{
    return c->pending == 0 && c->refs == 0;
}

static void stream_unlink(td_rpc_call *c)
{
    td_rpc_server *s = c->server;
    pthread_mutex_lock(&s->mu);
    if (c->in_stream_list) {
        if (c->stream_prev)
            c->stream_prev->stream_next = c->stream_next;
        else
            s->streams = c->stream_next;
        if (c->stream_next)
            c->stream_next->stream_prev = c->stream_prev;
        c->in_stream_list = false;
    }
    pthread_mutex_unlock(&s->mu);
}

/* Runs after any state change, with c->mu held on entry; releases it. Fires on_done and
 * drops the runtime reference when the call is complete, frees when nothing refers to it. */
void td__call_settle_unlock(td_rpc_call *c)
{
    bool fire_done = false, complete = false;
    bool ended = c->status_sent && !c->sending ? true : false;
    if (atomic_load(&c->cancelled) && !c->done_called)
        ended = true;
    if (ended && !c->done_called && c->entry->m != NULL && !c->in_handler) {
        c->done_called = true;
        fire_done = true;
    }
    if (c->runtime_ref && c->closed && c->pending == 0 && (c->status_sent || c->done_called)) {
        c->runtime_ref = false;
        c->refs--;
        complete = true;
    }
    td_rpc_done_fn fn = fire_done ? c->on_done : NULL;
    void *ud = c->on_done_ud;
    c->refs++; /* keeps c alive through the callbacks below (on_done may drop the last ref) */
    pthread_mutex_unlock(&c->mu);

    if (fn != NULL)
        fn(c, ud);
    if (fire_done || complete)
        stream_unlink(c);
    if (complete)
        atomic_fetch_sub(&c->server->active, 1);
    td_rpc_call_unref(c);
}

void td_rpc_call_ref(td_rpc_call *c)
{
    pthread_mutex_lock(&c->mu);
    c->refs++;
    pthread_mutex_unlock(&c->mu);
}

void td_rpc_call_unref(td_rpc_call *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->refs--;
    bool free_now = call_should_free_locked(c);
    pthread_mutex_unlock(&c->mu);
    if (free_now)
        td__call_free(c);
}

void td_rpc_call_on_done(td_rpc_call *c, td_rpc_done_fn fn, void *ud)
{
    pthread_mutex_lock(&c->mu);
    c->on_done = fn;
    c->on_done_ud = ud;
    pthread_mutex_unlock(&c->mu);
}

/* ---------- batches ---------- */

/* Starts a batch with c->mu held; counts it as pending only if the core accepted it. */
bool td__start_batch_locked(td_rpc_call *c, const grpc_op *ops, size_t n, op_tag *tag)
{
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, tag, NULL);
    if (e != GRPC_CALL_OK) {
        td_log_error("rpc", "grpc_call_start_batch failed (%d) on %s", (int)e,
                     c->entry->m ? c->entry->m->path : "unknown");
        return false;
    }
    c->pending++;
    return true;
}

void td__fill_initial_md(td_rpc_call *c, grpc_op *op)
{
    memset(op, 0, sizeof(*op));
    op->op = GRPC_OP_SEND_INITIAL_METADATA;
    op->data.send_initial_metadata.maybe_compression_level.is_set = 1;
    op->data.send_initial_metadata.maybe_compression_level.level = GRPC_COMPRESS_LEVEL_LOW;
    c->initial_md_sent = true;
}

/* Builds the status op. *details and *md_value are slices the caller unrefs after the
 * batch has started; *md is the one trailing metadata entry (status details). */
static size_t fill_status(td_rpc_call *c, grpc_op *op, td_status st, const char *msg,
                          grpc_slice *details, grpc_metadata *md, bool *has_md)
{
    grpc_status_code code = td_status_to_grpc(st);
    memset(op, 0, sizeof(*op));
    op->op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    op->data.send_status_from_server.status = code;
    *has_md = false;
    if (code == GRPC_STATUS_OK) {
        op->data.send_status_from_server.status_details = NULL;
        return 1;
    }
    if (msg == NULL || *msg == '\0')
        msg = td_strerror(st);
    *details = grpc_slice_from_copied_string(msg);
    op->data.send_status_from_server.status_details = details;
    size_t len = 0;
    unsigned char *bin = td_rpc_status_details_pack(code, msg, c->violations, c->nviolations, &len);
    if (bin != NULL) {
        md->key = grpc_slice_from_static_string("grpc-status-details-bin");
        md->value = grpc_slice_from_copied_buffer((const char *)bin, len);
        free(bin);
        op->data.send_status_from_server.trailing_metadata_count = 1;
        op->data.send_status_from_server.trailing_metadata = md;
        *has_md = true;
    }
    return 1;
}

grpc_byte_buffer *td__pack_message(const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    grpc_slice sl = grpc_slice_malloc(len);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(sl));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    return bb;
}

/* Sends [initial md] + [message] + status in one batch (unary, errors, unknown methods). */
void td__send_final_locked(td_rpc_call *c, grpc_byte_buffer *msg_bb, td_status st, const char *msg)
{
    grpc_op ops[3];
    size_t n = 0;
    grpc_slice details = grpc_empty_slice();
    grpc_metadata md;
    bool has_md = false;
    if (!c->initial_md_sent)
        td__fill_initial_md(c, &ops[n++]);
    if (msg_bb != NULL) {
        memset(&ops[n], 0, sizeof(ops[n]));
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = msg_bb;
        n++;
    }
    n += fill_status(c, &ops[n], st, msg, &details, &md, &has_md);
    c->status_sent = true;
    c->sending = td__start_batch_locked(c, ops, n, &c->t_send);
    grpc_slice_unref(details);
    if (has_md)
        grpc_slice_unref(md.value);
    if (msg_bb != NULL)
        grpc_byte_buffer_destroy(msg_bb);
}

/* Streams: starts the next queued message, or the queued status, if nothing is in flight. */
void td__stream_pump_locked(td_rpc_call *c)
{
    if (c->sending || c->status_sent)
        return;
    if (atomic_load(&c->cancelled))
        return;
    if (c->q_head != NULL) {
        send_item *it = c->q_head;
        c->q_head = it->next;
        if (c->q_head == NULL)
            c->q_tail = NULL;
        c->q_len--;
        grpc_op ops[2];
        size_t n = 0;
        if (!c->initial_md_sent)
            td__fill_initial_md(c, &ops[n++]);
        memset(&ops[n], 0, sizeof(ops[n]));
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = it->bb;
        n++;
        c->sending = td__start_batch_locked(c, ops, n, &c->t_send);
        grpc_byte_buffer_destroy(it->bb);
        free(it);
        if (!c->sending)
            atomic_store(&c->cancelled, true);
        return;
    }
    if (c->status_queued)
        td__send_final_locked(c, NULL, c->final_status, c->final_message);
}

/* ---------- handler-side API ---------- */

td_arena *td_rpc_call_arena(td_rpc_call *c)
{
    return c->arena;
}

const td_rpc_method *td_rpc_call_method(const td_rpc_call *c)
{
    return c->entry->m;
}

const char *td_rpc_call_user(const td_rpc_call *c)
{
    return c->user;
}

const char *td_rpc_call_cid(const td_rpc_call *c)
{
    return c->cid;
}

const char *td_rpc_call_metadata(td_rpc_call *c, const char *key)
{
    for (size_t i = 0; i < c->md.count; i++) {
        if (td__slice_eq(c->md.metadata[i].key, key)) {
            grpc_slice v = c->md.metadata[i].value;
            return td_arena_strndup(c->arena, (const char *)GRPC_SLICE_START_PTR(v),
                                    GRPC_SLICE_LENGTH(v));
        }
    }
    return NULL;
}

int64_t td_rpc_call_deadline_left_ms(const td_rpc_call *c)
{
    gpr_timespec dl = gpr_convert_clock_type(c->deadline, GPR_CLOCK_MONOTONIC);
    if (gpr_time_cmp(dl, gpr_inf_future(GPR_CLOCK_MONOTONIC)) == 0)
        return INT64_MAX;
    gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
    gpr_timespec left = gpr_time_sub(dl, now);
    return (int64_t)left.tv_sec * 1000 + left.tv_nsec / 1000000;
}

bool td_rpc_call_is_cancelled(const td_rpc_call *c)
{
    return atomic_load(&c->cancelled) || atomic_load(&c->server->shutting_down) ||
           td_rpc_call_deadline_left_ms(c) <= 0;
}

td_status td_rpc_call_fail(td_rpc_call *c, td_status st, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    c->err_status = st;
    c->err_msg = td_arena_strdup(c->arena, buf);
    return st;
}

void td_rpc_call_add_violation(td_rpc_call *c, const char *field, const char *description)
{
    if (c->nviolations >= MAX_VIOLATIONS)
        return;
    c->violations[c->nviolations].field = td_arena_strdup(c->arena, field);
    c->violations[c->nviolations].description = td_arena_strdup(c->arena, description);
    c->nviolations++;
}

td_status td_rpc_stream_send(td_rpc_call *c, const ProtobufCMessage *msg)
{
    td_status st = TD_OK;
    grpc_byte_buffer *bb = td__pack_message(msg);
    send_item *it = malloc(sizeof(*it));
    pthread_mutex_lock(&c->mu);
    if (atomic_load(&c->cancelled) || c->status_queued || c->status_sent) {
        st = TD_ECANCELLED;
        goto out;
    }
    if (it == NULL) {
        st = TD_ENOMEM;
        goto out;
    }
    if (c->q_len >= c->server->opts.max_stream_queue) {
        /* A client that does not read cannot make us hold unbounded memory. */
        c->status_queued = true;
        c->final_status = TD_ELIMIT;
        free(c->final_message);
        c->final_message = strdup("stream consumer too slow: send queue full");
        st = TD_ELIMIT;
        td__stream_pump_locked(c);
        goto out;
    }
    it->next = NULL;
    it->bb = bb;
    if (c->q_tail)
        c->q_tail->next = it;
    else
        c->q_head = it;
    c->q_tail = it;
    c->q_len++;
    bb = NULL;
    it = NULL;
    td__stream_pump_locked(c);
out:
    if (bb)
        grpc_byte_buffer_destroy(bb);
    free(it);
    td__call_settle_unlock(c);
    return st;
}

void td_rpc_stream_finish(td_rpc_call *c, td_status st, const char *message)
{
    pthread_mutex_lock(&c->mu);
    if (!c->status_queued && !c->status_sent) {
        c->status_queued = true;
        c->final_status = st;
        c->final_message = message ? strdup(message) : NULL;
        td__stream_pump_locked(c);
    }
    td__call_settle_unlock(c);
}
