/* reflection.h - gRPC server reflection (grpc.reflection.v1 and v1alpha) answered from
 * a serialized FileDescriptorSet (normally the embedded td_descriptor_set).
 *
 * Owns: a private copy of the set's bytes and an immutable index built once by
 * td_reflection_new(): files by name (each with the ORIGINAL serialized
 * FileDescriptorProto bytes, split from the set, and its direct dependencies) and
 * fully-qualified symbols (packages' services, methods, messages incl. nested ones,
 * fields, oneofs, enums, enum values, extensions) -> defining file.
 *
 * Answers: every file-descriptor answer carries the requested file first, then its
 * transitive dependencies, each once. Files are not de-duplicated across requests of
 * one stream (allowed by the protocol; clients skip what they have). Lookup failures
 * are error_response NOT_FOUND (5) with the name; an unknown request kind is
 * error_response UNIMPLEMENTED (12); the stream itself stays OK.
 *
 * Threads: after td_reflection_new() returns the index is read-only, so
 * td_reflection_answer() and the handlers may run concurrently on any thread. Destroy
 * only after the RPC server that serves the methods has shut down. */
#ifndef TD_RPC_REFLECTION_H
#define TD_RPC_REFLECTION_H
#include <stddef.h>

#include "core/arena.h"
#include "core/status.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "rpc/server.h"

typedef struct td_reflection td_reflection;

/* Builds the index from a serialized google.protobuf.FileDescriptorSet (copied; the
 * caller's buffer may go away). Every dependency named by a file must be in the set.
 * Returns NULL on a malformed set or allocation failure, with a reason in err.
 * Caller frees with td_reflection_destroy(). */
td_reflection *td_reflection_new(const unsigned char *set, size_t len, char *err, size_t err_cap);
/* Same, over the embedded td_descriptor_set (lib/rpc/descriptor_set.h). */
td_reflection *td_reflection_new_embedded(char *err, size_t err_cap);
void td_reflection_destroy(td_reflection *r); /* NULL is a no-op */

/* Answers one request. Initialises *resp (a v1 ServerReflectionResponse) and fills it;
 * everything it points to lives in arena a, or (file bytes) in r. Returns TD_OK (also
 * for lookup failures, which are error_response answers) or TD_ENOMEM. */
td_status td_reflection_answer(const td_reflection *r,
                               const Grpc__Reflection__V1__ServerReflectionRequest *req,
                               Grpc__Reflection__V1__ServerReflectionResponse *resp, td_arena *a);

/* Name of the file defining a fully-qualified symbol ("todo.v1.Task"; a leading '.'
 * is accepted), or NULL. Borrowed, valid while r lives. */
const char *td_reflection_symbol_file(const td_reflection *r, const char *symbol);
/* Service names in the set ("todo.v1.TaskService"), sorted. Borrowed from r. */
size_t td_reflection_services(const td_reflection *r, const char *const **names);

/* Fills out[0..1] with the bidi methods
 *   /grpc.reflection.v1.ServerReflection/ServerReflectionInfo
 *   /grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo
 * (TD_RPC_PUBLIC, svc = r). Both use the v1 message descriptors: the two packages are
 * wire-identical and the runtime only packs and unpacks with them. Returns 2, or 0 if
 * cap < 2. r must outlive the server. */
size_t td_reflection_methods(td_reflection *r, td_rpc_method *out, size_t cap);

#endif
