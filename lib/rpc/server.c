/* server.c - gRPC server runtime on grpc C-core. See server.h for the contract.
 *
 * Owns the grpc_server, the completion queues, the pollers, the workers and their job
 * queue; call.c owns each call's lifetime and batches. Layout: ncq completion queues (one
 * per usable core), each polled by one thread that never blocks: it runs TD_RPC_NONBLOCKING
 * handlers itself and queues every other handler (they may block on PostgreSQL) for the
 * nworkers worker threads. For every (method, cq) pair a few "request slots" are posted
 * with grpc_server_request_*; when a slot fires it becomes a live call and a fresh slot is
 * posted, so the server never runs out of accept capacity. A call is touched by its poller,
 * a worker and whoever completes a deferred call, hence the per-call mutex. Here:
 * admission (deadline, JWT, rate limit, decoding), dispatch to the handler kinds, event
 * handling, start-up and graceful shutdown.
 *
 * Tags: each call embeds one tag per kind of batch (request, close, send, recv); at most
 * one batch of each kind is outstanding, which the C-core also requires. */
#include "rpc/server.h"
#include "rpc/server_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "core/cpus.h"
#include "core/log.h"
#include "rpc/status_details.h"
#include "rpc/status_map.h"
#include "rpc/validate.h"

#define SLOTS_PER_METHOD 2

static double elapsed_s(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Correlation ids need uniqueness, not secrecy: a per-thread xorshift generator seeded
 * once from getrandom() keeps the hot path free of system calls. */
static uint64_t next_random(void)
{
    static _Thread_local uint64_t state;
    if (state == 0) {
        if (getrandom(&state, sizeof(state), 0) != (ssize_t)sizeof(state) || state == 0)
            state = (uint64_t)(uintptr_t)&state ^ (uint64_t)time(NULL) ^ 0x9E3779B97F4A7C15ull;
    }
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static void random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t r = 0;
    for (size_t i = 0; i < nbytes; i++) {
        if (i % 8 == 0)
            r = next_random();
        unsigned b = (unsigned)(r & 0xff);
        r >>= 8;
        out[2 * i] = hex[b >> 4];
        out[2 * i + 1] = hex[b & 15];
    }
    out[2 * nbytes] = '\0';
}

/* ---------- call allocation and release ---------- */

static void post_slot(td_rpc_server *s, method_entry *e, int cq_index)
{
    if (atomic_load(&s->shutting_down))
        return;
    td_rpc_call *c = td__call_new(s, e, cq_index);
    if (c == NULL) {
        td_log_error("rpc", "out of memory posting a request slot");
        return;
    }
    grpc_completion_queue *cq = s->cqs[cq_index];
    grpc_call_error err;
    if (e->m == NULL) {
        err = grpc_server_request_call(s->server, &c->call, &c->details, &c->md, cq, cq,
                                       &c->t_request);
    } else {
        bool want_payload = e->m->kind != TD_RPC_BIDI;
        err = grpc_server_request_registered_call(s->server, e->reg, &c->call, &c->deadline, &c->md,
                                                  want_payload ? &c->payload : NULL, cq, cq,
                                                  &c->t_request);
    }
    if (err != GRPC_CALL_OK) {
        td_log_error("rpc", "request_call failed (%d)", (int)err);
        c->refs = 0;
        td__call_free(c);
    }
}

/* ---------- call processing ---------- */

static const char *bearer_token(td_rpc_call *c, size_t *len)
{
    for (size_t i = 0; i < c->md.count; i++) {
        if (!td__slice_eq(c->md.metadata[i].key, "authorization"))
            continue;
        const char *v = (const char *)GRPC_SLICE_START_PTR(c->md.metadata[i].value);
        size_t n = GRPC_SLICE_LENGTH(c->md.metadata[i].value);
        if (n < 7 || strncasecmp(v, "Bearer ", 7) != 0)
            return NULL;
        v += 7;
        n -= 7;
        while (n > 0 && *v == ' ') {
            v++;
            n--;
        }
        *len = n;
        return v;
    }
    return NULL;
}

static void set_cid(td_rpc_call *c)
{
    for (size_t i = 0; i < c->md.count; i++) {
        if (!td__slice_eq(c->md.metadata[i].key, "x-request-id"))
            continue;
        grpc_slice v = c->md.metadata[i].value;
        size_t n = GRPC_SLICE_LENGTH(v);
        const unsigned char *p = GRPC_SLICE_START_PTR(v);
        bool ok = n > 0 && n < sizeof(c->cid);
        for (size_t j = 0; ok && j < n; j++)
            ok = (p[j] >= '0' && p[j] <= '9') || (p[j] >= 'a' && p[j] <= 'z') ||
                 (p[j] >= 'A' && p[j] <= 'Z') || p[j] == '-' || p[j] == '_' || p[j] == '.';
        if (ok) {
            memcpy(c->cid, p, n);
            c->cid[n] = '\0';
            return;
        }
    }
    random_hex(c->cid, 16);
}

/* Admission: deadline, authentication, rate limit. TD_OK or a recorded failure. */
static td_status admit(td_rpc_call *c)
{
    td_rpc_server *s = c->server;
    const td_rpc_method *m = c->entry->m;
    if (td_rpc_call_deadline_left_ms(c) <= 0)
        return td_rpc_call_fail(c, TD_EDEADLINE, "deadline exceeded before the call started");
    if (m->flags & TD_RPC_PUBLIC)
        return TD_OK;
    size_t tlen = 0;
    const char *tok = bearer_token(c, &tlen);
    if (tok == NULL || tlen == 0)
        return td_rpc_call_fail(c, TD_EUNAUTH, "authorization: missing 'Bearer <JWT>' metadata");
    if (s->opts.auth == NULL)
        return td_rpc_call_fail(c, TD_EUNAUTH, "authorization: no token verifier configured");
    char why[160] = "";
    if (s->opts.auth(s->opts.auth_ctx, tok, tlen, c->user, sizeof(c->user), why, sizeof(why)) !=
        TD_OK) {
        c->user[0] = '\0';
        return td_rpc_call_fail(c, TD_EUNAUTH, "authorization: %s", why[0] ? why : "invalid token");
    }
    if (s->opts.limit != NULL && s->opts.limit(s->opts.limit_ctx, c->user) != TD_OK)
        return td_rpc_call_fail(c, TD_ELIMIT, "rate limit exceeded for this user; retry later");
    return TD_OK;
}

static ProtobufCMessage *unpack_request(td_rpc_call *c, grpc_byte_buffer *bb)
{
    const ProtobufCMessageDescriptor *d = c->entry->m->input;
    ProtobufCMessage *msg = NULL;
    grpc_byte_buffer_reader r;
    if (bb == NULL) {
        td_rpc_call_fail(c, TD_EINVAL, "request message missing");
        return NULL;
    }
    if (!grpc_byte_buffer_reader_init(&r, bb)) {
        td_rpc_call_fail(c, TD_EINVAL, "request message could not be read");
        return NULL;
    }
    grpc_slice sl = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    char field[256], why[128];
    if (td_rpc_validate_wire(d, GRPC_SLICE_START_PTR(sl), GRPC_SLICE_LENGTH(sl), field,
                             sizeof(field), why, sizeof(why)) != TD_OK) {
        grpc_slice_unref(sl);
        td_rpc_call_add_violation(c, field, why);
        td_rpc_call_fail(c, TD_EINVAL, "%s: %s", field, why);
        return NULL;
    }
    ProtobufCAllocator al = td_arena_protobuf_allocator(c->arena);
    msg = protobuf_c_message_unpack(d, &al, GRPC_SLICE_LENGTH(sl), GRPC_SLICE_START_PTR(sl));
    grpc_slice_unref(sl);
    if (msg == NULL) {
        td_rpc_call_fail(c, TD_EINVAL, "malformed request: not a valid %s message", d->name);
        return NULL;
    }
    if (td_rpc_validate_message(msg, field, sizeof(field), why, sizeof(why)) != TD_OK) {
        td_rpc_call_add_violation(c, field, why);
        td_rpc_call_fail(c, TD_EINVAL, "%s: %s", field, why);
        return NULL;
    }
    return msg;
}

static ProtobufCMessage *new_response(td_rpc_call *c)
{
    const ProtobufCMessageDescriptor *d = c->entry->m->output;
    ProtobufCMessage *resp = td_arena_alloc(c->arena, d->sizeof_message);
    if (resp != NULL)
        d->message_init(resp);
    return resp;
}

static void finish_with_error_locked(td_rpc_call *c, td_status st)
{
    if (c->err_status == TD_OK) {
        c->err_status = st;
    }
    td__send_final_locked(c, NULL, c->err_status, c->err_msg);
}

/* Sends a unary call's outcome: c->resp when st is TD_OK, else the recorded error. */
static void finish_unary(td_rpc_call *c, td_status st)
{
    grpc_byte_buffer *out_bb = NULL;
    if (st == TD_OK) {
        size_t len = protobuf_c_message_get_packed_size(c->resp);
        if (len > c->server->opts.max_message_bytes)
            st = td_rpc_call_fail(c, TD_ELIMIT, "response of %zu bytes exceeds the %zu byte limit",
                                  len, c->server->opts.max_message_bytes);
        else
            out_bb = td__pack_message(c->resp);
    } else if (c->err_msg == NULL) {
        td_rpc_call_fail(c, st, "%s", td_strerror(st));
    }
    pthread_mutex_lock(&c->mu);
    if (st == TD_OK)
        td__send_final_locked(c, out_bb, TD_OK, NULL);
    else
        finish_with_error_locked(c, st);
    td__call_settle_unlock(c);
}

static void run_unary(td_rpc_call *c)
{
    const td_rpc_method *m = c->entry->m;
    td_status st = admit(c);
    ProtobufCMessage *req = NULL;
    if (st != TD_OK)
        goto out;
    if (m->unary == NULL) {
        st = td_rpc_call_fail(c, TD_EUNIMPL, "%s is not implemented yet", m->path);
        goto out;
    }
    req = unpack_request(c, c->payload);
    if (req == NULL) {
        st = TD_EINVAL;
        goto out;
    }
    c->resp = new_response(c);
    if (c->resp == NULL) {
        st = td_rpc_call_fail(c, TD_ENOMEM, "out of memory");
        goto out;
    }
    st = m->unary(c, req, c->resp, m->svc);
    if (st == TD_PENDING)
        return; /* td_rpc_call_complete() finishes it, maybe already has: c is not ours now */
out:
    finish_unary(c, st);
}

td_status td_rpc_call_defer(td_rpc_call *c)
{
    td_rpc_call_ref(c);
    return TD_PENDING;
}

void td_rpc_call_complete(td_rpc_call *c, td_status st)
{
    finish_unary(c, st);
    td_rpc_call_unref(c);
}

static void run_stream(td_rpc_call *c)
{
    const td_rpc_method *m = c->entry->m;
    td_status st = admit(c);
    ProtobufCMessage *req = NULL;
    if (st != TD_OK)
        goto out;
    if (m->stream == NULL) {
        st = td_rpc_call_fail(c, TD_EUNIMPL, "%s is not implemented yet", m->path);
        goto out;
    }
    req = unpack_request(c, c->payload);
    if (req == NULL) {
        st = TD_EINVAL;
        goto out;
    }
    td_rpc_server *s = c->server;
    pthread_mutex_lock(&s->mu);
    c->stream_next = s->streams;
    c->stream_prev = NULL;
    if (s->streams)
        s->streams->stream_prev = c;
    s->streams = c;
    c->in_stream_list = true;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_lock(&c->mu);
    c->in_handler = true;
    pthread_mutex_unlock(&c->mu);
    st = m->stream(c, req, m->svc);
    if (st != TD_OK && c->err_msg == NULL)
        td_rpc_call_fail(c, st, "%s", td_strerror(st));
    pthread_mutex_lock(&c->mu);
    c->in_handler = false;
    td__call_settle_unlock(c); /* fires on_done now if the client left meanwhile */
out:
    if (st != TD_OK) {
        pthread_mutex_lock(&c->mu);
        if (!c->status_queued && !c->status_sent) {
            c->status_queued = true;
            c->final_status = c->err_status != TD_OK ? c->err_status : st;
            c->final_message = c->err_msg ? strdup(c->err_msg) : NULL;
            td__stream_pump_locked(c);
        }
        td__call_settle_unlock(c);
    }
}

/* Bidi: receive one request, answer it, receive the next. */
static void bidi_recv_locked(td_rpc_call *c)
{
    grpc_op ops[2];
    size_t n = 0;
    if (!c->initial_md_sent)
        td__fill_initial_md(c, &ops[n++]);
    memset(&ops[n], 0, sizeof(ops[n]));
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n].data.recv_message.recv_message = &c->recv_bb;
    n++;
    if (!td__start_batch_locked(c, ops, n, &c->t_recv))
        atomic_store(&c->cancelled, true);
}

static void run_bidi_start(td_rpc_call *c)
{
    td_status st = admit(c);
    pthread_mutex_lock(&c->mu);
    if (st == TD_OK && c->entry->m->bidi == NULL)
        st = td_rpc_call_fail(c, TD_EUNIMPL, "%s is not implemented yet", c->entry->m->path);
    if (st == TD_OK)
        bidi_recv_locked(c);
    else
        finish_with_error_locked(c, st);
    td__call_settle_unlock(c);
}

static void run_bidi_message(td_rpc_call *c, bool ok)
{
    const td_rpc_method *m = c->entry->m;
    grpc_byte_buffer *bb = c->recv_bb;
    c->recv_bb = NULL;
    grpc_byte_buffer *out_bb = NULL;
    td_status st = TD_OK;
    if (!ok || atomic_load(&c->cancelled)) {
        pthread_mutex_lock(&c->mu);
        atomic_store(&c->cancelled, true);
        goto out;
    }
    if (bb == NULL) { /* client half-closed */
        pthread_mutex_lock(&c->mu);
        td__send_final_locked(c, NULL, TD_OK, NULL);
        goto out;
    }
    ProtobufCMessage *req = unpack_request(c, bb);
    ProtobufCMessage *resp = req ? new_response(c) : NULL;
    if (req == NULL)
        st = TD_EINVAL;
    else if (resp == NULL)
        st = td_rpc_call_fail(c, TD_ENOMEM, "out of memory");
    else
        st = m->bidi(c, req, resp, m->svc);
    if (st == TD_OK)
        out_bb = td__pack_message(resp);
    pthread_mutex_lock(&c->mu);
    if (st != TD_OK) {
        finish_with_error_locked(c, st);
        goto out;
    }
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = out_bb;
    c->sending = td__start_batch_locked(c, &op, 1, &c->t_send);
    grpc_byte_buffer_destroy(out_bb);
    if (!c->sending)
        atomic_store(&c->cancelled, true);
out:
    if (bb)
        grpc_byte_buffer_destroy(bb);
    td__call_settle_unlock(c);
}

static void run_handler(td_rpc_call *c)
{
    switch (c->entry->m->kind) {
    case TD_RPC_UNARY:
        run_unary(c);
        break;
    case TD_RPC_SERVER_STREAM:
        run_stream(c);
        break;
    case TD_RPC_BIDI:
        run_bidi_start(c);
        break;
    }
}

static void on_request(td_rpc_call *c)
{
    td_rpc_server *s = c->server;
    post_slot(s, c->entry, c->cq_index);
    atomic_fetch_add(&s->active, 1);
    clock_gettime(CLOCK_MONOTONIC, &c->started);
    c->arena = td_arena_new(4096);
    set_cid(c);

    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->close_cancelled;
    pthread_mutex_lock(&c->mu);
    bool close_ok = td__start_batch_locked(c, &op, 1, &c->t_close);
    if (!close_ok)
        c->closed = true;
    if (c->arena == NULL || c->entry->m == NULL || !close_ok) {
        if (c->entry->m == NULL) {
            /* details.method is only valid until the call is released; copy for the message */
            grpc_slice mslice = c->details.method;
            char path[200];
            size_t n = GRPC_SLICE_LENGTH(mslice) < sizeof(path) - 1 ? GRPC_SLICE_LENGTH(mslice)
                                                                    : sizeof(path) - 1;
            memcpy(path, GRPC_SLICE_START_PTR(mslice), n);
            path[n] = '\0';
            c->err_status = TD_EUNIMPL;
            c->err_msg = c->arena ? td_arena_printf(c->arena, "unknown method %s", path) : NULL;
        }
        finish_with_error_locked(c, c->arena ? TD_EUNIMPL : TD_ENOMEM);
        td__call_settle_unlock(c);
        return;
    }
    pthread_mutex_unlock(&c->mu);

    if (c->entry->m->flags & TD_RPC_NONBLOCKING) {
        run_handler(c);
        return;
    }
    td_rpc_call_ref(c); /* the job's reference, dropped by the worker */
    pthread_mutex_lock(&s->jobs_mu);
    c->job_next = NULL;
    if (s->jobs_tail)
        s->jobs_tail->job_next = c;
    else
        s->jobs_head = c;
    s->jobs_tail = c;
    pthread_cond_signal(&s->jobs_cv);
    pthread_mutex_unlock(&s->jobs_mu);
}

/* Workers run the handlers that may block (PostgreSQL), so pollers never wait on them. */
static void *worker_main(void *arg)
{
    td_rpc_server *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->jobs_mu);
        while (s->jobs_head == NULL && !s->jobs_stop)
            pthread_cond_wait(&s->jobs_cv, &s->jobs_mu);
        td_rpc_call *c = s->jobs_head;
        if (c != NULL) {
            s->jobs_head = c->job_next;
            if (s->jobs_head == NULL)
                s->jobs_tail = NULL;
        }
        pthread_mutex_unlock(&s->jobs_mu);
        if (c == NULL)
            break; /* stopping and nothing left */
        run_handler(c);
        td_rpc_call_unref(c);
    }
    return NULL;
}

/* Emits metrics and a debug log line once per call; c->mu held. */
static void report_call(td_rpc_call *c)
{
    if (c->reported || c->entry->m == NULL || c->arena == NULL)
        return;
    c->reported = true;
    td_status st = TD_ECANCELLED;
    const char *why = "";
    if (c->status_sent && !c->close_cancelled) {
        st = c->err_status != TD_OK ? c->err_status : c->final_status;
        why = c->err_msg ? c->err_msg : (c->final_message ? c->final_message : "");
    }
    grpc_status_code code = td_status_to_grpc(st);
    td_rpc_server *s = c->server;
    if (s->opts.observe)
        s->opts.observe(s->opts.observe_ctx, c->entry->m, (int)code, elapsed_s(&c->started));
    if (code != GRPC_STATUS_OK)
        td_log(TD_LOG_DEBUG, "rpc", c->cid, "%s -> %s %s", c->entry->m->path,
               td_grpc_code_name(code), why);
}

static void call_handle_event(td_rpc_call *c, tag_kind kind, bool ok)
{
    switch (kind) {
    case TAG_REQUEST:
        if (!ok) { /* server shutting down: the slot never became a call */
            td__call_free(c);
            return;
        }
        td_rpc_call_ref(c); /* the handler's reference: a cancel cannot free it under us */
        on_request(c);
        td_rpc_call_unref(c);
        return;
    case TAG_CLOSE:
        pthread_mutex_lock(&c->mu);
        c->pending--;
        c->closed = true;
        if (c->close_cancelled)
            atomic_store(&c->cancelled, true);
        if (atomic_load(&c->cancelled) || (c->status_sent && !c->sending))
            report_call(c);
        td__call_settle_unlock(c);
        return;
    case TAG_SEND:
        pthread_mutex_lock(&c->mu);
        c->pending--;
        c->sending = false;
        if (!ok)
            atomic_store(&c->cancelled, true);
        if (c->entry->m != NULL && c->entry->m->kind == TD_RPC_SERVER_STREAM)
            td__stream_pump_locked(c);
        else if (c->entry->m != NULL && c->entry->m->kind == TD_RPC_BIDI && !c->status_sent && ok)
            bidi_recv_locked(c);
        if (c->status_sent && !c->sending && c->closed)
            report_call(c);
        td__call_settle_unlock(c);
        return;
    case TAG_RECV:
        pthread_mutex_lock(&c->mu);
        c->pending--;
        c->refs++; /* held while the bidi handler runs */
        pthread_mutex_unlock(&c->mu);
        run_bidi_message(c, ok);
        td_rpc_call_unref(c);
        return;
    case TAG_SHUTDOWN:
        break;
    }
}

static void *poller_main(void *arg)
{
    grpc_completion_queue **cqp = arg;
    grpc_completion_queue *cq = *cqp;
    td_rpc_server *s = NULL;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        op_tag *t = ev.tag;
        if (t->kind == TAG_SHUTDOWN) {
            s = (td_rpc_server *)t->call;
            pthread_mutex_lock(&s->mu);
            s->shutdown_done = true;
            pthread_cond_broadcast(&s->cv);
            pthread_mutex_unlock(&s->mu);
            continue;
        }
        call_handle_event(t->call, t->kind, ev.success != 0);
    }
    return NULL;
}

/* ---------- server lifecycle ---------- */

static char *read_file(const char *path, char *err, size_t cap)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (f == NULL) {
        snprintf(err, cap, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && n < (1 << 20) && fseek(f, 0, SEEK_SET) == 0) {
            buf = malloc((size_t)n + 1);
            if (buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n) {
                buf[n] = '\0';
            } else {
                free(buf);
                buf = NULL;
            }
        }
    }
    fclose(f);
    if (buf == NULL)
        snprintf(err, cap, "%s: cannot read", path);
    return buf;
}

td_rpc_server *td_rpc_server_new(const td_rpc_server_opts *opts, char *err, size_t err_cap)
{
    td_rpc_server *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    s->opts = *opts;
    s->addr = strdup(opts->addr ? opts->addr : "127.0.0.1:50051");
    if (s->opts.max_message_bytes == 0)
        s->opts.max_message_bytes = 4u << 20;
    if (s->opts.max_stream_queue == 0)
        s->opts.max_stream_queue = 1024;
    int ncpu = opts->cpus > 0 ? opts->cpus : td_usable_cpus(); /* affinity and cgroup quota */
    s->ncq = ncpu;
    s->nworkers = opts->threads > 0 ? opts->threads : (int)(ncpu * 4 < 4 ? 4 : ncpu * 4);
    s->nthreads = s->ncq + s->nworkers;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->jobs_mu, NULL);
    pthread_cond_init(&s->jobs_cv, NULL);
    s->unknown_entry.m = NULL;
    s->t_shutdown = (op_tag){TAG_SHUTDOWN, (td_rpc_call *)s};
    return s;
}

td_status td_rpc_server_add_methods(td_rpc_server *s, const td_rpc_method *methods, size_t n)
{
    if (s->started)
        return TD_EPRECOND;
    if (s->nentries + n > s->cap_entries) {
        size_t cap = (s->nentries + n) * 2;
        method_entry *e = realloc(s->entries, cap * sizeof(*e));
        if (e == NULL)
            return TD_ENOMEM;
        s->entries = e;
        s->cap_entries = cap;
    }
    for (size_t i = 0; i < n; i++) {
        s->entries[s->nentries].m = &methods[i];
        s->entries[s->nentries].reg = NULL;
        s->nentries++;
    }
    return TD_OK;
}

int td_rpc_server_start(td_rpc_server *s, char *err, size_t err_cap)
{
    int port = 0;
    char *cert = NULL, *key = NULL, *ca = NULL;
    grpc_server_credentials *creds = NULL;
    grpc_arg args[4];
    args[0] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                         .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
                         .value.integer = (int)s->opts.max_message_bytes};
    args[1] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                         .key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
                         .value.integer = (int)s->opts.max_message_bytes};
    args[2] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                         .key = GRPC_COMPRESSION_CHANNEL_DEFAULT_LEVEL,
                         .value.integer = GRPC_COMPRESS_LEVEL_LOW};
    args[3] =
        (grpc_arg){.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ALLOW_REUSEPORT, .value.integer = 0};
    grpc_channel_args cargs = {.num_args = 4, .args = args};

    grpc_init();
    s->server = grpc_server_create(&cargs, NULL);
    s->cqs = calloc((size_t)s->ncq, sizeof(*s->cqs));
    s->threads = calloc((size_t)s->nthreads, sizeof(*s->threads));
    if (s->cqs == NULL || s->threads == NULL) {
        snprintf(err, err_cap, "out of memory");
        port = TD_ENOMEM;
        goto out;
    }
    for (int i = 0; i < s->ncq; i++) {
        s->cqs[i] = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(s->server, s->cqs[i], NULL);
    }
    for (size_t i = 0; i < s->nentries; i++) {
        const td_rpc_method *m = s->entries[i].m;
        grpc_server_register_method_payload_handling ph =
            m->kind == TD_RPC_BIDI ? GRPC_SRM_PAYLOAD_NONE
                                   : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER;
        s->entries[i].reg = grpc_server_register_method(s->server, m->path, NULL, ph, 0);
        if (s->entries[i].reg == NULL) {
            snprintf(err, err_cap, "cannot register method %s (duplicate?)", m->path);
            port = TD_EINVAL;
            goto out;
        }
    }

    if (s->opts.tls.cert_file != NULL) {
        cert = read_file(s->opts.tls.cert_file, err, err_cap);
        key = cert ? read_file(s->opts.tls.key_file, err, err_cap) : NULL;
        if (cert == NULL || key == NULL) {
            port = TD_EINVAL;
            goto out;
        }
        if (s->opts.tls.client_ca_file != NULL) {
            ca = read_file(s->opts.tls.client_ca_file, err, err_cap);
            if (ca == NULL) {
                port = TD_EINVAL;
                goto out;
            }
        }
        grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
        creds = grpc_ssl_server_credentials_create_ex(
            ca, &pair, 1,
            ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
               : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
            NULL);
    } else {
        creds = grpc_insecure_server_credentials_create();
    }
    if (creds == NULL) {
        snprintf(err, err_cap, "cannot create server credentials (bad certificate or key?)");
        port = TD_EINVAL;
        goto out;
    }
    port = grpc_server_add_http2_port(s->server, s->addr, creds);
    grpc_server_credentials_release(creds);
    if (port <= 0) {
        snprintf(err, err_cap, "cannot listen on %s (address in use or invalid)", s->addr);
        port = TD_EUNAVAIL;
        goto out;
    }
    grpc_server_start(s->server);
    s->started = true;
    int slots = s->nworkers / s->ncq;
    if (slots < SLOTS_PER_METHOD)
        slots = SLOTS_PER_METHOD;
    for (int q = 0; q < s->ncq; q++) {
        for (int k = 0; k < slots; k++) {
            for (size_t i = 0; i < s->nentries; i++)
                post_slot(s, &s->entries[i], q);
        }
        post_slot(s, &s->unknown_entry, q);
    }
    for (int i = 0; i < s->nthreads; i++) {
        if (i < s->ncq ? pthread_create(&s->threads[i], NULL, poller_main, &s->cqs[i]) != 0
                       : pthread_create(&s->threads[i], NULL, worker_main, s) != 0) {
            snprintf(err, err_cap, "cannot start worker thread %d", i);
            s->nthreads = i;
            port = TD_EINTERNAL;
            break;
        }
    }
    s->threads_started = true;
out:
    free(cert);
    if (key != NULL) {
        explicit_bzero(key, strlen(key));
        free(key);
    }
    free(ca);
    return port;
}

long td_rpc_server_active_calls(td_rpc_server *s)
{
    return atomic_load(&s->active);
}

static bool wait_until(td_rpc_server *s, bool (*pred)(td_rpc_server *), int ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000;
    if (dl.tv_nsec >= 1000000000) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&s->mu);
    while (!pred(s)) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT)
            break;
    }
    bool ok = pred(s);
    pthread_mutex_unlock(&s->mu);
    return ok;
}

static bool pred_shutdown_done(td_rpc_server *s)
{
    return s->shutdown_done;
}

static bool pred_no_calls(td_rpc_server *s)
{
    return atomic_load(&s->live_calls) == 0;
}

/* Ends every open stream with UNAVAILABLE so clients reconnect to another replica. */
static void finish_streams(td_rpc_server *s)
{
    for (;;) {
        pthread_mutex_lock(&s->mu);
        td_rpc_call *c = s->streams;
        while (c != NULL && c->shutdown_visited)
            c = c->stream_next;
        if (c != NULL) {
            c->shutdown_visited = true;
            td_rpc_call_ref(c);
        }
        pthread_mutex_unlock(&s->mu);
        if (c == NULL)
            break;
        td_rpc_stream_finish(c, TD_EUNAVAIL, "server is shutting down");
        td_rpc_call_unref(c);
    }
}

void td_rpc_server_shutdown(td_rpc_server *s, int grace_ms)
{
    if (s == NULL || !s->started || s->stopped)
        return;
    s->stopped = true;
    atomic_store(&s->shutting_down, true);
    grpc_server_shutdown_and_notify(s->server, s->cqs[0], &s->t_shutdown);
    finish_streams(s);
    td_log_debug("rpc", "shutdown: streams finished, waiting for %ld call(s)",
                 atomic_load(&s->active));
    /* In-flight calls get the grace period. Idle client connections would hold the
     * shutdown notification until the clients close them, so once no call is left (or the
     * grace is over) the remaining connections are cut with cancel_all_calls. */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (atomic_load(&s->active) > 0 && elapsed_s(&t0) * 1000 < grace_ms &&
           !wait_until(s, pred_shutdown_done, 20)) {
    }
    if (atomic_load(&s->active) > 0)
        td_log_warn("rpc", "grace period of %d ms over: cancelling %ld call(s)", grace_ms,
                    atomic_load(&s->active));
    grpc_server_cancel_all_calls(s->server);
    if (s->opts.on_drain != NULL)
        s->opts.on_drain(s->opts.on_drain_ctx);
    if (!wait_until(s, pred_shutdown_done, 5000))
        td_log_warn("rpc", "shutdown notification still pending after cancelling all calls");
    td_log_debug("rpc", "shutdown: server drained");
    if (!wait_until(s, pred_no_calls, 5000))
        td_log_warn("rpc", "%ld call(s) still referenced at shutdown", atomic_load(&s->live_calls));
    for (int i = 0; i < s->ncq; i++)
        grpc_completion_queue_shutdown(s->cqs[i]);
    pthread_mutex_lock(&s->jobs_mu);
    s->jobs_stop = true; /* workers finish what is queued, then leave */
    pthread_cond_broadcast(&s->jobs_cv);
    pthread_mutex_unlock(&s->jobs_mu);
    if (s->threads_started) {
        for (int i = 0; i < s->nthreads; i++)
            pthread_join(s->threads[i], NULL);
    }
    td_log_debug("rpc", "shutdown: threads joined");
    grpc_server_destroy(s->server);
    s->server = NULL;
    for (int i = 0; i < s->ncq; i++)
        grpc_completion_queue_destroy(s->cqs[i]);
    s->ncq = 0;
}

void td_rpc_server_destroy(td_rpc_server *s)
{
    if (s == NULL)
        return;
    if (s->started) {
        td_rpc_server_shutdown(s, 0);
        grpc_shutdown();
    } else if (s->server != NULL) {
        grpc_server_destroy(s->server);
        for (int i = 0; s->cqs != NULL && i < s->ncq && s->cqs[i] != NULL; i++) {
            grpc_completion_queue_shutdown(s->cqs[i]);
            while (grpc_completion_queue_next(s->cqs[i], gpr_inf_past(GPR_CLOCK_REALTIME), NULL)
                       .type != GRPC_QUEUE_SHUTDOWN) {
            }
            grpc_completion_queue_destroy(s->cqs[i]);
        }
        grpc_shutdown();
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->jobs_mu);
    pthread_cond_destroy(&s->jobs_cv);
    free(s->cqs);
    free(s->threads);
    free(s->entries);
    free(s->addr);
    free(s);
}
