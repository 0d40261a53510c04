/* service.c - method tables from ProtobufCServiceDescriptor. See service.h. */
#include "rpc/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_streaming(const char *name, const char *const *streaming)
{
    for (size_t i = 0; streaming != NULL && streaming[i] != NULL; i++) {
        if (strcmp(streaming[i], name) == 0)
            return 1;
    }
    return 0;
}

size_t td_rpc_service_methods(const ProtobufCServiceDescriptor *sd, const char *const *streaming,
                              td_rpc_method *out, size_t cap, char **path_buf)
{
    size_t need = 0;
    *path_buf = NULL;
    if (sd->n_methods > cap)
        return 0;
    for (unsigned i = 0; i < sd->n_methods; i++)
        need += strlen(sd->name) + strlen(sd->methods[i].name) + 3;
    char *buf = malloc(need ? need : 1);
    if (buf == NULL)
        return 0;
    char *p = buf;
    for (unsigned i = 0; i < sd->n_methods; i++) {
        const ProtobufCMethodDescriptor *md = &sd->methods[i];
        int n = snprintf(p, (size_t)(buf + need - p), "/%s/%s", sd->name, md->name);
        out[i] = (td_rpc_method){
            .path = p,
            .kind = is_streaming(md->name, streaming) ? TD_RPC_SERVER_STREAM : TD_RPC_UNARY,
            .input = md->input,
            .output = md->output,
        };
        p += n + 1;
    }
    *path_buf = buf;
    return sd->n_methods;
}

static td_rpc_method *find(td_rpc_method *m, size_t n, const char *service, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "/%s/%s", service, name);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(m[i].path, path) == 0)
            return &m[i];
    }
    return NULL;
}

td_status td_rpc_methods_set_unary(td_rpc_method *m, size_t n, const char *service,
                                   const char *name, td_rpc_unary_fn fn, void *svc)
{
    td_rpc_method *e = find(m, n, service, name);
    if (e == NULL || e->kind != TD_RPC_UNARY)
        return TD_ENOTFOUND;
    e->unary = fn;
    e->svc = svc;
    return TD_OK;
}

td_status td_rpc_methods_add_flags(td_rpc_method *m, size_t n, const char *service,
                                   const char *name, unsigned flags)
{
    td_rpc_method *e = find(m, n, service, name);
    if (e == NULL)
        return TD_ENOTFOUND;
    e->flags |= flags;
    return TD_OK;
}

td_status td_rpc_methods_set_stream(td_rpc_method *m, size_t n, const char *service,
                                    const char *name, td_rpc_stream_fn fn, void *svc)
{
    td_rpc_method *e = find(m, n, service, name);
    if (e == NULL || e->kind != TD_RPC_SERVER_STREAM)
        return TD_ENOTFOUND;
    e->stream = fn;
    e->svc = svc;
    return TD_OK;
}
