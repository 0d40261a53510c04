/* embed.h - files compiled into a binary by cmake/embed.cmake (SQL migrations,
 * the protobuf descriptor set). Static, read-only data; no ownership. */
#ifndef TD_CORE_EMBED_H
#define TD_CORE_EMBED_H
#include <stddef.h>

typedef struct td_embedded_file {
    const char *name;          /* base name of the source file */
    const unsigned char *data; /* NUL-terminated after len bytes */
    size_t len;
} td_embedded_file;

#endif
