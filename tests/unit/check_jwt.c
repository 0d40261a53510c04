/* check_jwt.c - unit tests for lib/auth: JWT verification (every bad-token case answers
 * TD_EUNAUTH with its reason), HS256 signing, RS256 with a key generated here, the
 * verdict cache (hits, expiry, concurrency) and the mint-token CLI helper.
 * Tokens are built here with an independent base64url encoder and OpenSSL directly,
 * so the verifier is not only tested against its own signer. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "auth/auth.h"
#include "auth/jwt.h"
#include "check_run.h"

#define NOW 1700000000LL
static const char SECRET[] = "test-secret-test-secret-test-secret!";
#define SECRET_LEN (sizeof SECRET - 1)

static EVP_PKEY *rsa_key; /* generated once in main */
static char *rsa_pub_pem; /* its public key, PEM */

/* ---- token construction ---- */

static char *b64(const void *data, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = data;
    char *o = malloc(n * 4 / 3 + 4), *q = o;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        *q++ = t[p[i] >> 2];
        *q++ = t[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
        *q++ = t[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
        *q++ = t[p[i + 2] & 63];
    }
    if (n - i == 1) {
        *q++ = t[p[i] >> 2];
        *q++ = t[(p[i] & 3) << 4];
    } else if (n - i == 2) {
        *q++ = t[p[i] >> 2];
        *q++ = t[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
        *q++ = t[(p[i + 1] & 15) << 2];
    }
    *q = '\0';
    return o;
}

typedef enum { SIG_HS256, SIG_RS256, SIG_HS384, SIG_NONE } sigkind;

/* header.payload.signature with the given JSON texts; key used for HMAC kinds. */
static char *make_token(const char *header, const char *payload, sigkind kind, const void *key,
                        size_t keylen)
{
    char *h = b64(header, strlen(header)), *p = b64(payload, strlen(payload));
    size_t in_len = strlen(h) + 1 + strlen(p);
    char *input = malloc(in_len + 1);
    unsigned char sig[1024];
    size_t sig_len = 0;
    snprintf(input, in_len + 1, "%s.%s", h, p);
    if (kind == SIG_HS256 || kind == SIG_HS384) {
        ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, kind == SIG_HS256 ? "SHA256" : "SHA384",
                                        NULL, key, keylen, (unsigned char *)input, in_len, sig,
                                        sizeof sig, &sig_len));
    } else if (kind == SIG_RS256) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        sig_len = sizeof sig;
        ck_assert_int_eq(EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, rsa_key, NULL), 1);
        ck_assert_int_eq(EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *)input, in_len), 1);
        EVP_MD_CTX_free(ctx);
    }
    char *s = b64(sig, sig_len);
    size_t tot = in_len + 1 + strlen(s) + 1;
    char *tok = malloc(tot);
    snprintf(tok, tot, "%s.%s", input, s);
    free(h);
    free(p);
    free(s);
    free(input);
    return tok;
}

static char *hs(const char *payload)
{
    return make_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, SIG_HS256, SECRET,
                      SECRET_LEN);
}

static td_jwt_verifier *hs_verifier(const char *iss, const char *aud, int leeway)
{
    td_jwt_opts o = {0};
    char err[128] = "";
    o.hs256_secret = (const unsigned char *)SECRET;
    o.hs256_secret_len = SECRET_LEN;
    o.issuer = iss;
    o.audience = aud;
    o.leeway_s = leeway;
    td_jwt_verifier *v = td_jwt_verifier_new(&o, err, sizeof err);
    ck_assert_msg(v != NULL, "%s", err);
    return v;
}

static td_jwt_verifier *rs_verifier(void)
{
    td_jwt_opts o = {0};
    char err[128] = "";
    o.rs256_pem = rsa_pub_pem;
    td_jwt_verifier *v = td_jwt_verifier_new(&o, err, sizeof err);
    ck_assert_msg(v != NULL, "%s", err);
    return v;
}

/* Verifies tok with v and expects failure with exactly reason. Frees tok. */
static void expect_fail(td_jwt_verifier *v, char *tok, const char *reason)
{
    td_jwt_claims c;
    char err[128] = "";
    td_status st = td_jwt_verify(v, tok, strlen(tok), NOW, &c, err, sizeof err);
    ck_assert_msg(st == TD_EUNAUTH, "accepted (want '%s'): %s", reason, tok);
    ck_assert_msg(strcmp(err, reason) == 0, "reason '%s', want '%s'", err, reason);
    free(tok);
}

static void expect_ok(td_jwt_verifier *v, char *tok, const char *sub)
{
    td_jwt_claims c;
    char err[128] = "";
    td_status st = td_jwt_verify(v, tok, strlen(tok), NOW, &c, err, sizeof err);
    ck_assert_msg(st == TD_OK, "rejected: %s", err);
    ck_assert_str_eq(c.sub, sub);
    free(tok);
}

#define P_OK "{\"sub\":\"user-1\",\"exp\":1700003600,\"iat\":1700000000}"

/* ---- happy paths ---- */

START_TEST(valid_hs256_signed_here)
{
    td_jwt_verifier *v = hs_verifier(NULL, NULL, 0);
    td_jwt_claims c;
    char err[128] = "";
    char *tok = hs(P_OK);
    ck_assert_int_eq(td_jwt_verify(v, tok, strlen(tok), NOW, &c, err, sizeof err), TD_OK);
    ck_assert_str_eq(c.sub, "user-1");
    ck_assert_int_eq(c.exp, 1700003600);
    free(tok);
    td_jwt_verifier_destroy(v);
}
END_TEST

START_TEST(valid_hs256_own_signer)
{
    td_jwt_verifier *v = hs_verifier("iss-x", "aud-y", 0);
    char tok[1024];
    td_jwt_claims c;
    char err[128] = "";
    ck_assert_int_eq(td_jwt_sign_hs256((const unsigned char *)SECRET, SECRET_LEN, "ü-user \"q\"",
                                       NOW, NOW + 60, "iss-x", "aud-y", tok, sizeof tok),
                     TD_OK);
    ck_assert_int_eq(td_jwt_verify(v, tok, strlen(tok), NOW, &c, err, sizeof err), TD_OK);
    ck_assert_str_eq(c.sub, "ü-user \"q\"");
    ck_assert_int_eq(c.exp, NOW + 60);
    /* Too small a buffer, short secret, bad sub. */
    ck_assert_int_eq(td_jwt_sign_hs256((const unsigned char *)SECRET, SECRET_LEN, "u", NOW,
                                       NOW + 60, NULL, NULL, tok, 40),
                     TD_ERANGE);
    ck_assert_int_eq(td_jwt_sign_hs256((const unsigned char *)"short", 5, "u", NOW, NOW + 60, NULL,
                                       NULL, tok, sizeof tok),
                     TD_EINVAL);
    ck_assert_int_eq(td_jwt_sign_hs256((const unsigned char *)SECRET, SECRET_LEN, "", NOW, NOW + 60,
                                       NULL, NULL, tok, sizeof tok),
                     TD_EINVAL);
    ck_assert_int_eq(td_jwt_sign_hs256((const unsigned char *)SECRET, SECRET_LEN, "a\nb", NOW,
                                       NOW + 60, NULL, NULL, tok, sizeof tok),
                     TD_EINVAL);
    td_jwt_verifier_destroy(v);
}
END_TEST

START_TEST(valid_rs256)
{
    td_jwt_verifier *v = rs_verifier();
    expect_ok(
        v,
        make_token("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}", P_OK, SIG_RS256, NULL, 0),
        "user-1");
    /* Header without typ, keys in any order and with whitespace. */
    expect_ok(v, make_token(" { \"alg\" : \"RS256\" } ", P_OK, SIG_RS256, NULL, 0), "user-1");
    td_jwt_verifier_destroy(v);
}
END_TEST

START_TEST(valid_json_shapes)
{
    td_jwt_verifier *v = hs_verifier(NULL, "todo", 0);
    /* Nested values skipped; escaped key names; fractions in NumericDate; aud array. */
    expect_ok(v,
              hs("{\"x\":{\"a\":[1,-2.5e3,{\"b\":null,\"c\":[true,false,\"\\u00e9\"]}],\"y\":{}},"
                 "\"s\\u0075b\":\"u\\ud83d\\ude00\",\"exp\":1700003600.75,\"nbf\":0,"
                 "\"aud\":[\"other\",\"todo\"],\"z\":[]}"),
              "u\xf0\x9f\x98\x80");
    expect_ok(v, hs("{\"sub\":\"u\",\"exp\":1700003600,\"aud\":\"todo\"}"), "u");
    td_jwt_verifier_destroy(v);
}
END_TEST

START_TEST(both_keys_configured)
{
    td_jwt_opts o = {0};
    char err[128] = "";
    o.hs256_secret = (const unsigned char *)SECRET;
    o.hs256_secret_len = SECRET_LEN;
    o.rs256_pem = rsa_pub_pem;
    td_jwt_verifier *v = td_jwt_verifier_new(&o, err, sizeof err);
    ck_assert_msg(v != NULL, "%s", err);
    expect_ok(v, hs(P_OK), "user-1");
    expect_ok(v, make_token("{\"alg\":\"RS256\"}", P_OK, SIG_RS256, NULL, 0), "user-1");
    /* Even with HS256 enabled, the PEM is never an HMAC key. */
    expect_fail(
        v, make_token("{\"alg\":\"HS256\"}", P_OK, SIG_HS256, rsa_pub_pem, strlen(rsa_pub_pem)),
        "bad signature");
    td_jwt_verifier_destroy(v);
}
END_TEST

/* ---- algorithm policy (RFC 8725) ---- */

START_TEST(alg_none)
{
    td_jwt_verifier *v = hs_verifier(NULL, NULL, 0);
    expect_fail(v, make_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", P_OK, SIG_NONE, NULL, 0),
                "alg none not allowed");
    expect_fail(v, make_token("{\"alg\":\"NoNe\"}", P_OK, SIG_HS256, SECRET, SECRET_LEN),
                "alg none not allowed");
    td_jwt_verifier_destroy(v);
}
END_TEST

START_TEST(alg_missing_or_wrong)
{
    td_jwt_verifier *v = hs_verifier(NULL, NULL, 0);
    expect_fail(v, make_token("{\"typ\":\"JWT\"}", P_OK, SIG_HS256, SECRET, SECRET_LEN),
                "missing alg");
    expect_fail(v, make_token("{\"alg\":\"HS384\"}", P_OK, SIG_HS384, SECRET, SECRET_LEN),
                "alg not allowed");
    expect_fail(v, make_token("{\"alg\":\"hs256\"}", P_OK, SIG_HS256, SECRET, SECRET_LEN),
                "alg not allowed");
    expect_fail(v, make_token("{\"alg\":256}", P_OK, SIG_HS256, SECRET, SECRET_LEN),
                "malformed header");
    expect_fail(v, make_token("{\"alg\":\"RS256\"}", P_OK, SIG_RS256, NULL, 0),
                "alg RS256 not allowed");
    expect_fail(
        v, make_token("{\"alg\":\"HS256\",\"alg\":\"none\"}", P_OK, SIG_HS256, SECRET, SECRET_LEN),
        "duplicate header");
    expect_fail(
        v,
        make_token("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", P_OK, SIG_HS256, SECRET, SECRET_LEN),
        "bad typ");
    expect_fail(
        v,
        make_token("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", P_OK, SIG_HS256, SECRET, SECRET_LEN),
        "crit not supported");
    td_jwt_verifier_destroy(v);
}
END_TEST

START_TEST(rs256_to_hs256_confusion)
{
    td_jwt_verifier *v = rs_verifier();
    /* The classic attack: HMAC with the RSA public key bytes as the secret. */
    expect_fail(v,
                make_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", P_OK, SIG_HS256, rsa_pub_pem,
                           strlen(rsa_pub_pem)),
                "alg HS256 not allowed");
    expect_fail(v, make_token("{\"alg\":\"none\"}", P_OK, SIG_NONE, NULL, 0),
                "alg none not allowed");
    td_jwt_verifier_destroy(v);
}
END_TEST

/* ---- signatures ---- */

START_TEST(bad_signature)
{
    static const char other[] = "another-secret-another-secret-another";
    td_jwt_verifier *v = hs_verifier(NULL, NULL, 0);
    expect_fail(v, make_token("{\"alg\":\"HS256\"}", P_OK, SIG_HS256, other, sizeof other - 1),
                "bad signature");
    /* Signature cut short (still valid base64url). */
    char *tok = hs(P_OK);
    tok[strlen(tok) - 3] = '\0'; /* 43 -> 40 chars: 30 bytes, canonical */
    expect_fail(v, tok, "bad signature");
    /* Empty signature. */
    expect_fail(v, make_token("{\"alg\":\"HS256\"}", P_OK, SIG_NONE, NULL, 0), "missing signature");
    td_jwt_verifier_destroy(v);

    td_jwt_verifier *r = rs_verifier();
    /* RS256 with a byte flipped inside the signature. */
    tok = make_token("{\"alg\":\"RS256\"}", P_OK, SIG_RS256, NULL, 0);
    char *sig = strrchr(tok, '.') + 1;
    sig[10] = sig[10] == 'A' ? 'B' : 'A';
    expect_fail(r, tok, "bad signature");
    td_jwt_verifier_destroy(r);
}
END_TEST

START_TEST(tampered_payload)
{
    td_jwt_verifier *v = hs_verifier(NULL, NULL, 0);
    char *good = hs(P_OK);
    char *evil = b64("{\"sub\":\"admin\",\"exp\":1700003600}", 32);
    char *dot1 = strchr(good, '.'), *dot2 = strrchr(good, '.');
    size_t n = (size_t)(dot1 - good) + 1 + strlen(evil) + strlen(dot2) + 1;
    char *tok = malloc(n);
    snprintf(tok, n, "%.*s.%s%s", (int)(dot1 - good), good, evil, dot2);
    expect_fail(v, tok, "bad signature");
    free(evil);
    free(good);
    td_jwt_verifier_destroy(v);
}
END_TEST

/* ---- claims ---- */

START_TEST(time_claims)
{
    td_jwt_verifier *v = hs_verifier(NULL, NULL, 0);
    expect_fail(v, hs("{\"sub\":\"u\",\"exp\":1699999999}"), "token expired");
    expect_fail(v, hs("{\"sub\":\"u\",\"exp\":1700000000}"), "token expired");
    expect_fail(v, hs("{\"sub\":\"u\"}"), "missing exp");
    expect_fail(v, hs("{\"sub\":\"u\",\"exp\":\"1700003600\"}"), "bad exp");
    expect_fail(v, hs("{\"sub\":\"u\",\"exp\":1.7e10}"), "bad exp");
    expect_fail(v, hs("{\"sub\":\"u\",\"exp\":99999999999999999999999}"), "bad exp");
    expect_fail(v, hs("{\"sub\":\"u\",\"exp\":1700003600,\"nbf\":1700000100}"),
                "token not yet valid");
    expect_fail(v, hs("{\"sub\":\"u\",\"exp\":1700003600,\"iat\":1700000100}"),
                "iat in the future");
    expect_ok(v, hs("{\"sub\":\"u\",\"exp\":9223372036854775807}"), "u");
    td_jwt_verifier_destroy(v);

    /* Leeway 60: slightly expired / early tokens pass. */
    v = hs_verifier(NULL, NULL, 60);
    expect_ok(v, hs("{\"sub\":\"u\",\"exp\":1699999970,\"nbf\":1700000050}"), "u");
    expect_fail(v, hs("{\"sub\":\"u\",\"exp\":1699999940}"), "token expired");
    td_jwt_verifier_destroy(v);
}
END_TEST

START_TEST(sub_rules)
{
    td_jwt_verifier *v = hs_verifier(NULL, NULL, 0);
    char payload[512], longsub[130];
    expect_fail(v, hs("{\"exp\":1700003600}"), "missing sub");
    expect_fail(v, hs("{\"sub\":\"\",\"exp\":1700003600}"), "empty sub");
    expect_fail(v, hs("{\"sub\":42,\"exp\":1700003600}"), "bad sub");
    expect_fail(v, hs("{\"sub\":\"a\\u0001b\",\"exp\":1700003600}"), "bad sub");
    expect_fail(v, hs("{\"sub\":\"a\\u0000b\",\"exp\":1700003600}"), "bad sub");
    expect_fail(v, hs("{\"sub\":\"a\\u0085b\",\"exp\":1700003600}"), "bad sub");
    expect_fail(v, hs("{\"sub\":\"a\\nb\",\"exp\":1700003600}"), "bad sub");
    expect_fail(v,
                hs("{\"sub\":\"a\xff"
                   "b\",\"exp\":1700003600}"),
                "malformed claims: invalid UTF-8");
    expect_fail(v, hs("{\"sub\":\"a\xc0\xaf\",\"exp\":1700003600}"),
                "malformed claims: invalid UTF-8");
    expect_fail(v, hs("{\"sub\":\"a\xed\xa0\x80\",\"exp\":1700003600}"),
                "malformed claims: invalid UTF-8");
    expect_fail(v, hs("{\"sub\":\"\\ud800\",\"exp\":1700003600}"), "malformed claims");
    expect_fail(v, hs("{\"sub\":\"a\",\"sub\":\"b\",\"exp\":1700003600}"), "duplicate claim");
    expect_fail(v, hs("{\"sub\":\"a\",\"exp\":1700003600,\"exp\":1800000000}"), "duplicate claim");
    memset(longsub, 'x', 129);
    longsub[129] = '\0';
    snprintf(payload, sizeof payload, "{\"sub\":\"%s\",\"exp\":1700003600}", longsub);
    expect_fail(v, hs(payload), "sub too long");
    longsub[128] = '\0';
    snprintf(payload, sizeof payload, "{\"sub\":\"%s\",\"exp\":1700003600}", longsub);
    expect_ok(v, hs(payload), longsub);
    td_jwt_verifier_destroy(v);
}
END_TEST

START_TEST(iss_aud)
{
    td_jwt_verifier *v = hs_verifier("https://id.example", "todo", 0);
    expect_ok(v,
              hs("{\"sub\":\"u\",\"exp\":1700003600,\"iss\":\"https://id.example\","
                 "\"aud\":\"todo\"}"),
              "u");
    expect_fail(v,
                hs("{\"sub\":\"u\",\"exp\":1700003600,\"iss\":\"https://evil.example\","
                   "\"aud\":\"todo\"}"),
                "wrong issuer");
    expect_fail(v, hs("{\"sub\":\"u\",\"exp\":1700003600,\"aud\":\"todo\"}"), "wrong issuer");
    expect_fail(v,
                hs("{\"sub\":\"u\",\"exp\":1700003600,\"iss\":\"https://id.example\","
                   "\"aud\":\"todox\"}"),
                "wrong audience");
    expect_fail(v,
                hs("{\"sub\":\"u\",\"exp\":1700003600,\"iss\":\"https://id.example\","
                   "\"aud\":[\"a\",\"b\"]}"),
                "wrong audience");
    expect_fail(v,
                hs("{\"sub\":\"u\",\"exp\":1700003600,\"iss\":\"https://id.example\","
                   "\"aud\":[]}"),
                "wrong audience");
    expect_fail(v, hs("{\"sub\":\"u\",\"exp\":1700003600,\"iss\":\"https://id.example\"}"),
                "wrong audience");
    expect_fail(v,
                hs("{\"sub\":\"u\",\"exp\":1700003600,\"iss\":\"https://id.example\","
                   "\"aud\":[1]}"),
                "bad aud");
    td_jwt_verifier_destroy(v);
}
END_TEST

/* ---- token shape ---- */

START_TEST(malformed)
{
    td_jwt_verifier *v = hs_verifier(NULL, NULL, 0);
    char *good = hs(P_OK);
    char buf[9000];
    td_jwt_claims c;
    char err[128];

    snprintf(buf, sizeof buf, "%s", good);
    *strrchr(buf, '.') = '\0'; /* two segments */
    expect_fail(v, strdup(buf), "malformed token");
    snprintf(buf, sizeof buf, "%s.AAAA", good); /* four segments */
    expect_fail(v, strdup(buf), "malformed token");
    snprintf(buf, sizeof buf, "!%s", good); /* bad base64 char */
    expect_fail(v, strdup(buf), "malformed token");
    snprintf(buf, sizeof buf, "%s", good);
    buf[5] = '+'; /* standard-alphabet char */
    expect_fail(v, strdup(buf), "malformed token");
    snprintf(buf, sizeof buf, "%s=", good); /* padding */
    expect_fail(v, strdup(buf), "malformed token");
    expect_fail(v, strdup(".."), "malformed token");
    expect_fail(v, strdup(""), "missing token");
    snprintf(buf, sizeof buf, "%s", good);
    char *dot = strchr(buf, '.');
    memmove(dot, dot + 1, strlen(dot)); /* header and payload glued: two segments */
    expect_fail(v, strdup(buf), "malformed token");
    /* Non-JSON header, and header that is JSON but not an object. */
    expect_fail(v, make_token("not json", P_OK, SIG_HS256, SECRET, SECRET_LEN), "malformed header");
    expect_fail(v, make_token("[\"alg\",\"HS256\"]", P_OK, SIG_HS256, SECRET, SECRET_LEN),
                "malformed header");
    expect_fail(v, make_token("{\"alg\":\"HS256\"} x", P_OK, SIG_HS256, SECRET, SECRET_LEN),
                "malformed header");
    /* Payload JSON errors after a good signature. */
    expect_fail(v, hs("{\"sub\":\"u\",\"exp\":1700003600,}"), "malformed claims");
    expect_fail(v, hs("{\"sub\":\"u\",\"exp\":01700003600}"), "malformed claims");
    expect_fail(v, hs("{\"sub\":\"u\" \"exp\":1700003600}"), "malformed claims");
    expect_fail(v, hs("{\"sub\":'u',\"exp\":1700003600}"), "malformed claims");
    expect_fail(v, hs("{\"sub\":\"u\",\"exp\":1700003600,\"x\":tru}"), "malformed claims");
    expect_fail(v,
                hs("{\"sub\":\"u\",\"exp\":1700003600,\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                   "[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"),
                "malformed claims");
    /* Oversized. */
    memset(buf, 'A', sizeof buf - 1);
    buf[sizeof buf - 1] = '\0';
    buf[10] = '.';
    buf[20] = '.';
    ck_assert_int_eq(td_jwt_verify(v, buf, strlen(buf), NOW, &c, err, sizeof err), TD_EUNAUTH);
    ck_assert_str_eq(err, "token too large");
    free(good);
    td_jwt_verifier_destroy(v);
}
END_TEST

START_TEST(verifier_options)
{
    td_jwt_opts o = {0};
    char err[128] = "";
    ck_assert_ptr_null(td_jwt_verifier_new(&o, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "no JWT key"));
    o.hs256_secret = (const unsigned char *)"short";
    o.hs256_secret_len = 5;
    ck_assert_ptr_null(td_jwt_verifier_new(&o, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "too short"));
    memset(&o, 0, sizeof o);
    o.rs256_pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    ck_assert_ptr_null(td_jwt_verifier_new(&o, err, sizeof err));
    memset(&o, 0, sizeof o);
    o.rs256_pem_file = "/nonexistent.pem";
    ck_assert_ptr_null(td_jwt_verifier_new(&o, err, sizeof err));
    td_jwt_verifier_destroy(NULL);
}
END_TEST

/* ---- td_auth: cache ---- */

static td_auth *hs_auth(int leeway)
{
    td_jwt_opts o = {0};
    char err[128] = "";
    o.hs256_secret = (const unsigned char *)SECRET;
    o.hs256_secret_len = SECRET_LEN;
    o.leeway_s = leeway;
    td_auth *a = td_auth_new_opts(&o, 64, err, sizeof err);
    ck_assert_msg(a != NULL, "%s", err);
    return a;
}

START_TEST(cache_hit_and_expiry)
{
    td_auth *a = hs_auth(5);
    char *tok = hs("{\"sub\":\"cached-user\",\"exp\":1700000100}");
    char sub[TD_JWT_MAX_SUB + 1], err[128];
    td_auth_stats s;

    ck_assert_int_eq(td_auth_check_at(a, tok, strlen(tok), NOW, sub, sizeof sub, err, sizeof err),
                     TD_OK);
    ck_assert_str_eq(sub, "cached-user");
    memset(sub, 0, sizeof sub);
    ck_assert_int_eq(
        td_auth_check_at(a, tok, strlen(tok), NOW + 50, sub, sizeof sub, err, sizeof err), TD_OK);
    ck_assert_str_eq(sub, "cached-user");
    td_auth_get_stats(a, &s);
    ck_assert_uint_eq(s.hits, 1);
    ck_assert_uint_eq(s.misses, 1);
    /* Inside the leeway still good, then expired from the cache. */
    ck_assert_int_eq(
        td_auth_check_at(a, tok, strlen(tok), NOW + 104, sub, sizeof sub, err, sizeof err), TD_OK);
    ck_assert_int_eq(
        td_auth_check_at(a, tok, strlen(tok), NOW + 105, sub, sizeof sub, err, sizeof err),
        TD_EUNAUTH);
    ck_assert_str_eq(err, "token expired");
    /* Dropped from the cache: the verifier says the same. */
    ck_assert_int_eq(
        td_auth_check_at(a, tok, strlen(tok), NOW + 106, sub, sizeof sub, err, sizeof err),
        TD_EUNAUTH);
    ck_assert_str_eq(err, "token expired");
    td_auth_get_stats(a, &s);
    ck_assert_uint_eq(s.hits, 3);
    ck_assert_uint_eq(s.misses, 2);
    /* Small sub buffer. */
    char tiny[4];
    ck_assert_int_eq(td_auth_check_at(a, tok, strlen(tok), NOW, tiny, sizeof tiny, err, sizeof err),
                     TD_EUNAUTH);
    free(tok);
    td_auth_destroy(a);
}
END_TEST

START_TEST(cache_negative_not_cached)
{
    td_auth *a = hs_auth(0);
    char *bad = make_token("{\"alg\":\"HS256\"}", P_OK, SIG_HS256,
                           "x-secret-x-secret-x-secret-x-secret", 35);
    char sub[TD_JWT_MAX_SUB + 1], err[128];
    td_auth_stats s;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(
            td_auth_check_at(a, bad, strlen(bad), NOW, sub, sizeof sub, err, sizeof err),
            TD_EUNAUTH);
        ck_assert_str_eq(err, "bad signature");
    }
    td_auth_get_stats(a, &s);
    ck_assert_uint_eq(s.hits, 0);
    ck_assert_uint_eq(s.misses, 3);
    /* A prefix of a cached token is not a hit. */
    char *good = hs(P_OK);
    ck_assert_int_eq(td_auth_check_at(a, good, strlen(good), NOW, sub, sizeof sub, err, sizeof err),
                     TD_OK);
    ck_assert_int_eq(
        td_auth_check_at(a, good, strlen(good) - 1, NOW, sub, sizeof sub, err, sizeof err),
        TD_EUNAUTH);
    free(good);
    free(bad);
    td_auth_destroy(a);
}
END_TEST

START_TEST(cache_eviction_bounded)
{
    td_auth *a = hs_auth(0); /* 64 entries */
    char sub[TD_JWT_MAX_SUB + 1], err[128], want[32], payload[128];
    for (int i = 0; i < 1000; i++) {
        snprintf(payload, sizeof payload, "{\"sub\":\"u%d\",\"exp\":%lld}", i, NOW + 100 + i);
        char *tok = hs(payload);
        snprintf(want, sizeof want, "u%d", i);
        ck_assert_int_eq(
            td_auth_check_at(a, tok, strlen(tok), NOW, sub, sizeof sub, err, sizeof err), TD_OK);
        ck_assert_str_eq(sub, want);
        ck_assert_int_eq(
            td_auth_check_at(a, tok, strlen(tok), NOW, sub, sizeof sub, err, sizeof err), TD_OK);
        ck_assert_str_eq(sub, want);
        free(tok);
    }
    td_auth_stats s;
    td_auth_get_stats(a, &s);
    ck_assert_uint_eq(s.hits, 1000);
    ck_assert_uint_ge(s.evictions, 1000 - 64);
    td_auth_destroy(a);
}
END_TEST

typedef struct worker_arg {
    td_auth *a;
    char **toks;
    int ntoks;
    int failures;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *w = p;
    char sub[TD_JWT_MAX_SUB + 1], err[128], want[16];
    for (int i = 0; i < 2000; i++) {
        int k = (i * 7) % w->ntoks;
        snprintf(want, sizeof want, "w%d", k);
        if (td_auth_check(w->a, w->toks[k], strlen(w->toks[k]), sub, sizeof sub, err, sizeof err) !=
                TD_OK ||
            strcmp(sub, want) != 0)
            w->failures++;
    }
    return NULL;
}

START_TEST(cache_concurrent)
{
    enum { NT = 4, NTOK = 100 };
    td_auth *a = hs_auth(0);
    char *toks[NTOK];
    char payload[128];
    pthread_t th[NT];
    worker_arg args[NT];
    for (int i = 0; i < NTOK; i++) {
        snprintf(payload, sizeof payload, "{\"sub\":\"w%d\",\"exp\":4102444800}", i);
        toks[i] = hs(payload);
    }
    for (int i = 0; i < NT; i++) {
        args[i] = (worker_arg){a, toks, NTOK, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].failures, 0);
    }
    for (int i = 0; i < NTOK; i++)
        free(toks[i]);
    td_auth_destroy(a);
}
END_TEST

START_TEST(auth_from_config)
{
    td_config cfg;
    char err[256] = "";
    memset(&cfg, 0, sizeof cfg);
    ck_assert_ptr_null(td_auth_new(&cfg, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "TODO_JWT_SECRET"));

    char path[] = "/tmp/td_check_jwt_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(rsa_pub_pem, f);
    fclose(f);
    cfg.jwt_public_key_file = path;
    cfg.jwt_secret = (char *)SECRET;
    td_auth *a = td_auth_new(&cfg, err, sizeof err);
    ck_assert_msg(a != NULL, "%s", err);
    char *tok = make_token("{\"alg\":\"RS256\"}", P_OK, SIG_RS256, NULL, 0);
    char sub[TD_JWT_MAX_SUB + 1];
    ck_assert_int_eq(td_auth_check_at(a, tok, strlen(tok), NOW, sub, sizeof sub, err, sizeof err),
                     TD_OK);
    ck_assert_str_eq(sub, "user-1");
    free(tok);
    td_auth_destroy(a);
    td_auth_destroy(NULL);
    unlink(path);
}
END_TEST

/* ---- mint-token ---- */

static int run_mint(const td_config *cfg, char **argv, int argc, char **out, char **errs)
{
    size_t on = 0, en = 0;
    FILE *o = open_memstream(out, &on), *e = open_memstream(errs, &en);
    int rc = td_auth_mint_cli_io(argc, argv, cfg, NOW, o, e);
    fclose(o);
    fclose(e);
    return rc;
}

START_TEST(mint_cli)
{
    td_config cfg;
    char *out = NULL, *errs = NULL;
    memset(&cfg, 0, sizeof cfg);
    cfg.jwt_secret = (char *)SECRET;
    cfg.jwt_audience = (char *)"todo";

    char *ok_argv[] = {"mint-token", "--sub", "alice", "--ttl", "120", "--iss", "me"};
    ck_assert_int_eq(run_mint(&cfg, ok_argv, 7, &out, &errs), 0);
    ck_assert_str_eq(errs, "");
    size_t n = strlen(out);
    ck_assert(n > 0 && out[n - 1] == '\n');
    out[n - 1] = '\0';
    td_jwt_verifier *v = hs_verifier("me", "todo", 0);
    td_jwt_claims c;
    char err[128];
    ck_assert_int_eq(td_jwt_verify(v, out, strlen(out), NOW, &c, err, sizeof err), TD_OK);
    ck_assert_str_eq(c.sub, "alice");
    ck_assert_int_eq(c.exp, NOW + 120);
    td_jwt_verifier_destroy(v);
    free(out);
    free(errs);

    char *no_sub[] = {"mint-token", "--ttl", "10"};
    ck_assert_int_eq(run_mint(&cfg, no_sub, 3, &out, &errs), 2);
    ck_assert_ptr_nonnull(strstr(errs, "--sub"));
    free(out);
    free(errs);

    char *bad_ttl[] = {"mint-token", "--sub", "a", "--ttl", "10x"};
    ck_assert_int_eq(run_mint(&cfg, bad_ttl, 5, &out, &errs), 2);
    free(out);
    free(errs);

    char *unknown[] = {"mint-token", "--bogus", "1"};
    ck_assert_int_eq(run_mint(&cfg, unknown, 3, &out, &errs), 2);
    free(out);
    free(errs);

    char *bad_sub[] = {"mint-token", "--sub", ""};
    ck_assert_int_eq(run_mint(&cfg, bad_sub, 3, &out, &errs), 1);
    free(out);
    free(errs);

    cfg.jwt_secret = NULL;
    ck_assert_int_eq(run_mint(&cfg, ok_argv, 7, &out, &errs), 1);
    ck_assert_ptr_nonnull(strstr(errs, "TODO_JWT_SECRET"));
    ck_assert_str_eq(out, "");
    free(out);
    free(errs);
}
END_TEST

static Suite *jwt_suite(void)
{
    Suite *s = suite_create("jwt");
    TCase *tc = tcase_create("verify");
    tcase_add_test(tc, valid_hs256_signed_here);
    tcase_add_test(tc, valid_hs256_own_signer);
    tcase_add_test(tc, valid_rs256);
    tcase_add_test(tc, valid_json_shapes);
    tcase_add_test(tc, both_keys_configured);
    tcase_add_test(tc, alg_none);
    tcase_add_test(tc, alg_missing_or_wrong);
    tcase_add_test(tc, rs256_to_hs256_confusion);
    tcase_add_test(tc, bad_signature);
    tcase_add_test(tc, tampered_payload);
    tcase_add_test(tc, time_claims);
    tcase_add_test(tc, sub_rules);
    tcase_add_test(tc, iss_aud);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, verifier_options);
    suite_add_tcase(s, tc);
    TCase *tca = tcase_create("auth");
    tcase_add_test(tca, cache_hit_and_expiry);
    tcase_add_test(tca, cache_negative_not_cached);
    tcase_add_test(tca, cache_eviction_bounded);
    tcase_add_test(tca, cache_concurrent);
    tcase_add_test(tca, auth_from_config);
    tcase_add_test(tca, mint_cli);
    suite_add_tcase(s, tca);
    return s;
}

int main(void)
{
    BIO *bio = NULL;
    char *pem = NULL;
    long n = 0;
    rsa_key = EVP_RSA_gen(2048);
    if (rsa_key == NULL)
        return EXIT_FAILURE;
    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, rsa_key);
    n = BIO_get_mem_data(bio, &pem);
    rsa_pub_pem = strndup(pem, (size_t)n);
    BIO_free(bio);

    int rc = td_check_run(jwt_suite());
    free(rsa_pub_pem);
    EVP_PKEY_free(rsa_key);
    return rc;
}
