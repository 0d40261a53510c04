/* descriptor_set.h - the FileDescriptorSet of every proto the server exposes, compiled
 * into td_proto at build time (proto/CMakeLists.txt: protoc --include_imports
 * --include_source_info over every proto/ file, embedded by cmake/embed.cmake).
 *
 * td_descriptor_set[0] is the set ("todo.protoset"); the array ends with {NULL, NULL, 0}.
 * Static read-only data: no ownership, safe from any thread. */
#ifndef TD_RPC_DESCRIPTOR_SET_H
#define TD_RPC_DESCRIPTOR_SET_H
#include <stddef.h>
#include "core/embed.h"

extern const td_embedded_file td_descriptor_set[];
extern const size_t td_descriptor_set_count;

#endif
