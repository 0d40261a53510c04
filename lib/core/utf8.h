/* utf8.h - strict UTF-8 decoding (RFC 3629): no overlong forms, no surrogates, nothing
 * above U+10FFFF, no truncated sequences. Pure; thread-safe. */
#ifndef TD_CORE_UTF8_H
#define TD_CORE_UTF8_H
#include <stdbool.h>
#include <stddef.h>

/* Decodes the code point at s[*i..len) and advances *i past it; -1 when malformed (then
 * *i is unchanged). */
long td_utf8_next(const char *s, size_t len, size_t *i);
/* Code points in s[0..len), which must be valid UTF-8 (counts non-continuation bytes). */
size_t td_utf8_count(const char *s, size_t len);
/* True when s[0..len) is entirely well-formed UTF-8. */
bool td_utf8_valid(const char *s, size_t len);

#endif
