/* health.c - grpc.health.v1.Health. See health.h.
 * Watchers: a doubly linked list of {call, name index, last sent}, each holding a call
 * reference; the runtime's on_done callback unlinks the watcher and drops it.
 * Locks: send_mu (orders pushes, so a watcher never sees an older status after a newer
 * one) is taken before mu; mu guards the list and statuses. Sends happen with only
 * send_mu held, because a send may end the stream and run on_done, which takes mu. */
#include "rpc/health.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"

typedef struct watcher {
    struct watcher *prev, *next;
    td_rpc_call *call;
    int idx; /* -1: unknown service name */
    td_health_status last;
    struct td_health *h;
} watcher;

struct td_health {
    pthread_mutex_t send_mu;
    pthread_mutex_t mu;
    size_t n; /* names[0] is "" */
    const char **names;
    td_health_status *status;
    watcher *watchers;
    td_rpc_method methods[2];
};

static int find_name(const td_health *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++) {
        if (strcmp(h->names[i], name) == 0)
            return (int)i;
    }
    return -1;
}

td_health *td_health_new(const char *const *names, size_t n)
{
    td_health *h = calloc(1, sizeof(*h));
    if (h == NULL)
        goto fail;
    h->n = n + 1;
    h->names = calloc(h->n, sizeof(*h->names));
    h->status = calloc(h->n, sizeof(*h->status));
    if (h->names == NULL || h->status == NULL)
        goto fail;
    h->names[0] = "";
    for (size_t i = 0; i < n; i++)
        h->names[i + 1] = names[i];
    for (size_t i = 0; i < h->n; i++)
        h->status[i] = TD_HEALTH_NOT_SERVING;
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->send_mu, NULL);
    return h;
fail:
    if (h != NULL) {
        free(h->names);
        free(h->status);
        free(h);
    }
    return NULL;
}

void td_health_destroy(td_health *h)
{
    if (h == NULL)
        return;
    /* Watchers are gone by now: the server ended every stream before this is called. */
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->send_mu);
    free(h->names);
    free(h->status);
    free(h);
}

static void send_status(td_rpc_call *call, td_health_status st)
{
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)st;
    td_rpc_stream_send(call, &resp.base);
}

void td_health_set_all(td_health *h, td_health_status st)
{
    td_rpc_call **calls = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&h->send_mu);
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n; i++)
        h->status[i] = st;
    for (watcher *w = h->watchers; w != NULL; w = w->next)
        cap++;
    calls = cap ? malloc(cap * sizeof(*calls)) : NULL;
    for (watcher *w = h->watchers; w != NULL && calls != NULL; w = w->next) {
        if (w->idx >= 0 && w->last != st) {
            w->last = st;
            td_rpc_call_ref(w->call);
            calls[n++] = w->call;
        }
    }
    pthread_mutex_unlock(&h->mu);
    for (size_t i = 0; i < n; i++) {
        send_status(calls[i], st);
        td_rpc_call_unref(calls[i]);
    }
    pthread_mutex_unlock(&h->send_mu);
    free(calls);
}

td_health_status td_health_get(td_health *h, const char *name)
{
    pthread_mutex_lock(&h->mu);
    int i = find_name(h, name);
    td_health_status st = i < 0 ? TD_HEALTH_UNKNOWN : h->status[i];
    pthread_mutex_unlock(&h->mu);
    return st;
}

static td_status check(td_rpc_call *call, const ProtobufCMessage *reqm, ProtobufCMessage *respm,
                       void *svc)
{
    td_health *h = svc;
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)reqm;
    Grpc__Health__V1__HealthCheckResponse *resp = (void *)respm;
    const char *name = req->service ? req->service : "";
    pthread_mutex_lock(&h->mu);
    int i = find_name(h, name);
    td_health_status st = i < 0 ? TD_HEALTH_UNKNOWN : h->status[i];
    pthread_mutex_unlock(&h->mu);
    if (i < 0)
        return td_rpc_call_fail(call, TD_ENOTFOUND, "service: unknown service '%s'", name);
    resp->status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)st;
    return TD_OK;
}

static void watch_done(td_rpc_call *call, void *ud)
{
    watcher *w = ud;
    td_health *h = w->h;
    pthread_mutex_lock(&h->mu);
    if (w->prev)
        w->prev->next = w->next;
    else
        h->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    pthread_mutex_unlock(&h->mu);
    free(w);
    td_rpc_call_unref(call);
}

static td_status watch(td_rpc_call *call, const ProtobufCMessage *reqm, void *svc)
{
    td_health *h = svc;
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)reqm;
    const char *name = req->service ? req->service : "";
    watcher *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return td_rpc_call_fail(call, TD_ENOMEM, "out of memory");
    w->h = h;
    w->call = call;
    td_rpc_call_ref(call);
    pthread_mutex_lock(&h->send_mu);
    pthread_mutex_lock(&h->mu);
    w->idx = find_name(h, name);
    /* Unknown names get SERVICE_UNKNOWN (3) and the stream stays open, per the protocol. */
    w->last = w->idx < 0 ? (td_health_status)3 : h->status[w->idx];
    w->next = h->watchers;
    if (h->watchers)
        h->watchers->prev = w;
    h->watchers = w;
    td_rpc_call_on_done(call, watch_done, w);
    td_health_status first = w->last;
    pthread_mutex_unlock(&h->mu);
    send_status(call, first);
    pthread_mutex_unlock(&h->send_mu);
    return TD_OK;
}

size_t td_health_methods(td_health *h, td_rpc_method *out, size_t cap)
{
    if (cap < 2)
        return 0;
    out[0] = (td_rpc_method){
        .path = "/grpc.health.v1.Health/Check",
        .kind = TD_RPC_UNARY,
        .input = &grpc__health__v1__health_check_request__descriptor,
        .output = &grpc__health__v1__health_check_response__descriptor,
        .flags = TD_RPC_PUBLIC | TD_RPC_NONBLOCKING,
        .unary = check,
        .svc = h,
    };
    out[1] = (td_rpc_method){
        .path = "/grpc.health.v1.Health/Watch",
        .kind = TD_RPC_SERVER_STREAM,
        .input = &grpc__health__v1__health_check_request__descriptor,
        .output = &grpc__health__v1__health_check_response__descriptor,
        .flags = TD_RPC_PUBLIC | TD_RPC_NONBLOCKING,
        .stream = watch,
        .svc = h,
    };
    return 2;
}
