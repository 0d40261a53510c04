/* arena.c - bump allocator with cleanup list. See arena.h for the contract.
 * Owns: its blocks (malloc'd, singly linked, newest first) and cleanup records
 * (allocated inside the arena itself). */
#include "core/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16

typedef struct block {
    struct block *next;
    size_t size, used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
} block;

typedef struct cleanup {
    struct cleanup *next;
    td_arena_cleanup_fn fn;
    void *ptr;
} cleanup;

struct td_arena {
    block *head;
    cleanup *cleanups;
    size_t next_size, total;
};

static block *block_new(size_t size)
{
    block *b = malloc(sizeof(*b) + size);
    if (b == NULL)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

td_arena *td_arena_new(size_t first_block)
{
    td_arena *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->next_size = first_block < 256 ? 256 : first_block;
    return a;
}

void td_arena_destroy(td_arena *a)
{
    if (a == NULL)
        return;
    for (cleanup *c = a->cleanups; c != NULL; c = c->next)
        c->fn(c->ptr);
    block *b = a->head;
    while (b != NULL) {
        block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

void *td_arena_alloc(td_arena *a, size_t n)
{
    if (a == NULL)
        return NULL;
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX / 2)
        return NULL;
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    block *b = a->head;
    if (b == NULL || b->size - b->used < need) {
        size_t size = a->next_size;
        while (size < need)
            size *= 2;
        b = block_new(size);
        if (b == NULL)
            return NULL;
        b->next = a->head;
        a->head = b;
        if (a->next_size < (1u << 20))
            a->next_size *= 2;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->total += need;
    memset(p, 0, n);
    return p;
}

char *td_arena_strndup(td_arena *a, const char *s, size_t n)
{
    if (s == NULL)
        return NULL;
    char *d = td_arena_alloc(a, n + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *td_arena_strdup(td_arena *a, const char *s)
{
    return s == NULL ? NULL : td_arena_strndup(a, s, strlen(s));
}

char *td_arena_printf(td_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *d = td_arena_alloc(a, (size_t)n + 1);
    if (d == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}

int td_arena_on_destroy(td_arena *a, td_arena_cleanup_fn fn, void *ptr)
{
    cleanup *c = td_arena_alloc(a, sizeof(*c));
    if (c == NULL) {
        fn(ptr);
        return -1;
    }
    c->fn = fn;
    c->ptr = ptr;
    c->next = a->cleanups;
    a->cleanups = c;
    return 0;
}

size_t td_arena_used(const td_arena *a)
{
    return a == NULL ? 0 : a->total;
}

static void *pb_alloc(void *data, size_t size)
{
    return td_arena_alloc(data, size);
}

static void pb_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;
}

ProtobufCAllocator td_arena_protobuf_allocator(td_arena *a)
{
    ProtobufCAllocator al = {.alloc = pb_alloc, .free = pb_free, .allocator_data = a};
    return al;
}
