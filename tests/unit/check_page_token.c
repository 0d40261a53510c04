/* check_page_token.c - unit tests for server/page_token.c: round trip, binding to the
 * query hash (other filters / other user), tamper detection (every bit of every byte
 * flipped), truncation, garbage, non-canonical base64url, uuid parsing.
 * The module is compiled into this test (it lives in server/, not in libtd). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/page_token.c"
#include "check_run.h"

static const unsigned char KEY[32] = "0123456789abcdef0123456789abcdef";
static const char ID[] = "0b7e6f4c-1d2a-4f3b-9c8d-7e6f5a4b3c2d";

static void qh(const char *user, const char *query, unsigned char out[TD_PAGE_TOKEN_HASH_LEN])
{
    td_page_token_query_hash(user, query, strlen(query), out);
}

START_TEST(round_trip)
{
    td_arena *a = td_arena_new(4096);
    unsigned char h[16];
    td_status st;
    td_page_cursor c;
    const char *why = "x";
    const char *keys[] = {"2026-03-01 08:00:00.123456+00",     "infinity", "3", "0.0607927",
                          "buy groceries 🛒 \"quoted\" 'x'", ""};
    qh("user42", "filters", h);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char *tok = td_page_token_encode(KEY, h, keys[i], strlen(keys[i]), ID, a, &st);
        ck_assert_int_eq(st, TD_OK);
        ck_assert_ptr_nonnull(tok);
        for (const char *p = tok; *p; p++) /* URL-safe alphabet only */
            ck_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                             *p) != NULL);
        ck_assert_int_eq(td_page_token_decode(KEY, h, tok, a, &c, &why), TD_OK);
        ck_assert_ptr_null(why);
        ck_assert_str_eq(c.key, keys[i]);
        ck_assert_uint_eq(c.key_len, strlen(keys[i]));
        ck_assert_str_eq(c.id, ID);
    }
    td_arena_destroy(a);
}
END_TEST

START_TEST(uppercase_uuid_is_canonicalised)
{
    td_arena *a = td_arena_new(4096);
    unsigned char h[16];
    td_status st;
    td_page_cursor c;
    const char *why;
    qh("u", "q", h);
    char *tok =
        td_page_token_encode(KEY, h, "k", 1, "0B7E6F4C-1D2A-4F3B-9C8D-7E6F5A4B3C2D", a, &st);
    ck_assert_int_eq(td_page_token_decode(KEY, h, tok, a, &c, &why), TD_OK);
    ck_assert_str_eq(c.id, ID);
    td_arena_destroy(a);
}
END_TEST

START_TEST(bound_to_query_and_user)
{
    td_arena *a = td_arena_new(4096);
    unsigned char h[16], other_q[16], other_u[16];
    td_status st;
    td_page_cursor c;
    const char *why;
    qh("user42", "order=due", h);
    qh("user42", "order=title", other_q);
    qh("user43", "order=due", other_u);
    char *tok = td_page_token_encode(KEY, h, "3", 1, ID, a, &st);
    ck_assert_int_eq(td_page_token_decode(KEY, other_q, tok, a, &c, &why), TD_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "match"));
    ck_assert_int_eq(td_page_token_decode(KEY, other_u, tok, a, &c, &why), TD_EINVAL);
    /* another server key (another deployment) */
    unsigned char k2[32];
    memcpy(k2, KEY, 32);
    k2[0] ^= 1;
    ck_assert_int_eq(td_page_token_decode(k2, h, tok, a, &c, &why), TD_EINVAL);
    ck_assert_str_eq(why, "bad signature");
    td_arena_destroy(a);
}
END_TEST

/* A token's bytes (raw, >= 256) for key under query hash h; returns their count. */
static long token_bytes(td_arena *a, const unsigned char h[16], const char *key, unsigned char *raw)
{
    td_status st;
    char *tok = td_page_token_encode(KEY, h, key, strlen(key), ID, a, &st);
    ck_assert_int_eq(st, TD_OK);
    long n = td_base64url_decode(tok, strlen(tok), raw);
    ck_assert_int_gt(n, TD_PAGE_TOKEN_MAC_LEN);
    return n;
}

/* Decodes the token whose bytes are raw[0..n). */
static td_status decode_bytes(td_arena *a, const unsigned char h[16], const unsigned char *raw,
                              long n, const char **why)
{
    char tok[512];
    td_page_cursor c;
    tok[td_base64url_encode(raw, (size_t)n, tok)] = '\0';
    return td_page_token_decode(KEY, h, tok, a, &c, why);
}

START_TEST(every_bit_flip_is_refused)
{
    td_arena *a = td_arena_new(1 << 16);
    unsigned char h[16], raw[256];
    const char *why;
    qh("user42", "f", h);
    long n = token_bytes(a, h, "2026-01-01 00:00:00+00", raw);
    for (long i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            raw[i] ^= (unsigned char)(1 << bit);
            ck_assert_int_eq(decode_bytes(a, h, raw, n, &why), TD_EINVAL);
            raw[i] ^= (unsigned char)(1 << bit);
        }
    td_arena_destroy(a);
}
END_TEST

/* A correctly signed token of another layout version (v2: RELEVANCE keys holding a
 * ts_rank, "0.6079271|<updated_at>") is refused with a message that says so. */
START_TEST(other_version_is_refused)
{
    td_arena *a = td_arena_new(4096);
    unsigned char h[16], raw[256];
    const char *why;
    qh("user42", "f", h);
    long n = token_bytes(a, h, "0.6079271|2026-03-01 08:00:00+00", raw);
    ck_assert_int_eq(raw[0], TOKEN_VERSION);
    raw[0] = TOKEN_VERSION - 1;
    ck_assert_int_eq(
        mac(KEY, raw, (size_t)n - TD_PAGE_TOKEN_MAC_LEN, raw + n - TD_PAGE_TOKEN_MAC_LEN), 0);
    ck_assert_int_eq(decode_bytes(a, h, raw, n, &why), TD_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "server version"));
    td_arena_destroy(a);
}
END_TEST

START_TEST(garbage_and_truncation)
{
    td_arena *a = td_arena_new(1 << 16);
    unsigned char h[16];
    td_status st;
    td_page_cursor c;
    const char *why;
    char big[TD_PAGE_TOKEN_MAX_LEN + 10];
    qh("user42", "f", h);
    char *tok = td_page_token_encode(KEY, h, "abc", 3, ID, a, &st);
    const char *bad[] = {
        "",     "x",        "!!!!",
        "AAAA", "AAAA====", "Zm9v",
        "a b",  "\xff\xfe", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_int_eq(td_page_token_decode(KEY, h, bad[i], a, &c, &why), TD_EINVAL);
    ck_assert_int_eq(td_page_token_decode(KEY, h, NULL, a, &c, &why), TD_EINVAL);
    size_t len = strlen(tok);
    for (size_t cut = 0; cut < len; cut++) {
        char *t = td_arena_strndup(a, tok, cut);
        ck_assert_int_eq(td_page_token_decode(KEY, h, t, a, &c, &why), TD_EINVAL);
    }
    /* appended characters, padding, and an oversize token */
    char *t = td_arena_printf(a, "%sA", tok);
    ck_assert_int_eq(td_page_token_decode(KEY, h, t, a, &c, &why), TD_EINVAL);
    t = td_arena_printf(a, "%s=", tok);
    ck_assert_int_eq(td_page_token_decode(KEY, h, t, a, &c, &why), TD_EINVAL);
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert_int_eq(td_page_token_decode(KEY, h, big, a, &c, &why), TD_EINVAL);
    td_arena_destroy(a);
}
END_TEST

START_TEST(non_canonical_base64)
{
    unsigned char out[8];
    ck_assert_int_eq(td_base64url_decode("QQ", 2, out), 1);  /* "A" */
    ck_assert_int_eq(td_base64url_decode("QR", 2, out), -1); /* same byte, non-zero trailing bits */
    ck_assert_int_eq(td_base64url_decode("Q", 1, out), -1);
}
END_TEST

START_TEST(encode_refuses_bad_input)
{
    td_arena *a = td_arena_new(4096);
    unsigned char h[16] = {0};
    td_status st;
    static char longkey[TD_PAGE_TOKEN_MAX_KEY + 2];
    memset(longkey, 'k', sizeof(longkey) - 1);
    ck_assert_ptr_null(td_page_token_encode(KEY, h, "k", 1, "not-a-uuid", a, &st));
    ck_assert_int_eq(st, TD_EINVAL);
    ck_assert_ptr_null(td_page_token_encode(KEY, h, longkey, strlen(longkey), ID, a, &st));
    ck_assert_int_eq(st, TD_EINVAL);
    td_arena_destroy(a);
}
END_TEST

START_TEST(uuid_parse)
{
    unsigned char b[16];
    char s[37];
    ck_assert_int_eq(td_page_uuid_parse(ID, b), 0);
    td_page_uuid_format(b, s);
    ck_assert_str_eq(s, ID);
    const char *bad[] = {"",
                         "0b7e6f4c1d2a4f3b9c8d7e6f5a4b3c2d",
                         "0b7e6f4c-1d2a-4f3b-9c8d-7e6f5a4b3c2",
                         "0b7e6f4c-1d2a-4f3b-9c8d-7e6f5a4b3c2dd",
                         "0b7e6f4c-1d2a-4f3b-9c8d_7e6f5a4b3c2d",
                         "gb7e6f4c-1d2a-4f3b-9c8d-7e6f5a4b3c2d",
                         "' OR 1=1 --"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_int_eq(td_page_uuid_parse(bad[i], b), -1);
    ck_assert_int_eq(td_page_uuid_parse(NULL, b), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("page_token");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, uppercase_uuid_is_canonicalised);
    tcase_add_test(tc, bound_to_query_and_user);
    tcase_add_test(tc, every_bit_flip_is_refused);
    tcase_add_test(tc, other_version_is_refused);
    tcase_add_test(tc, garbage_and_truncation);
    tcase_add_test(tc, non_canonical_base64);
    tcase_add_test(tc, encode_refuses_bad_input);
    tcase_add_test(tc, uuid_parse);
    suite_add_tcase(s, tc);
    return td_check_run(s);
}
