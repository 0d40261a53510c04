/* page_token.c - ListTasks page tokens: layout, HMAC and base64url (see page_token.h).
 *
 * Invariants: nothing from a token is parsed before its MAC verifies (CRYPTO_memcmp);
 * the decoder is strict (alphabet, no padding, canonical trailing bits, exact lengths),
 * so one position has exactly one token text. All output lives in the caller's arena;
 * no static state, any thread. */
#include "page_token.h"

#include "core/base64url.h"

#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

/* Version 3: RELEVANCE keys are "tier|updated_at" (2: "rank|updated_at", 1: "rank"). A
 * token of another version is INVALID_ARGUMENT (the client lists again from the first
 * page). */
enum { TOKEN_VERSION = 3, HEADER_LEN = 1 + TD_PAGE_TOKEN_HASH_LEN + 2, ID_LEN = 16 };

/* ---- uuid ---- */

static int hex_val(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int td_page_uuid_parse(const char *s, unsigned char out[16])
{
    size_t o = 0;
    if (s == NULL || strlen(s) != 36)
        return -1;
    for (size_t i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return -1;
            i++;
            continue;
        }
        int hi = hex_val((unsigned char)s[i]);
        int lo = hex_val((unsigned char)s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[o++] = (unsigned char)(hi << 4 | lo);
        i += 2;
    }
    return 0;
}

void td_page_uuid_format(const unsigned char in[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[in[i] >> 4];
        out[o++] = hex[in[i] & 15];
    }
    out[o] = '\0';
}

/* ---- token ---- */

void td_page_token_query_hash(const char *user, const void *query, size_t query_len,
                              unsigned char out[TD_PAGE_TOKEN_HASH_LEN])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    unsigned char sep = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    /* The user id cannot contain NUL, so "user \0 query" is unambiguous. On allocation
     * failure fall back to a hash of nothing: tokens then simply never verify. */
    memset(md, 0, sizeof(md));
    if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
        EVP_DigestUpdate(ctx, "td-page-v1", 10);
        EVP_DigestUpdate(ctx, user, strlen(user));
        EVP_DigestUpdate(ctx, &sep, 1);
        if (query_len > 0)
            EVP_DigestUpdate(ctx, query, query_len);
        EVP_DigestFinal_ex(ctx, md, NULL);
    }
    EVP_MD_CTX_free(ctx);
    memcpy(out, md, TD_PAGE_TOKEN_HASH_LEN);
}

static int mac(const unsigned char page_key[32], const unsigned char *data, size_t n,
               unsigned char out[TD_PAGE_TOKEN_MAC_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (HMAC(EVP_sha256(), page_key, 32, data, n, md, &mdlen) == NULL ||
        mdlen < TD_PAGE_TOKEN_MAC_LEN)
        return -1;
    memcpy(out, md, TD_PAGE_TOKEN_MAC_LEN);
    return 0;
}

char *td_page_token_encode(const unsigned char page_key[32],
                           const unsigned char qh[TD_PAGE_TOKEN_HASH_LEN], const char *key,
                           size_t key_len, const char *id, td_arena *a, td_status *st)
{
    unsigned char buf[HEADER_LEN + TD_PAGE_TOKEN_MAX_KEY + ID_LEN + TD_PAGE_TOKEN_MAC_LEN];
    char *tok = NULL;
    size_t n = 0;

    *st = TD_EINVAL;
    if (key_len > TD_PAGE_TOKEN_MAX_KEY)
        goto out;
    buf[n++] = TOKEN_VERSION;
    memcpy(buf + n, qh, TD_PAGE_TOKEN_HASH_LEN);
    n += TD_PAGE_TOKEN_HASH_LEN;
    buf[n++] = (unsigned char)(key_len >> 8);
    buf[n++] = (unsigned char)key_len;
    if (key_len > 0)
        memcpy(buf + n, key, key_len);
    n += key_len;
    if (td_page_uuid_parse(id, buf + n) != 0)
        goto out;
    n += ID_LEN;
    if (mac(page_key, buf, n, buf + n) != 0) {
        *st = TD_EINTERNAL;
        goto out;
    }
    n += TD_PAGE_TOKEN_MAC_LEN;
    tok = td_arena_alloc(a, (n + 2) / 3 * 4 + 1);
    if (tok == NULL) {
        *st = TD_ENOMEM;
        goto out;
    }
    tok[td_base64url_encode(buf, n, tok)] = '\0';
    *st = TD_OK;
out:
    return tok;
}

td_status td_page_token_decode(const unsigned char page_key[32],
                               const unsigned char qh[TD_PAGE_TOKEN_HASH_LEN], const char *token,
                               td_arena *a, td_page_cursor *out, const char **why)
{
    unsigned char buf[TD_PAGE_TOKEN_MAX_LEN * 3 / 4 + 3];
    unsigned char want[TD_PAGE_TOKEN_MAC_LEN];
    td_status st = TD_EINVAL;
    size_t tlen = token != NULL ? strnlen(token, TD_PAGE_TOKEN_MAX_LEN + 1) : 0;
    size_t key_len;
    long n;
    char *key;

    *why = "malformed";
    if (tlen == 0 || tlen > TD_PAGE_TOKEN_MAX_LEN)
        goto out;
    n = td_base64url_decode(token, tlen, buf);
    if (n < HEADER_LEN + ID_LEN + TD_PAGE_TOKEN_MAC_LEN)
        goto out;
    /* Authenticate first: nothing below reads an unauthenticated byte. */
    if (mac(page_key, buf, (size_t)n - TD_PAGE_TOKEN_MAC_LEN, want) != 0) {
        st = TD_EINTERNAL;
        goto out;
    }
    if (CRYPTO_memcmp(want, buf + n - TD_PAGE_TOKEN_MAC_LEN, TD_PAGE_TOKEN_MAC_LEN) != 0) {
        *why = "bad signature";
        goto out;
    }
    if (buf[0] != TOKEN_VERSION) {
        *why = "from another server version; list again from the first page";
        goto out;
    }
    if (memcmp(buf + 1, qh, TD_PAGE_TOKEN_HASH_LEN) != 0) {
        *why = "does not match the request's filters, order or user";
        goto out;
    }
    key_len = (size_t)buf[HEADER_LEN - 2] << 8 | buf[HEADER_LEN - 1];
    if ((size_t)n != HEADER_LEN + key_len + ID_LEN + TD_PAGE_TOKEN_MAC_LEN ||
        memchr(buf + HEADER_LEN, '\0', key_len) != NULL)
        goto out;
    key = td_arena_strndup(a, (const char *)buf + HEADER_LEN, key_len);
    if (key == NULL) {
        st = TD_ENOMEM;
        goto out;
    }
    out->key = key;
    out->key_len = key_len;
    td_page_uuid_format(buf + HEADER_LEN + key_len, out->id);
    *why = NULL;
    st = TD_OK;
out:
    return st;
}
