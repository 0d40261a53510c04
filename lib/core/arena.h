/* arena.h - a bump allocator per unit of work (one gRPC call, one Kafka record, one
 * WebSocket message).
 *
 * Everything allocated from an arena, and every cleanup attached to it (PGresult,
 * redisReply, ...), is released at once by td_arena_destroy(). Blocks grow
 * geometrically; td_arena_alloc() returns 16-byte aligned zeroed memory or NULL.
 * Not thread-safe: an arena belongs to the thread running its unit of work.
 * td_arena_protobuf_allocator() adapts it for protobuf_c_message_unpack(), so a
 * request unpacked into an arena needs no protobuf_c_message_free_unpacked(). */
#ifndef TD_CORE_ARENA_H
#define TD_CORE_ARENA_H
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

typedef struct td_arena td_arena;
typedef void (*td_arena_cleanup_fn)(void *ptr);

/* Returns NULL on allocation failure. Caller frees with td_arena_destroy(). */
td_arena *td_arena_new(size_t first_block);
void td_arena_destroy(td_arena *a); /* NULL is a no-op; runs cleanups in reverse order */

void *td_arena_alloc(td_arena *a, size_t n);       /* zeroed, NULL on failure */
char *td_arena_strdup(td_arena *a, const char *s); /* NULL s -> NULL */
char *td_arena_strndup(td_arena *a, const char *s, size_t n);
char *td_arena_printf(td_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Runs fn(ptr) at destroy time. Returns 0, or -1 (and runs fn(ptr) at once) if out of memory. */
int td_arena_on_destroy(td_arena *a, td_arena_cleanup_fn fn, void *ptr);
size_t td_arena_used(const td_arena *a);

/* An allocator view of the arena; its free() is a no-op. Valid while the arena lives. */
ProtobufCAllocator td_arena_protobuf_allocator(td_arena *a);

#endif
