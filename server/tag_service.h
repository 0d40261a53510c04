/* tag_service.h - todo.v1.TagService: CreateTag, ListTags, UpdateTag, DeleteTag.
 *
 * Handlers validate with tag_validate.h (violations name the field: "tag.name",
 * "tag.color", "update_mask", "page_size", "page_token", "request_id"), borrow one pooled
 * connection for the call and run tag_store.h (one transaction per mutation, with its
 * TagChanged change record). A malformed id, a missing id and another user's id all
 * answer NOT_FOUND "tag not found". Name collisions (case-insensitive) answer
 * ALREADY_EXISTS on "tag.name"; a stale etag ABORTED.
 * ListTags page tokens are server/page_token.h tokens whose query hash binds them to the
 * user and to ListTags (a ListTasks token is refused), keyed by (lower(name), id).
 *
 * Threads: gRPC worker threads, one connection per call. Memory: the call arena. */
#ifndef TD_SERVER_TAG_SERVICE_H
#define TD_SERVER_TAG_SERVICE_H
#include <stddef.h>

#include "rpc/server.h"
#include "store/store.h"

/* Attaches CreateTag, ListTags, UpdateTag and DeleteTag of todo.v1.TagService in
 * methods[0..n) to handlers using `store` (borrowed; must outlive the server).
 * TD_ENOTFOUND if the table lacks one of them (the others are still attached). */
td_status td_tag_service_register(td_rpc_method *methods, size_t n, td_store *store);

#endif
