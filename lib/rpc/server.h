/* server.h - the gRPC server runtime on grpc C-core (no C++).
 *
 * Owns: the grpc_server, one completion queue per poller group, the worker threads,
 * and every in-flight call (td_rpc_call). Services register a method table before
 * td_rpc_server_start(); the runtime then drives each call to completion:
 *
 *   unary          request unpacked into the call's arena -> handler fills the response
 *                  -> packed and sent with the status (and google.rpc.Status details).
 *   server stream  handler runs once on a worker thread; it may send messages at once
 *                  and/or keep the call (td_rpc_call_ref) and send from any thread later.
 *                  The call ends with td_rpc_stream_finish(), client cancellation,
 *                  deadline, or server shutdown (finished with UNAVAILABLE).
 *   bidi echo      one response per request, in order, on one stream (reflection).
 *
 * Before any handler runs the runtime: rejects a call whose deadline has passed,
 * verifies the JWT (unless the method is TD_RPC_PUBLIC) and applies the per-user rate
 * limit (hooks below), and unpacks the request (malformed -> INVALID_ARGUMENT).
 * Oversized messages are refused by the core (RESOURCE_EXHAUSTED). Responses are
 * gzip-compressed when the client accepts gzip (compression level LOW).
 *
 * Threads: handlers run on runtime worker threads and may block (PostgreSQL), except
 * TD_RPC_NONBLOCKING ones, which run on the polling thread and must not. Stream sends,
 * finishes and td_rpc_call_complete are thread-safe. Memory: each call has an arena that lives
 * until the call is released; requests, responses and handler scratch all live there. */
#ifndef TD_RPC_SERVER_H
#define TD_RPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "core/arena.h"
#include "core/status.h"

typedef struct td_rpc_server td_rpc_server;
typedef struct td_rpc_call td_rpc_call;

typedef enum td_rpc_kind { TD_RPC_UNARY, TD_RPC_SERVER_STREAM, TD_RPC_BIDI } td_rpc_kind;

enum {
    TD_RPC_PUBLIC = 1u << 0,      /* no JWT required (health, reflection) */
    TD_RPC_NONBLOCKING = 1u << 1, /* handler never blocks: runs on the polling thread */
};

/* Unary: *resp is an initialised message of method->output in the call arena; fill it
 * (strings/arrays from td_rpc_call_arena()) and return TD_OK, or return
 * td_rpc_call_fail(call, ...). */
typedef td_status (*td_rpc_unary_fn)(td_rpc_call *call, const ProtobufCMessage *req,
                                     ProtobufCMessage *resp, void *svc);
/* Server stream: runs once. Return TD_OK to keep the stream open (then someone must
 * finish it, or it lives until cancel/deadline/shutdown), or an error status to end it
 * with that status. Use td_rpc_stream_send() for messages. */
typedef td_status (*td_rpc_stream_fn)(td_rpc_call *call, const ProtobufCMessage *req, void *svc);
/* Bidi echo: called once per received request, fills *resp; an error status ends the
 * stream with that status. */
typedef td_status (*td_rpc_bidi_fn)(td_rpc_call *call, const ProtobufCMessage *req,
                                    ProtobufCMessage *resp, void *svc);

typedef struct td_rpc_method {
    const char *path; /* "/todo.v1.TaskService/CreateTask" */
    td_rpc_kind kind;
    const ProtobufCMessageDescriptor *input;
    const ProtobufCMessageDescriptor *output;
    unsigned flags;          /* TD_RPC_PUBLIC */
    td_rpc_unary_fn unary;   /* kind == TD_RPC_UNARY; NULL -> UNIMPLEMENTED */
    td_rpc_stream_fn stream; /* kind == TD_RPC_SERVER_STREAM; NULL -> UNIMPLEMENTED */
    td_rpc_bidi_fn bidi;     /* kind == TD_RPC_BIDI; NULL -> UNIMPLEMENTED */
    void *svc;               /* service context, borrowed, passed to the handler */
} td_rpc_method;

/* Authentication hook: verifies a bearer token (without "Bearer "), writes the subject
 * (user id) into sub (NUL-terminated, at most sub_cap-1 bytes) or a reason into err.
 * Returns TD_OK or TD_EUNAUTH. Called from worker threads concurrently. */
typedef td_status (*td_rpc_auth_fn)(void *ctx, const char *token, size_t token_len, char *sub,
                                    size_t sub_cap, char *err, size_t err_cap);
/* Rate limit hook: TD_OK or TD_ELIMIT. Called concurrently after authentication. */
typedef td_status (*td_rpc_limit_fn)(void *ctx, const char *sub);

typedef struct td_rpc_tls {
    const char *cert_file;      /* PEM chain; NULL = plaintext */
    const char *key_file;       /* PEM private key */
    const char *client_ca_file; /* PEM; non-NULL = require and verify client certificates */
} td_rpc_tls;

typedef struct td_rpc_server_opts {
    const char *addr;         /* "127.0.0.1:50051" */
    int threads;              /* worker threads (plus one poller per core); 0 = 4 x cores */
    int cpus;                 /* usable cores, if the caller knows; 0 = td_usable_cpus() */
    size_t max_message_bytes; /* 0 = 4 MiB, both directions */
    size_t max_stream_queue;  /* queued messages per stream before TD_ELIMIT; 0 = 1024 */
    td_rpc_tls tls;
    td_rpc_auth_fn auth; /* NULL = every non-public method is UNAUTHENTICATED */
    void *auth_ctx;
    td_rpc_limit_fn limit; /* NULL = no rate limit */
    void *limit_ctx;
    /* Called once per finished call, on a worker thread: the method (a pointer into the
     * table given to td_rpc_server_add_methods), final gRPC code, duration in seconds.
     * For metrics; must not block. */
    void (*observe)(void *ctx, const struct td_rpc_method *m, int grpc_code, double seconds);
    void *observe_ctx;
    /* Called once during shutdown, after the grace period and the cancelling of what was
     * left, before waiting for calls to be released: complete deferred calls now (their
     * work will not finish). NULL = none. */
    void (*on_drain)(void *ctx);
    void *on_drain_ctx;
} td_rpc_server_opts;

/* Creates a stopped server. NULL on failure with a reason in err. Caller owns it:
 * td_rpc_server_destroy(). */
td_rpc_server *td_rpc_server_new(const td_rpc_server_opts *opts, char *err, size_t err_cap);
/* Registers methods (the table must outlive the server). Before start only. */
td_status td_rpc_server_add_methods(td_rpc_server *s, const td_rpc_method *methods, size_t n);
/* Binds, starts the worker threads. Returns the bound port (> 0) or a negative td_status. */
int td_rpc_server_start(td_rpc_server *s, char *err, size_t err_cap);
/* Graceful shutdown: stops accepting calls, ends open streams with UNAVAILABLE, lets
 * in-flight unary calls finish for up to grace_ms, then cancels the rest, joins the
 * threads. Safe to call once from any non-worker thread. */
void td_rpc_server_shutdown(td_rpc_server *s, int grace_ms);
void td_rpc_server_destroy(td_rpc_server *s); /* NULL is a no-op; shuts down if needed */

/* Number of calls in flight (unary + streams), for metrics and tests. */
long td_rpc_server_active_calls(td_rpc_server *s);

/* ---- inside a handler (worker thread) ---- */
td_arena *td_rpc_call_arena(td_rpc_call *call);
const td_rpc_method *td_rpc_call_method(const td_rpc_call *call);
const char *td_rpc_call_user(const td_rpc_call *call); /* JWT sub; "" on public methods */
const char *
td_rpc_call_cid(const td_rpc_call *call); /* correlation id (x-request-id or generated) */
/* First value of a request metadata key (lowercase), copied into the arena; NULL if absent. */
const char *td_rpc_call_metadata(td_rpc_call *call, const char *key);
/* Milliseconds until the deadline (INT64_MAX when none, <= 0 when passed). */
int64_t td_rpc_call_deadline_left_ms(const td_rpc_call *call);
/* True once the client cancelled, the deadline passed or the server is shutting down.
 * Thread-safe; long handlers poll it between steps. */
bool td_rpc_call_is_cancelled(const td_rpc_call *call);

/* Records the error to send; returns st so handlers can `return td_rpc_call_fail(...)`.
 * The message is printf-formatted and should name the field ("title: too long"). */
td_status td_rpc_call_fail(td_rpc_call *call, td_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds a google.rpc.BadRequest field violation sent in grpc-status-details-bin. */
void td_rpc_call_add_violation(td_rpc_call *call, const char *field, const char *description);

/* ---- asynchronous unary handlers ----
 * A handler that hands its work to another thread calls `return td_rpc_call_defer(call);`
 * (before handing it over: the work may finish first). The runtime then sends nothing and
 * the call stays valid until whoever finishes the work calls td_rpc_call_complete() exactly
 * once, from any thread, after filling the response the handler was given (TD_OK) or
 * recording the error with td_rpc_call_fail(). A client that left meanwhile is fine. */
td_status td_rpc_call_defer(td_rpc_call *call); /* returns TD_PENDING */
void td_rpc_call_complete(td_rpc_call *call, td_status st);

/* ---- streams (any thread) ---- */
/* Keeps the call alive beyond the handler; pair with td_rpc_call_unref(). */
void td_rpc_call_ref(td_rpc_call *call);
void td_rpc_call_unref(td_rpc_call *call);
/* Called exactly once when the stream ends for any reason, on a runtime thread, before
 * the runtime drops its own reference. Subscribers unlink the call here. */
typedef void (*td_rpc_done_fn)(td_rpc_call *call, void *ud);
void td_rpc_call_on_done(td_rpc_call *call, td_rpc_done_fn fn, void *ud);
/* Packs msg now and queues it. TD_ECANCELLED if the stream has ended, TD_ELIMIT if the
 * queue is full (the stream is then finished with RESOURCE_EXHAUSTED). */
td_status td_rpc_stream_send(td_rpc_call *call, const ProtobufCMessage *msg);
/* Queues the final status after pending messages; later sends fail. Idempotent. */
void td_rpc_stream_finish(td_rpc_call *call, td_status st, const char *message);

#endif
