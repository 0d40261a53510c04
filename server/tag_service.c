/* tag_service.c - todo.v1.TagService handlers (contract in tag_service.h).
 *
 * Each handler: validate (violations name the field) -> borrow a connection -> one
 * tag_store call -> map the status onto the call. Error messages sent to clients never
 * carry SQL; the store's detail goes to the log through td_store_fail().
 * Threads: gRPC worker threads. Memory: the call arena; the connection is released at
 * the single exit. */
#include "tag_service.h"

#include <string.h>

#include "google/protobuf/empty.pb-c.h"
#include "page_token.h"
#include "rpc/service.h"
#include "store/tag_store.h"
#include "store/task_row.h"
#include "tag_validate.h"
#include "todo/v1/tag.pb-c.h"

#define SERVICE        "todo.v1.TagService"
#define LIST_QUERY     "todo.v1.TagService/ListTags" /* what a ListTags token is bound to */
#define REQUEST_ID_MAX 128

static td_status violation(td_rpc_call *call, const char *field, const char *why)
{
    td_rpc_call_add_violation(call, field, why);
    return td_rpc_call_fail(call, TD_EINVAL, "%s: %s", field, why);
}

/* Maps a store failure: the statuses a client can act on get their own message and
 * field; the rest go through td_store_fail (client-safe, detail logged). */
static td_status store_failed(td_rpc_call *call, td_status st, const char *what, const char *detail)
{
    switch (st) {
    case TD_ENOTFOUND:
        return td_rpc_call_fail(call, st, "tag not found");
    case TD_EEXIST:
        td_rpc_call_add_violation(call, "tag.name", "a tag with this name already exists");
        return td_rpc_call_fail(call, st, "tag.name: a tag with this name already exists");
    case TD_ECONFLICT:
        return td_rpc_call_fail(call, st, "etag: the tag was changed by another request");
    default:
        return td_store_fail(call, st, what, detail);
    }
}

/* "" -> -1 (unconditional); our etag -> its revision; anything else -> a revision no
 * tag has (0: revisions start at 1), i.e. ABORTED like any stale etag. */
static int64_t etag_revision(const char *etag)
{
    int64_t rev = 0;
    if (etag == NULL || *etag == '\0')
        return -1;
    if (!td_task_etag_parse(etag, &rev))
        return 0;
    return rev;
}

static bool request_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n > REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

static void ctx_init(td_tag_ctx *ctx, td_rpc_call *call, td_pg_conn *conn)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->conn = conn;
    ctx->user = td_rpc_call_user(call);
    ctx->cid = td_rpc_call_cid(call);
    ctx->arena = td_rpc_call_arena(call);
}

/* ------------------------------------------------------------------------------------ */

static td_status create_tag(td_rpc_call *call, const ProtobufCMessage *req_msg,
                            ProtobufCMessage *resp_msg, void *svc)
{
    const Todo__V1__CreateTagRequest *req = (const Todo__V1__CreateTagRequest *)req_msg;
    Todo__V1__Tag *resp = (Todo__V1__Tag *)resp_msg;
    td_store *store = svc;
    td_pg_conn *conn = NULL;
    td_tag_ctx ctx;
    char *name = NULL;
    const char *why = NULL, *color;
    bool existed = false;
    td_status st;

    if (req->tag == NULL) {
        st = violation(call, "tag", "is required");
        goto out;
    }
    st = td_tag_name_normalize(req->tag->name, td_rpc_call_arena(call), &name, &why);
    if (st != TD_OK) {
        st = st == TD_EINVAL ? violation(call, "tag.name", why)
                             : td_rpc_call_fail(call, st, "out of memory");
        goto out;
    }
    color = req->tag->color;
    if (!td_tag_color_valid(color)) {
        st = violation(call, "tag.color", "must be empty or #RRGGBB");
        goto out;
    }
    if (!request_id_valid(req->request_id)) {
        st = violation(call, "request_id", "must be at most 128 printable ASCII characters");
        goto out;
    }
    if ((conn = td_store_acquire(store, call)) == NULL) {
        st = TD_EUNAVAIL; /* the error is already on the call */
        goto out;
    }
    ctx_init(&ctx, call, conn);
    st = td_tag_store_create(&ctx, name, color, req->request_id, resp, &existed);
    if (st != TD_OK)
        st = store_failed(call, st, "create tag", ctx.err);
out:
    if (conn != NULL)
        td_store_release(store, conn);
    return st;
}

static td_status list_tags(td_rpc_call *call, const ProtobufCMessage *req_msg,
                           ProtobufCMessage *resp_msg, void *svc)
{
    const Todo__V1__ListTagsRequest *req = (const Todo__V1__ListTagsRequest *)req_msg;
    Todo__V1__ListTagsResponse *resp = (Todo__V1__ListTagsResponse *)resp_msg;
    td_store *store = svc;
    td_arena *a = td_rpc_call_arena(call);
    td_pg_conn *conn = NULL;
    td_tag_ctx ctx;
    unsigned char qh[TD_PAGE_TOKEN_HASH_LEN];
    td_page_cursor cur;
    const char *why = NULL, *last_key = NULL;
    bool have_cursor = false, more = false;
    int limit = 0;
    td_status st;

    if (td_tag_page_size(req->page_size, &limit) != TD_OK) {
        st = violation(call, "page_size", "must not be negative");
        goto out;
    }
    td_page_token_query_hash(td_rpc_call_user(call), LIST_QUERY, strlen(LIST_QUERY), qh);
    if (req->page_token != NULL && *req->page_token != '\0') {
        st = td_page_token_decode(store->page_key, qh, req->page_token, a, &cur, &why);
        if (st == TD_EINVAL) {
            st = violation(call, "page_token", why != NULL ? why : "invalid");
            goto out;
        }
        if (st != TD_OK) {
            st = td_rpc_call_fail(call, st, "page_token: cannot decode");
            goto out;
        }
        have_cursor = true;
    }
    if ((conn = td_store_acquire_list(store, call)) == NULL) {
        st = TD_EUNAVAIL;
        goto out;
    }
    ctx_init(&ctx, call, conn);
    st = td_tag_store_list(&ctx, have_cursor ? cur.key : NULL, have_cursor ? cur.id : NULL, limit,
                           &resp->tags, &resp->n_tags, &more, &last_key);
    if (st != TD_OK) {
        st = store_failed(call, st, "list tags", ctx.err);
        goto out;
    }
    if (more && resp->n_tags > 0) {
        const Todo__V1__Tag *last = resp->tags[resp->n_tags - 1];
        char *tok =
            td_page_token_encode(store->page_key, qh, last_key, strlen(last_key), last->id, a, &st);
        if (tok == NULL) {
            st = td_store_fail(call, st == TD_OK ? TD_EINTERNAL : st, "page token", NULL);
            goto out;
        }
        resp->next_page_token = tok;
    }
out:
    if (conn != NULL)
        td_store_release_list(store, conn);
    return st;
}

static td_status update_tag(td_rpc_call *call, const ProtobufCMessage *req_msg,
                            ProtobufCMessage *resp_msg, void *svc)
{
    const Todo__V1__UpdateTagRequest *req = (const Todo__V1__UpdateTagRequest *)req_msg;
    Todo__V1__Tag *resp = (Todo__V1__Tag *)resp_msg;
    td_store *store = svc;
    td_pg_conn *conn = NULL;
    td_tag_ctx ctx;
    unsigned fields = 0;
    char *name = NULL;
    const char *why = NULL, *bad = NULL;
    td_status st;

    if (req->tag == NULL) {
        st = violation(call, "tag", "is required");
        goto out;
    }
    if (req->update_mask == NULL || req->update_mask->n_paths == 0) {
        st = violation(call, "update_mask", "is required (name the fields to change, or \"*\")");
        goto out;
    }
    if (td_tag_mask_parse(req->update_mask->paths, req->update_mask->n_paths, &fields, &bad) !=
        TD_OK) {
        td_rpc_call_add_violation(call, "update_mask", "unknown or read-only path");
        st = td_rpc_call_fail(call, TD_EINVAL, "update_mask: unknown or read-only path \"%.64s\"",
                              bad);
        goto out;
    }
    if (fields & TD_TAG_F_NAME) {
        st = td_tag_name_normalize(req->tag->name, td_rpc_call_arena(call), &name, &why);
        if (st != TD_OK) {
            st = st == TD_EINVAL ? violation(call, "tag.name", why)
                                 : td_rpc_call_fail(call, st, "out of memory");
            goto out;
        }
    }
    if ((fields & TD_TAG_F_COLOR) && !td_tag_color_valid(req->tag->color)) {
        st = violation(call, "tag.color", "must be empty or #RRGGBB");
        goto out;
    }
    if (!td_tag_id_valid(req->tag->id)) {
        st = td_rpc_call_fail(call, TD_ENOTFOUND, "tag not found");
        goto out;
    }
    if ((conn = td_store_acquire(store, call)) == NULL) {
        st = TD_EUNAVAIL;
        goto out;
    }
    ctx_init(&ctx, call, conn);
    st = td_tag_store_update(&ctx, req->tag->id, fields, name, req->tag->color,
                             etag_revision(req->tag->etag), resp);
    if (st != TD_OK)
        st = store_failed(call, st, "update tag", ctx.err);
out:
    if (conn != NULL)
        td_store_release(store, conn);
    return st;
}

static td_status delete_tag(td_rpc_call *call, const ProtobufCMessage *req_msg,
                            ProtobufCMessage *resp_msg, void *svc)
{
    const Todo__V1__DeleteTagRequest *req = (const Todo__V1__DeleteTagRequest *)req_msg;
    td_store *store = svc;
    td_pg_conn *conn = NULL;
    td_tag_ctx ctx;
    td_status st;

    (void)resp_msg; /* google.protobuf.Empty */
    if (!td_tag_id_valid(req->id)) {
        st = td_rpc_call_fail(call, TD_ENOTFOUND, "tag not found");
        goto out;
    }
    if ((conn = td_store_acquire(store, call)) == NULL) {
        st = TD_EUNAVAIL;
        goto out;
    }
    ctx_init(&ctx, call, conn);
    st = td_tag_store_delete(&ctx, req->id, etag_revision(req->etag));
    if (st != TD_OK)
        st = store_failed(call, st, "delete tag", ctx.err);
out:
    if (conn != NULL)
        td_store_release(store, conn);
    return st;
}

td_status td_tag_service_register(td_rpc_method *methods, size_t n, td_store *store)
{
    static const struct {
        const char *name;
        td_rpc_unary_fn fn;
    } handlers[] = {
        {"CreateTag", create_tag},
        {"ListTags", list_tags},
        {"UpdateTag", update_tag},
        {"DeleteTag", delete_tag},
    };
    td_status st = TD_OK;

    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
        if (td_rpc_methods_set_unary(methods, n, SERVICE, handlers[i].name, handlers[i].fn,
                                     store) != TD_OK)
            st = TD_ENOTFOUND;
    return st;
}
