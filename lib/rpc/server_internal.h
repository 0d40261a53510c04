/* server_internal.h - private to lib/rpc/server.c and lib/rpc/call.c: the call and server
 * structures and the call operations both files use (td__ names). Nothing else includes it.
 * Ownership and locking rules are described at the top of server.c and call.c. */
#ifndef TD_RPC_SERVER_INTERNAL_H
#define TD_RPC_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <grpc/grpc.h>

#include "rpc/server.h"
#include "rpc/status_details.h"

#define MAX_VIOLATIONS 32

typedef enum tag_kind { TAG_REQUEST, TAG_CLOSE, TAG_SEND, TAG_RECV, TAG_SHUTDOWN } tag_kind;

typedef struct op_tag {
    tag_kind kind;
    td_rpc_call *call;
} op_tag;

typedef struct method_entry {
    const td_rpc_method *m; /* NULL for the unregistered (unknown method) slot */
    void *reg;              /* grpc_server_register_method handle */
} method_entry;

typedef struct send_item {
    struct send_item *next;
    grpc_byte_buffer *bb;
} send_item;

struct td_rpc_call {
    td_rpc_server *server;
    method_entry *entry;
    int cq_index;
    td_arena *arena;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_call_details details; /* unregistered slot only */
    grpc_byte_buffer *payload; /* registered unary/stream request */
    grpc_byte_buffer *recv_bb; /* bidi receive */
    ProtobufCMessage *resp;    /* unary response, in the arena */
    int close_cancelled;
    op_tag t_request, t_close, t_send, t_recv;
    struct timespec started;

    pthread_mutex_t mu;
    int pending;      /* batches in flight */
    int refs;         /* runtime + external */
    bool runtime_ref; /* the runtime still holds its reference */
    bool initial_md_sent;
    bool sending;       /* a SEND batch is in flight */
    bool status_queued; /* finish requested */
    bool status_sent;   /* SEND_STATUS batch started (or failed) */
    bool closed;        /* close-on-server arrived */
    bool done_called;
    bool reported;         /* metrics/log emitted */
    bool in_handler;       /* stream handler running: on_done waits until it returns */
    bool shutdown_visited; /* finish_streams() saw it; guarded by server->mu */
    atomic_bool cancelled;
    send_item *q_head, *q_tail;
    size_t q_len;
    td_status final_status;
    char *final_message;
    td_rpc_done_fn on_done;
    void *on_done_ud;
    struct td_rpc_call *stream_prev, *stream_next; /* server->streams list */
    struct td_rpc_call *job_next;                  /* server->jobs queue */
    bool in_stream_list;

    /* handler-visible state */
    char user[129];
    char cid[40];
    char *err_msg;
    td_status err_status;
    td_rpc_violation violations[MAX_VIOLATIONS];
    size_t nviolations;
};

struct td_rpc_server {
    td_rpc_server_opts opts;
    char *addr;
    grpc_server *server;
    int ncq;
    grpc_completion_queue **cqs;
    int nthreads;       /* pollers (ncq, one per queue) + workers */
    int nworkers;       /* threads running handlers that may block */
    pthread_t *threads; /* [0, ncq) pollers, then workers */
    bool threads_started;
    /* handlers that may block wait here for a worker (FIFO through td_rpc_call.job_next) */
    pthread_mutex_t jobs_mu;
    pthread_cond_t jobs_cv;
    td_rpc_call *jobs_head, *jobs_tail;
    bool jobs_stop;
    method_entry *entries;
    size_t nentries, cap_entries;
    method_entry unknown_entry;
    atomic_long active;
    atomic_long live_calls;
    atomic_bool shutting_down;
    bool started, stopped;
    op_tag t_shutdown;

    pthread_mutex_t mu; /* streams list, shutdown flags */
    pthread_cond_t cv;
    bool shutdown_done;
    td_rpc_call *streams;
};

/* ---------- small helpers ---------- */

static inline bool td__slice_eq(grpc_slice s, const char *str)
{
    size_t n = strlen(str);
    return GRPC_SLICE_LENGTH(s) == n && memcmp(GRPC_SLICE_START_PTR(s), str, n) == 0;
}

/* call.c: lifetime. td__call_new counts a live call; td__call_free releases everything. */
td_rpc_call *td__call_new(td_rpc_server *s, method_entry *e, int cq_index);
void td__call_free(td_rpc_call *c);
/* After any state change, with c->mu held: fires on_done, drops the runtime's reference
 * when the call is complete, frees it when unreferenced. Releases c->mu. */
void td__call_settle_unlock(td_rpc_call *c);
/* Batches, c->mu held. start_batch counts the batch as pending only if the core took it. */
bool td__start_batch_locked(td_rpc_call *c, const grpc_op *ops, size_t n, op_tag *tag);
void td__fill_initial_md(td_rpc_call *c, grpc_op *op);
/* [initial metadata] + [message] + status in one batch; takes ownership of msg_bb. */
void td__send_final_locked(td_rpc_call *c, grpc_byte_buffer *msg_bb, td_status st, const char *msg);
/* Streams: starts the next queued message or the queued status if nothing is in flight. */
void td__stream_pump_locked(td_rpc_call *c);
grpc_byte_buffer *td__pack_message(const ProtobufCMessage *msg);

#endif
