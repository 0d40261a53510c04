/* check_tag_validate.c - unit tests for server/tag_validate.c: tag name trimming, length
 * in code points, control characters, invalid UTF-8, colours, update_mask paths, page
 * sizes and ids. The module is compiled into this test (it lives in server/, not in
 * libtd). Single-threaded. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/tag_validate.c"
#include "check_run.h"

static td_arena *A;

static void setup(void)
{
    A = td_arena_new(1024);
    ck_assert_ptr_nonnull(A);
}

static void teardown(void)
{
    td_arena_destroy(A);
}

static const char *norm_ok(const char *in)
{
    char *out = NULL;
    const char *why = NULL;
    ck_assert_msg(td_tag_name_normalize(in, A, &out, &why) == TD_OK, "%s: %s", in, why ? why : "");
    return out;
}

static const char *norm_bad(const char *in)
{
    char *out = (char *)"x";
    const char *why = NULL;
    ck_assert_int_eq(td_tag_name_normalize(in, A, &out, &why), TD_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(why);
    return why;
}

START_TEST(names)
{
    char n50[50 * 2 + 1], n51[51 * 2 + 1], emoji50[50 * 4 + 1];

    ck_assert_str_eq(norm_ok("Work"), "Work");
    ck_assert_str_eq(norm_ok("  Work  "), "Work");
    ck_assert_str_eq(norm_ok("\xc2\xa0Work\xe3\x80\x80"), "Work"); /* NBSP, ideographic space */
    ck_assert_str_eq(norm_ok("two words"), "two words");
    ck_assert_str_eq(norm_ok("'; DROP TABLE tags; --"), "'; DROP TABLE tags; --");
    ck_assert_str_eq(norm_ok("%_\\"), "%_\\");
    ck_assert_str_eq(norm_ok("{a,\"b\"}"), "{a,\"b\"}");
    ck_assert_str_eq(norm_ok("NULL"), "NULL");

    /* 50 two-byte characters are fine, 51 are not: code points, not bytes. */
    for (int i = 0; i < 51; i++)
        memcpy(n51 + 2 * i, "\xc3\xa9", 2);
    n51[102] = '\0';
    memcpy(n50, n51, 100);
    n50[100] = '\0';
    ck_assert_str_eq(norm_ok(n50), n50);
    ck_assert_str_eq(norm_bad(n51), "is too long (at most 50 characters)");
    for (int i = 0; i < 50; i++)
        memcpy(emoji50 + 4 * i, "\xf0\x9f\x9b\x92", 4); /* U+1F6D2 */
    emoji50[200] = '\0';
    ck_assert_str_eq(norm_ok(emoji50), emoji50);
    /* Trimming happens before the length check. */
    {
        char padded[60];
        memset(padded, ' ', 5);
        memset(padded + 5, 'x', 50);
        memset(padded + 55, ' ', 4);
        padded[59] = '\0';
        ck_assert_int_eq(strlen(norm_ok(padded)), 50);
    }

    ck_assert_str_eq(norm_bad(""), "must not be empty");
    ck_assert_str_eq(norm_bad("   "), "must not be empty");
    ck_assert_str_eq(norm_bad(" \t\n "), "must not be empty");
    ck_assert_str_eq(norm_bad("a\tb"), "must not contain control characters");
    ck_assert_str_eq(norm_bad("a\nb"), "must not contain control characters");
    ck_assert_str_eq(norm_bad("a\x7f"), "must not contain control characters");
    ck_assert_str_eq(norm_bad("a\xc2\x85"
                              "b"),
                     "must not contain control characters"); /* NEL */
    ck_assert_str_eq(norm_bad("a\xc2\x9b"
                              "b"),
                     "must not contain control characters"); /* CSI */
    ck_assert_str_eq(norm_bad("a\xe2\x80\xa8"
                              "b"),
                     "must not contain control characters");
    ck_assert_str_eq(norm_bad("\x01"), "must not contain control characters");
    ck_assert_str_eq(norm_bad("bad\xfftag"), "is not valid UTF-8");
    ck_assert_str_eq(norm_bad("\xc0\xaf"), "is not valid UTF-8");         /* overlong */
    ck_assert_str_eq(norm_bad("\xed\xa0\x80"), "is not valid UTF-8");     /* surrogate */
    ck_assert_str_eq(norm_bad("ab\xe2\x82"), "is not valid UTF-8");       /* truncated */
    ck_assert_str_eq(norm_bad("\xf4\x90\x80\x80"), "is not valid UTF-8"); /* > U+10FFFF */
    {
        char *out;
        const char *why;
        ck_assert_int_eq(td_tag_name_normalize(NULL, A, &out, &why), TD_EINVAL);
    }
}
END_TEST

START_TEST(colors)
{
    ck_assert(td_tag_color_valid(""));
    ck_assert(td_tag_color_valid(NULL));
    ck_assert(td_tag_color_valid("#a1B2c3"));
    ck_assert(td_tag_color_valid("#000000"));
    ck_assert(td_tag_color_valid("#FFFFFF"));
    const char *bad[] = {"red",     "#12345",    "#1234567", "#GGGGGG",  "123456",
                         "#12 456", "#ffffff\n", "##12345",  " #123456", "#12345g"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!td_tag_color_valid(bad[i]), "%s", bad[i]);
}
END_TEST

START_TEST(masks)
{
    unsigned f = 0;
    const char *bad = NULL;
    char *name[] = {"name"}, *color[] = {"color"}, *both[] = {"color", "name"}, *star[] = {"*"},
         *unknown[] = {"name", "nmae"}, *ro[] = {"id"}, *count[] = {"open_task_count"};

    ck_assert_int_eq(td_tag_mask_parse(name, 1, &f, &bad), TD_OK);
    ck_assert_uint_eq(f, TD_TAG_F_NAME);
    ck_assert_int_eq(td_tag_mask_parse(color, 1, &f, &bad), TD_OK);
    ck_assert_uint_eq(f, TD_TAG_F_COLOR);
    ck_assert_int_eq(td_tag_mask_parse(both, 2, &f, &bad), TD_OK);
    ck_assert_uint_eq(f, TD_TAG_F_ALL);
    ck_assert_int_eq(td_tag_mask_parse(star, 1, &f, &bad), TD_OK);
    ck_assert_uint_eq(f, TD_TAG_F_ALL);
    /* An empty mask is refused (as for UpdateTask), never an implicit "*". */
    ck_assert_int_eq(td_tag_mask_parse(NULL, 0, &f, &bad), TD_EINVAL);
    ck_assert_str_eq(bad, "");
    ck_assert_int_eq(td_tag_mask_parse(unknown, 2, &f, &bad), TD_EINVAL);
    ck_assert_str_eq(bad, "nmae");
    ck_assert_int_eq(td_tag_mask_parse(ro, 1, &f, &bad), TD_EINVAL);
    ck_assert_int_eq(td_tag_mask_parse(count, 1, &f, &bad), TD_EINVAL);
}
END_TEST

START_TEST(page_sizes)
{
    int n = -1;
    ck_assert_int_eq(td_tag_page_size(0, &n), TD_OK);
    ck_assert_int_eq(n, 50);
    ck_assert_int_eq(td_tag_page_size(1, &n), TD_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(td_tag_page_size(500, &n), TD_OK);
    ck_assert_int_eq(n, 500);
    ck_assert_int_eq(td_tag_page_size(501, &n), TD_OK);
    ck_assert_int_eq(n, 500);
    ck_assert_int_eq(td_tag_page_size(INT32_MAX, &n), TD_OK);
    ck_assert_int_eq(n, 500);
    ck_assert_int_eq(td_tag_page_size(-1, &n), TD_EINVAL);
    ck_assert_int_eq(td_tag_page_size(INT32_MIN, &n), TD_EINVAL);
}
END_TEST

START_TEST(ids)
{
    ck_assert(td_tag_id_valid("0b7e6f4c-1d2a-4f3b-9c8d-7e6f5a4b3c2d"));
    ck_assert(td_tag_id_valid("0B7E6F4C-1D2A-4F3B-9C8D-7E6F5A4B3C2D"));
    ck_assert(!td_tag_id_valid(""));
    ck_assert(!td_tag_id_valid(NULL));
    ck_assert(!td_tag_id_valid("not-a-uuid"));
    ck_assert(!td_tag_id_valid("0b7e6f4c1d2a4f3b9c8d7e6f5a4b3c2d"));
    ck_assert(!td_tag_id_valid("0b7e6f4c-1d2a-4f3b-9c8d-7e6f5a4b3c2d0"));
    ck_assert(!td_tag_id_valid("0b7e6f4c-1d2a-4f3b-9c8d-7e6f5a4b3c2g"));
    ck_assert(!td_tag_id_valid("'; DROP TABLE tags; --                "));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tag_validate");
    TCase *tc = tcase_create("rules");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, names);
    tcase_add_test(tc, colors);
    tcase_add_test(tc, masks);
    tcase_add_test(tc, page_sizes);
    tcase_add_test(tc, ids);
    suite_add_tcase(s, tc);
    return td_check_run(s);
}
