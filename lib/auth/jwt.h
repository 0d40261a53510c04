/* jwt.h - JSON Web Token verification (RFC 7519, RFC 8725 BCP) and HS256 signing.
 *
 * A td_jwt_verifier holds the keys and the policy. The algorithm allow-list follows the
 * keys, never the token: HS256 is accepted only when an HMAC secret is configured and
 * is checked with that secret; RS256 only when an RSA public key is configured and is
 * checked with that key. So alg=none, unknown algorithms and the RS256->HS256 key
 * confusion (RSA public key used as HMAC secret) all fail. kid/jku/x5u/jwk in the
 * header are untrusted and ignored; a "crit" header is refused.
 *
 * Checks, in order: size (<= TD_JWT_MAX_TOKEN), three base64url segments (unpadded,
 * canonical), header JSON (alg, typ = "JWT" when present), signature (constant-time
 * for HMAC), payload JSON (strict: valid UTF-8, no duplicate keys among the claims we
 * use), exp (required), nbf, iat (not in the future), iss/aud when configured, sub
 * (required, 1..128 bytes, no control characters).
 *
 * Threads: a verifier is immutable after td_jwt_verifier_new(); td_jwt_verify() may be
 * called concurrently from any number of threads. Ownership: caller destroys the
 * verifier with td_jwt_verifier_destroy(). */
#ifndef TD_AUTH_JWT_H
#define TD_AUTH_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

enum {
    TD_JWT_MAX_TOKEN = 8192, /* bytes; longer tokens are refused before any decoding */
    TD_JWT_MAX_SUB = 128,    /* bytes of UTF-8 */
    TD_JWT_MIN_SECRET = 32,  /* HS256 key length floor (RFC 7518 3.2) */
};

typedef struct td_jwt_opts {
    const unsigned char *hs256_secret; /* NULL = HS256 disabled; borrowed, copied */
    size_t hs256_secret_len;           /* >= TD_JWT_MIN_SECRET */
    const char *rs256_pem_file;        /* RSA public key PEM file, or NULL */
    const char *rs256_pem;             /* RSA public key PEM text, or NULL (not both) */
    const char *issuer;                /* required iss, or NULL = not checked */
    const char *audience;              /* required aud (string or in array), or NULL */
    int leeway_s;                      /* clock skew allowed for exp/nbf/iat, >= 0 */
} td_jwt_opts;

typedef struct td_jwt_claims {
    char sub[TD_JWT_MAX_SUB + 1]; /* NUL-terminated */
    int64_t exp;                  /* seconds since the epoch */
} td_jwt_claims;

typedef struct td_jwt_verifier td_jwt_verifier;

/* At least one key is required. Returns NULL with a reason in err on bad options,
 * unreadable PEM, or a non-RSA / < 2048-bit key. Caller owns the result. */
td_jwt_verifier *td_jwt_verifier_new(const td_jwt_opts *opts, char *err, size_t err_cap);
void td_jwt_verifier_destroy(td_jwt_verifier *v); /* NULL is a no-op */
int td_jwt_verifier_leeway(const td_jwt_verifier *v);

/* Verifies token[0..len) at time now (seconds since the epoch). TD_OK fills *out;
 * otherwise TD_EUNAUTH with a short reason in err ("bad signature", "token expired",
 * "alg none not allowed", "missing sub", "malformed token", ...), or TD_ENOMEM.
 * Thread-safe. */
td_status td_jwt_verify(const td_jwt_verifier *v, const char *token, size_t len, int64_t now,
                        td_jwt_claims *out, char *err, size_t err_cap);

/* Signs {"alg":"HS256","typ":"JWT"}.{"sub","iat","exp"[,"iss"][,"aud"]} for dev tokens
 * and tests. sub must satisfy the verifier's rules. TD_EINVAL on bad arguments
 * (secret < 32 bytes, bad sub), TD_ERANGE if out[cap] is too small. */
td_status td_jwt_sign_hs256(const unsigned char *secret, size_t len, const char *sub, int64_t iat,
                            int64_t exp, const char *iss, const char *aud, char *out, size_t cap);

#endif
