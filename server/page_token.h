/* page_token.h - opaque, tamper-proof keyset page tokens for ListTasks.
 *
 * A token carries the position after the last task of a page: that task's sort key
 * (PostgreSQL's exact text form of the key: a timestamptz, a smallint, lower(title), or
 * a float4 rank - text round-trips all of them exactly) and its id. Layout, before
 * base64url (RFC 4648 section 5, unpadded):
 *
 *   version (1 byte, = 1) | query hash (16) | key length (2, big endian) | key bytes |
 *   task id (16, binary uuid) | HMAC-SHA256(page_key, everything before) truncated to 16
 *
 * The query hash (td_page_token_query_hash) binds the token to the caller and to the
 * request's filters, search and order: the same token sent with other filters, another
 * order or by another user is refused, as is any modified, truncated or foreign byte
 * string. The MAC is checked (constant time) before anything else is trusted. Tokens
 * do not expire: a keyset position stays meaningful while rows come and go.
 *
 * Pure functions, thread-safe, no I/O. Memory: encoded tokens and decoded keys live in
 * the caller's arena. */
#ifndef TD_SERVER_PAGE_TOKEN_H
#define TD_SERVER_PAGE_TOKEN_H
#include <stddef.h>

#include "core/arena.h"
#include "core/status.h"

enum {
    TD_PAGE_TOKEN_HASH_LEN = 16,
    TD_PAGE_TOKEN_MAC_LEN = 16,
    TD_PAGE_TOKEN_MAX_KEY = 1024, /* lower(title) is <= 200 characters = 800 bytes */
    TD_PAGE_TOKEN_MAX_LEN = 1536, /* base64url characters accepted on input */
};

/* A decoded position. key is NUL-terminated (arena), id is canonical uuid text. */
typedef struct td_page_cursor {
    const char *key;
    size_t key_len;
    char id[37];
} td_page_cursor;

/* Hash of what a token is bound to: the user id and a canonical encoding of the
 * request's filters and order (the caller packs the request with page_size, page_token
 * and include_total_size cleared). Writes TD_PAGE_TOKEN_HASH_LEN bytes. */
void td_page_token_query_hash(const char *user, const void *query, size_t query_len,
                              unsigned char out[TD_PAGE_TOKEN_HASH_LEN]);

/* Encodes a token for position (key, id) under query hash qh, signed with page_key.
 * id must be a uuid in text form. Returns the NUL-terminated token in `a`, or NULL when
 * id is not a uuid, key is too long, or out of memory (*st tells which). */
char *td_page_token_encode(const unsigned char page_key[32],
                           const unsigned char qh[TD_PAGE_TOKEN_HASH_LEN], const char *key,
                           size_t key_len, const char *id, td_arena *a, td_status *st);

/* Decodes and verifies a token. TD_OK fills *out (strings in `a`). TD_EINVAL with a
 * short client-safe reason in *why ("malformed", "bad signature", "does not match the
 * request") for anything that is not a token we issued for this query; TD_ENOMEM. */
td_status td_page_token_decode(const unsigned char page_key[32],
                               const unsigned char qh[TD_PAGE_TOKEN_HASH_LEN], const char *token,
                               td_arena *a, td_page_cursor *out, const char **why);

/* uuid text <-> 16 bytes. Accepts the canonical 8-4-4-4-12 hex form (either case);
 * returns 0 or -1. td_page_uuid_format writes 36 lowercase chars + NUL. */
int td_page_uuid_parse(const char *s, unsigned char out[16]);
void td_page_uuid_format(const unsigned char in[16], char out[37]);

#endif
