/* base64url.h - RFC 4648 §5 base64url without padding, strict: decoding rejects padding,
 * foreign characters, impossible lengths and non-zero trailing bits, so every byte string
 * has exactly one accepted encoding (tokens cannot be varied and still verify). Pure. */
#ifndef TD_CORE_BASE64URL_H
#define TD_CORE_BASE64URL_H
#include <stddef.h>

/* Characters needed to encode n bytes (no NUL). */
#define TD_BASE64URL_LEN(n) (((n) / 3) * 4 + ((n) % 3 == 0 ? 0 : (n) % 3 + 1))

/* Encodes src[0..n) into dst (room for TD_BASE64URL_LEN(n) bytes; no NUL written).
 * Returns the length. */
size_t td_base64url_encode(const unsigned char *src, size_t n, char *dst);
/* Decodes src[0..n) into dst (room for n * 3 / 4 bytes). Returns the length or -1. */
long td_base64url_decode(const char *src, size_t n, unsigned char *dst);

#endif
