/* jwt.c - JWT verification and HS256 signing (see jwt.h for the policy).
 *
 * Owns: the verifier's key material (a pre-keyed HMAC-SHA256 template context and/or an
 * RSA EVP_PKEY), a strict base64url decoder and a strict, non-allocating JSON walker
 * that validates a whole object (grammar, UTF-8, nesting <= 32) and records where the
 * values of the few keys we care about are; values are decoded afterwards from those
 * spans. Invariants: the algorithm is chosen by the configured keys, never by the
 * header alone; the signature is checked before the payload is parsed; one scratch
 * allocation per verify, freed at `out:`. Threads: the verifier is read-only after
 * construction; OpenSSL contexts used by td_jwt_verify are per call (the HMAC template
 * is only duplicated, EVP_PKEY is shared read-only, which OpenSSL 3 allows). */
#include "auth/jwt.h"
#include "core/base64url.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/params.h>

enum { HS256_LEN = 32, JSON_MAX_DEPTH = 32, RSA_MIN_BITS = 2048 };

struct td_jwt_verifier {
    EVP_MAC *mac;          /* HMAC, or NULL when HS256 is off */
    EVP_MAC_CTX *hmac_tpl; /* keyed with the secret; duplicated per verify */
    EVP_MD *sha256;
    EVP_PKEY *rsa; /* NULL when RS256 is off */
    char *issuer;
    char *audience;
    int leeway_s;
};

static void set_err(char *err, size_t cap, const char *msg)
{
    if (err != NULL && cap > 0)
        snprintf(err, cap, "%s", msg);
}

/* ---- strict JSON ---- */

typedef struct span {
    const unsigned char *p; /* NULL = key absent */
    size_t n;
} span;

typedef struct jp {
    const unsigned char *p, *end;
    const char *why; /* first error */
} jp;

static void skip_ws(jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool fail(jp *j, const char *why)
{
    if (j->why == NULL)
        j->why = why;
    return false;
}

static int hex4(const unsigned char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid/overlong/surrogate. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t need = 0;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < need + 1)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i <= need; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return need + 1;
}

static size_t utf8_put(unsigned long cp, unsigned char *d)
{
    if (cp < 0x80) {
        d[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (unsigned char)(0xc0 | (cp >> 6));
        d[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (unsigned char)(0xe0 | (cp >> 12));
        d[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        d[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    d[0] = (unsigned char)(0xf0 | (cp >> 18));
    d[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    d[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    d[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Parses a string at j->p ('"'). When dst is non-NULL it receives the decoded bytes
 * (never more than the encoded length, so a buffer of the span's size is enough) and
 * *dlen their count. Validates escapes, surrogate pairs and UTF-8. */
static bool parse_string(jp *j, unsigned char *dst, size_t *dlen)
{
    size_t o = 0;
    if (j->p >= j->end || *j->p != '"')
        return fail(j, "expected string");
    j->p++;
    for (;;) {
        if (j->p >= j->end)
            return fail(j, "unterminated string");
        unsigned char c = *j->p;
        if (c == '"') {
            j->p++;
            break;
        }
        if (c < 0x20)
            return fail(j, "control character in string");
        if (c == '\\') {
            unsigned long cp = 0;
            unsigned char e = 0;
            if (j->end - j->p < 2)
                return fail(j, "bad escape");
            e = j->p[1];
            j->p += 2;
            switch (e) {
            case '"':
                cp = '"';
                break;
            case '\\':
                cp = '\\';
                break;
            case '/':
                cp = '/';
                break;
            case 'b':
                cp = '\b';
                break;
            case 'f':
                cp = '\f';
                break;
            case 'n':
                cp = '\n';
                break;
            case 'r':
                cp = '\r';
                break;
            case 't':
                cp = '\t';
                break;
            case 'u': {
                int h = j->end - j->p >= 4 ? hex4(j->p) : -1;
                if (h < 0)
                    return fail(j, "bad \\u escape");
                j->p += 4;
                cp = (unsigned long)h;
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    return fail(j, "lone surrogate");
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    int lo = -1;
                    if (j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u')
                        lo = hex4(j->p + 2);
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return fail(j, "lone surrogate");
                    j->p += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + ((unsigned long)lo - 0xdc00);
                }
                break;
            }
            default:
                return fail(j, "bad escape");
            }
            if (dst != NULL)
                o += utf8_put(cp, dst + o);
            continue;
        }
        size_t n = utf8_seq(j->p, j->end);
        if (n == 0)
            return fail(j, "invalid UTF-8");
        if (dst != NULL)
            memcpy(dst + o, j->p, n);
        o += n;
        j->p += n;
    }
    if (dlen != NULL)
        *dlen = o;
    return true;
}

static bool parse_number(jp *j)
{
    const unsigned char *p = j->p, *e = j->end;
    if (p < e && *p == '-')
        p++;
    if (p >= e || *p < '0' || *p > '9')
        return fail(j, "bad number");
    if (*p == '0')
        p++;
    else
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    if (p < e && *p == '.') {
        p++;
        if (p >= e || *p < '0' || *p > '9')
            return fail(j, "bad number");
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (p >= e || *p < '0' || *p > '9')
            return fail(j, "bad number");
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    j->p = p;
    return true;
}

static bool literal(jp *j, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return fail(j, "bad literal");
    j->p += n;
    return true;
}

static bool parse_value(jp *j, int depth);

static bool parse_container(jp *j, int depth, bool is_object)
{
    unsigned char close = is_object ? '}' : ']';
    if (depth >= JSON_MAX_DEPTH)
        return fail(j, "nested too deeply");
    j->p++; /* '{' or '[' */
    skip_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return true;
    }
    for (;;) {
        skip_ws(j);
        if (is_object) {
            if (!parse_string(j, NULL, NULL))
                return false;
            skip_ws(j);
            if (j->p >= j->end || *j->p != ':')
                return fail(j, "expected ':'");
            j->p++;
        }
        if (!parse_value(j, depth + 1))
            return false;
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return true;
        }
        return fail(j, "expected ',' or end of container");
    }
}

static bool parse_value(jp *j, int depth)
{
    skip_ws(j);
    if (j->p >= j->end)
        return fail(j, "expected value");
    switch (*j->p) {
    case '{':
        return parse_container(j, depth, true);
    case '[':
        return parse_container(j, depth, false);
    case '"':
        return parse_string(j, NULL, NULL);
    case 't':
        return literal(j, "true");
    case 'f':
        return literal(j, "false");
    case 'n':
        return literal(j, "null");
    default:
        return parse_number(j);
    }
}

/* Validates text as exactly one JSON object and records the value span of each key in
 * keys[] (spans[i].p == NULL when absent). A repeated key from keys[] is an error,
 * since parsers disagree about which copy wins. */
static bool walk_object(const unsigned char *text, size_t len, const char *const *keys,
                        size_t nkeys, span *spans, const char **why)
{
    jp j = {text, text + len, NULL};
    unsigned char key[16];
    for (size_t i = 0; i < nkeys; i++)
        spans[i] = (span){NULL, 0};
    skip_ws(&j);
    if (j.p >= j.end || *j.p != '{') {
        fail(&j, "not a JSON object");
        goto out;
    }
    j.p++;
    skip_ws(&j);
    if (j.p < j.end && *j.p == '}') {
        j.p++;
        goto tail;
    }
    for (;;) {
        const unsigned char *kstart = NULL;
        size_t klen = 0;
        skip_ws(&j);
        kstart = j.p;
        if (!parse_string(&j, NULL, NULL))
            goto out;
        /* Re-decode only short keys: every key we look for is short. */
        if ((size_t)(j.p - kstart) <= sizeof key) {
            jp k = {kstart, j.p, NULL};
            parse_string(&k, key, &klen);
        } else {
            klen = sizeof key + 1;
        }
        skip_ws(&j);
        if (j.p >= j.end || *j.p != ':') {
            fail(&j, "expected ':'");
            goto out;
        }
        j.p++;
        skip_ws(&j);
        const unsigned char *vstart = j.p;
        if (!parse_value(&j, 1))
            goto out;
        for (size_t i = 0; i < nkeys; i++) {
            if (klen == strlen(keys[i]) && memcmp(key, keys[i], klen) == 0) {
                if (spans[i].p != NULL) {
                    fail(&j, "duplicate key");
                    goto out;
                }
                spans[i] = (span){vstart, (size_t)(j.p - vstart)};
            }
        }
        skip_ws(&j);
        if (j.p < j.end && *j.p == ',') {
            j.p++;
            continue;
        }
        if (j.p < j.end && *j.p == '}') {
            j.p++;
            break;
        }
        fail(&j, "expected ',' or '}'");
        goto out;
    }
tail:
    skip_ws(&j);
    if (j.p != j.end)
        fail(&j, "trailing data");
out:
    *why = j.why;
    return j.why == NULL;
}

/* Decodes the string at s into dst (room for s.n bytes). False if not a string. */
static bool span_string(span s, unsigned char *dst, size_t *dlen)
{
    jp j = {s.p, s.p + s.n, NULL};
    return s.p != NULL && s.n > 0 && s.p[0] == '"' && parse_string(&j, dst, dlen);
}

static bool span_string_eq(span s, const char *want, unsigned char *scratch)
{
    size_t n = 0;
    return span_string(s, scratch, &n) && n == strlen(want) && memcmp(scratch, want, n) == 0;
}

/* NumericDate: a JSON number; the fraction is dropped, exponents are refused. */
static bool span_int64(span s, int64_t *out)
{
    const unsigned char *p = s.p, *e = s.p + s.n;
    bool neg = false;
    int64_t v = 0;
    if (p == NULL || p >= e)
        return false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    if (p >= e || *p < '0' || *p > '9')
        return false;
    for (; p < e && *p >= '0' && *p <= '9'; p++) {
        if (v > (INT64_MAX - (*p - '0')) / 10)
            return false;
        v = v * 10 + (*p - '0');
    }
    if (p < e && *p == '.')
        for (p++; p < e && *p >= '0' && *p <= '9'; p++)
            ;
    if (p != e)
        return false;
    *out = neg ? -v : v;
    return true;
}

/* sub rules: 1..128 bytes of UTF-8 without C0, DEL or C1 control characters. */
static const char *check_sub(const unsigned char *s, size_t n)
{
    if (n == 0)
        return "empty sub";
    if (n > TD_JWT_MAX_SUB)
        return "sub too long";
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(s + i, s + n);
        if (k == 0)
            return "bad sub";
        if (s[i] < 0x20 || s[i] == 0x7f || (s[i] == 0xc2 && s[i + 1] < 0xa0))
            return "bad sub";
        i += k;
    }
    return NULL;
}

/* ---- verifier ---- */

static EVP_PKEY *load_rsa(const td_jwt_opts *opts, char *err, size_t cap)
{
    BIO *bio = NULL;
    OSSL_DECODER_CTX *dctx = NULL;
    EVP_PKEY *pkey = NULL;
    bool ok = false;

    if (opts->rs256_pem_file != NULL)
        bio = BIO_new_file(opts->rs256_pem_file, "r");
    else
        bio = BIO_new_mem_buf(opts->rs256_pem, -1);
    if (bio == NULL) {
        set_err(err, cap, "TODO_JWT_PUBLIC_KEY_FILE: cannot read the RS256 public key");
        goto out;
    }
    dctx =
        OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, "RSA", EVP_PKEY_PUBLIC_KEY, NULL, NULL);
    if (dctx == NULL || !OSSL_DECODER_from_bio(dctx, bio) || pkey == NULL) {
        set_err(err, cap, "TODO_JWT_PUBLIC_KEY_FILE: not an RSA public key in PEM");
        goto out;
    }
    if (!EVP_PKEY_is_a(pkey, "RSA") || EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS) {
        set_err(err, cap, "TODO_JWT_PUBLIC_KEY_FILE: need an RSA key of >= 2048 bits");
        goto out;
    }
    ok = true;
out:
    if (!ok) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    OSSL_DECODER_CTX_free(dctx);
    BIO_free(bio);
    return pkey;
}

td_jwt_verifier *td_jwt_verifier_new(const td_jwt_opts *opts, char *err, size_t err_cap)
{
    td_jwt_verifier *v = NULL;
    bool ok = false;

    if (opts == NULL || opts->leeway_s < 0 ||
        (opts->rs256_pem_file != NULL && opts->rs256_pem != NULL)) {
        set_err(err, err_cap, "bad JWT options");
        goto out;
    }
    if (opts->hs256_secret == NULL && opts->rs256_pem_file == NULL && opts->rs256_pem == NULL) {
        set_err(err, err_cap, "no JWT key configured (HS256 secret or RS256 public key)");
        goto out;
    }
    if (opts->hs256_secret != NULL && opts->hs256_secret_len < TD_JWT_MIN_SECRET) {
        set_err(err, err_cap, "TODO_JWT_SECRET: too short (need >= 32 bytes)");
        goto out;
    }
    v = calloc(1, sizeof *v);
    if (v == NULL) {
        set_err(err, err_cap, "out of memory");
        goto out;
    }
    v->leeway_s = opts->leeway_s;
    v->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (v->sha256 == NULL) {
        set_err(err, err_cap, "OpenSSL: SHA256 unavailable");
        goto out;
    }
    if (opts->hs256_secret != NULL) {
        OSSL_PARAM params[2];
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
        params[1] = OSSL_PARAM_construct_end();
        v->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        v->hmac_tpl = v->mac != NULL ? EVP_MAC_CTX_new(v->mac) : NULL;
        if (v->hmac_tpl == NULL ||
            !EVP_MAC_init(v->hmac_tpl, opts->hs256_secret, opts->hs256_secret_len, params)) {
            set_err(err, err_cap, "OpenSSL: HMAC-SHA256 unavailable");
            goto out;
        }
    }
    if (opts->rs256_pem_file != NULL || opts->rs256_pem != NULL) {
        v->rsa = load_rsa(opts, err, err_cap);
        if (v->rsa == NULL)
            goto out;
    }
    if (opts->issuer != NULL && (v->issuer = strdup(opts->issuer)) == NULL) {
        set_err(err, err_cap, "out of memory");
        goto out;
    }
    if (opts->audience != NULL && (v->audience = strdup(opts->audience)) == NULL) {
        set_err(err, err_cap, "out of memory");
        goto out;
    }
    ok = true;
out:
    if (!ok) {
        td_jwt_verifier_destroy(v);
        v = NULL;
    }
    return v;
}

void td_jwt_verifier_destroy(td_jwt_verifier *v)
{
    if (v == NULL)
        return;
    EVP_MAC_CTX_free(v->hmac_tpl);
    EVP_MAC_free(v->mac);
    EVP_MD_free(v->sha256);
    EVP_PKEY_free(v->rsa);
    free(v->issuer);
    free(v->audience);
    free(v);
}

int td_jwt_verifier_leeway(const td_jwt_verifier *v)
{
    return v->leeway_s;
}

static bool hmac_ok(const td_jwt_verifier *v, const char *input, size_t n, const unsigned char *sig,
                    size_t sig_len)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    bool ok = false;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(v->hmac_tpl);
    if (ctx == NULL)
        goto out;
    if (!EVP_MAC_update(ctx, (const unsigned char *)input, n) ||
        !EVP_MAC_final(ctx, mac, &mac_len, sizeof mac))
        goto out;
    ok = sig_len == HS256_LEN && mac_len == HS256_LEN && CRYPTO_memcmp(mac, sig, HS256_LEN) == 0;
out:
    EVP_MAC_CTX_free(ctx);
    return ok;
}

static bool rsa_ok(const td_jwt_verifier *v, const char *input, size_t n, const unsigned char *sig,
                   size_t sig_len)
{
    bool ok = false;
    EVP_MD_CTX *ctx = NULL;
    if (sig_len != (size_t)EVP_PKEY_get_size(v->rsa))
        goto out;
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, v->sha256, NULL, v->rsa) != 1)
        goto out;
    ok = EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)input, n) == 1;
out:
    EVP_MD_CTX_free(ctx);
    return ok;
}

typedef enum alg { ALG_HS256, ALG_RS256 } alg;

/* Header -> algorithm, against the allow-list given by the configured keys. */
static const char *check_header(const td_jwt_verifier *v, const unsigned char *h, size_t n,
                                unsigned char *scratch, alg *out)
{
    static const char *const keys[] = {"alg", "typ", "crit"};
    span sp[3];
    const char *why = NULL;
    size_t alen = 0;
    if (!walk_object(h, n, keys, 3, sp, &why))
        return strcmp(why, "duplicate key") == 0 ? "duplicate header" : "malformed header";
    if (sp[0].p == NULL)
        return "missing alg";
    if (!span_string(sp[0], scratch, &alen))
        return "malformed header";
    if (alen == 4 && strncasecmp((const char *)scratch, "none", 4) == 0)
        return "alg none not allowed";
    if (alen == 5 && memcmp(scratch, "HS256", 5) == 0) {
        if (v->hmac_tpl == NULL)
            return "alg HS256 not allowed";
        *out = ALG_HS256;
    } else if (alen == 5 && memcmp(scratch, "RS256", 5) == 0) {
        if (v->rsa == NULL)
            return "alg RS256 not allowed";
        *out = ALG_RS256;
    } else {
        return "alg not allowed";
    }
    if (sp[1].p != NULL) {
        size_t tlen = 0;
        if (!span_string(sp[1], scratch, &tlen) || tlen != 3 ||
            strncasecmp((const char *)scratch, "JWT", 3) != 0)
            return "bad typ";
    }
    if (sp[2].p != NULL)
        return "crit not supported";
    return NULL;
}

enum { C_SUB, C_EXP, C_NBF, C_IAT, C_ISS, C_AUD, C_N };

static const char *check_aud(span s, const char *want, unsigned char *scratch)
{
    jp j = {s.p, s.p + s.n, NULL};
    if (s.p == NULL)
        return "wrong audience";
    if (s.p[0] == '"')
        return span_string_eq(s, want, scratch) ? NULL : "wrong audience";
    if (s.p[0] != '[')
        return "bad aud";
    j.p++;
    skip_ws(&j);
    if (j.p < j.end && *j.p == ']')
        return "wrong audience";
    for (;;) {
        size_t n = 0;
        skip_ws(&j);
        if (j.p >= j.end || *j.p != '"')
            return "bad aud";
        if (!parse_string(&j, scratch, &n))
            return "bad aud";
        if (n == strlen(want) && memcmp(scratch, want, n) == 0)
            return NULL;
        skip_ws(&j);
        if (j.p < j.end && *j.p == ',') {
            j.p++;
            continue;
        }
        return "wrong audience";
    }
}

static const char *check_claims(const td_jwt_verifier *v, const unsigned char *pl, size_t n,
                                int64_t now, unsigned char *scratch, td_jwt_claims *out)
{
    static const char *const keys[] = {"sub", "exp", "nbf", "iat", "iss", "aud"};
    span sp[C_N];
    const char *why = NULL;
    int64_t exp = 0, t = 0;
    size_t slen = 0;
    const char *bad = NULL;
    int64_t leeway = v->leeway_s;

    if (!walk_object(pl, n, keys, C_N, sp, &why)) {
        if (strcmp(why, "duplicate key") == 0)
            return "duplicate claim";
        if (strcmp(why, "invalid UTF-8") == 0)
            return "malformed claims: invalid UTF-8";
        return "malformed claims";
    }
    if (sp[C_EXP].p == NULL)
        return "missing exp";
    if (!span_int64(sp[C_EXP], &exp))
        return "bad exp";
    if (now - leeway >= exp) /* written so a huge exp cannot overflow */
        return "token expired";
    if (sp[C_NBF].p != NULL) {
        if (!span_int64(sp[C_NBF], &t))
            return "bad nbf";
        if (t > now + leeway)
            return "token not yet valid";
    }
    if (sp[C_IAT].p != NULL) {
        if (!span_int64(sp[C_IAT], &t))
            return "bad iat";
        if (t > now + leeway)
            return "iat in the future";
    }
    if (v->issuer != NULL && !span_string_eq(sp[C_ISS], v->issuer, scratch))
        return "wrong issuer";
    if (v->audience != NULL && (bad = check_aud(sp[C_AUD], v->audience, scratch)) != NULL)
        return bad;
    if (sp[C_SUB].p == NULL)
        return "missing sub";
    if (!span_string(sp[C_SUB], scratch, &slen))
        return "bad sub";
    if ((bad = check_sub(scratch, slen)) != NULL)
        return bad;
    memcpy(out->sub, scratch, slen);
    out->sub[slen] = '\0';
    out->exp = exp;
    return NULL;
}

td_status td_jwt_verify(const td_jwt_verifier *v, const char *token, size_t len, int64_t now,
                        td_jwt_claims *out, char *err, size_t err_cap)
{
    td_status st = TD_EUNAUTH;
    const char *why = NULL;
    unsigned char *buf = NULL;
    const char *dot1 = NULL, *dot2 = NULL;
    unsigned char *hdr = NULL, *pl = NULL, *sig = NULL, *scratch = NULL;
    long hlen = 0, plen = 0, slen = 0;
    size_t signed_len = 0;
    bool sig_ok = false;
    alg a = ALG_HS256;

    if (token == NULL || len == 0) {
        why = "missing token";
        goto out;
    }
    if (len > TD_JWT_MAX_TOKEN) {
        why = "token too large";
        goto out;
    }
    dot1 = memchr(token, '.', len);
    dot2 = dot1 != NULL ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL ||
        dot1 == token || dot2 == dot1 + 1) {
        why = "malformed token";
        goto out;
    }
    /* Layout: header | payload | signature | string scratch (each <= its segment). */
    buf = malloc(2 * len + 4);
    if (buf == NULL) {
        st = TD_ENOMEM;
        why = "out of memory";
        goto out;
    }
    hdr = buf;
    scratch = buf + len + 2;
    hlen = td_base64url_decode(token, (size_t)(dot1 - token), hdr);
    pl = hdr + (hlen > 0 ? hlen : 0);
    plen = hlen >= 0 ? td_base64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), pl) : -1;
    sig = pl + (plen > 0 ? plen : 0);
    slen = plen >= 0 ? td_base64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), sig) : -1;
    if (hlen <= 0 || plen <= 0 || slen < 0) {
        why = "malformed token";
        goto out;
    }
    if ((why = check_header(v, hdr, (size_t)hlen, scratch, &a)) != NULL)
        goto out;
    if (slen == 0) {
        why = "missing signature";
        goto out;
    }
    signed_len = (size_t)(dot2 - token);
    sig_ok = a == ALG_HS256 ? hmac_ok(v, token, signed_len, sig, (size_t)slen)
                            : rsa_ok(v, token, signed_len, sig, (size_t)slen);
    if (!sig_ok) {
        why = "bad signature";
        goto out;
    }
    if ((why = check_claims(v, pl, (size_t)plen, now, scratch, out)) != NULL)
        goto out;
    st = TD_OK;
out:
    if (st != TD_OK)
        set_err(err, err_cap, why);
    free(buf);
    return st;
}

/* ---- signing ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool overflow;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->overflow || b->cap - b->n < n) {
        b->overflow = true;
        return;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void put_str(sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void put_json_string(sbuf *b, const char *s)
{
    put(b, "\"", 1);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(b, esc, 6);
        } else {
            put(b, (const char *)&c, 1);
        }
    }
    put(b, "\"", 1);
}

static bool valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s, *e = p + strlen(s);
    while (p < e) {
        size_t k = utf8_seq(p, e);
        if (k == 0)
            return false;
        p += k;
    }
    return true;
}

td_status td_jwt_sign_hs256(const unsigned char *secret, size_t len, const char *sub, int64_t iat,
                            int64_t exp, const char *iss, const char *aud, char *out, size_t cap)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    td_status st = TD_EINVAL;
    char *json = NULL;
    size_t json_cap = 0;
    char num[32];
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0, need = 0, n = 0;
    sbuf j = {NULL, 0, 0, false};

    if (secret == NULL || len < TD_JWT_MIN_SECRET || sub == NULL || out == NULL ||
        check_sub((const unsigned char *)sub, strlen(sub)) != NULL ||
        (iss != NULL && !valid_utf8(iss)) || (aud != NULL && !valid_utf8(aud)))
        goto out;
    json_cap = 128 + 6 * (strlen(sub) + (iss ? strlen(iss) : 0) + (aud ? strlen(aud) : 0));
    json = malloc(json_cap);
    if (json == NULL) {
        st = TD_ENOMEM;
        goto out;
    }
    j = (sbuf){json, 0, json_cap, false};
    put_str(&j, "{\"sub\":");
    put_json_string(&j, sub);
    snprintf(num, sizeof num, ",\"iat\":%lld", (long long)iat);
    put_str(&j, num);
    snprintf(num, sizeof num, ",\"exp\":%lld", (long long)exp);
    put_str(&j, num);
    if (iss != NULL) {
        put_str(&j, ",\"iss\":");
        put_json_string(&j, iss);
    }
    if (aud != NULL) {
        put_str(&j, ",\"aud\":");
        put_json_string(&j, aud);
    }
    put_str(&j, "}");
    if (j.overflow) {
        st = TD_EINTERNAL;
        goto out;
    }
    st = TD_ERANGE;
    need = TD_BASE64URL_LEN(sizeof header - 1) + 1 + TD_BASE64URL_LEN(j.n) + 1 +
           TD_BASE64URL_LEN(HS256_LEN) + 1;
    if (cap < need)
        goto out;
    n = td_base64url_encode((const unsigned char *)header, sizeof header - 1, out);
    out[n++] = '.';
    n += td_base64url_encode((const unsigned char *)json, j.n, out + n);
    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, len, (unsigned char *)out, n, mac,
                  sizeof mac, &mac_len) == NULL ||
        mac_len != HS256_LEN) {
        st = TD_EINTERNAL;
        goto out;
    }
    out[n++] = '.';
    n += td_base64url_encode(mac, mac_len, out + n);
    out[n] = '\0';
    st = TD_OK;
out:
    free(json);
    if (st != TD_OK && out != NULL && cap > 0)
        out[0] = '\0';
    return st;
}
