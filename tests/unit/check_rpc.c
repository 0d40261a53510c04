/* check_rpc.c - pure parts of the RPC runtime: td_status -> gRPC code mapping, the
 * google.rpc.Status details trailer, request validation (UTF-8, NUL bytes on the wire,
 * enum values) and the per-call arena. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/base64url.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "rpc/status_details.h"
#include "rpc/status_map.h"
#include "rpc/validate.h"
#include "todo/v1/task.pb-c.h"
#include "check_run.h"

START_TEST(status_map_every_code)
{
    static const struct {
        td_status st;
        grpc_status_code code;
        const char *name;
    } cases[] = {
        {TD_OK, GRPC_STATUS_OK, "OK"},
        {TD_EINVAL, GRPC_STATUS_INVALID_ARGUMENT, "INVALID_ARGUMENT"},
        {TD_ENOTFOUND, GRPC_STATUS_NOT_FOUND, "NOT_FOUND"},
        {TD_EEXIST, GRPC_STATUS_ALREADY_EXISTS, "ALREADY_EXISTS"},
        {TD_ECONFLICT, GRPC_STATUS_ABORTED, "ABORTED"},
        {TD_EPRECOND, GRPC_STATUS_FAILED_PRECONDITION, "FAILED_PRECONDITION"},
        {TD_EUNAUTH, GRPC_STATUS_UNAUTHENTICATED, "UNAUTHENTICATED"},
        {TD_EPERM, GRPC_STATUS_PERMISSION_DENIED, "PERMISSION_DENIED"},
        {TD_ELIMIT, GRPC_STATUS_RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED"},
        {TD_ENOMEM, GRPC_STATUS_RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED"},
        {TD_EUNAVAIL, GRPC_STATUS_UNAVAILABLE, "UNAVAILABLE"},
        {TD_EDEADLINE, GRPC_STATUS_DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"},
        {TD_ECANCELLED, GRPC_STATUS_CANCELLED, "CANCELLED"},
        {TD_EUNIMPL, GRPC_STATUS_UNIMPLEMENTED, "UNIMPLEMENTED"},
        {TD_ERANGE, GRPC_STATUS_OUT_OF_RANGE, "OUT_OF_RANGE"},
        {TD_EINTERNAL, GRPC_STATUS_INTERNAL, "INTERNAL"},
        {TD_EIO, GRPC_STATUS_INTERNAL, "INTERNAL"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(td_status_to_grpc(cases[i].st), cases[i].code);
        ck_assert_str_eq(td_grpc_code_name(cases[i].code), cases[i].name);
        ck_assert_ptr_nonnull(td_strerror(cases[i].st));
    }
    ck_assert_int_eq(td_status_to_grpc((td_status)-999), GRPC_STATUS_UNKNOWN);
    ck_assert_str_eq(td_grpc_code_name((grpc_status_code)99), "UNKNOWN");
}
END_TEST

START_TEST(status_details_round_trip)
{
    td_rpc_violation v[] = {{"task.title", "must not be empty"}, {"page_size", "negative"}};
    size_t len = 0;
    unsigned char *bin = td_rpc_status_details_pack(3, "task.title: must not be empty", v, 2, &len);
    ck_assert_ptr_nonnull(bin);
    Google__Rpc__Status *st = google__rpc__status__unpack(NULL, len, bin);
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(st->code, 3);
    ck_assert_str_eq(st->message, "task.title: must not be empty");
    ck_assert_uint_eq(st->n_details, 1);
    ck_assert_str_eq(st->details[0]->type_url, "type.googleapis.com/google.rpc.BadRequest");
    Google__Rpc__BadRequest *br = google__rpc__bad_request__unpack(NULL, st->details[0]->value.len,
                                                                   st->details[0]->value.data);
    ck_assert_ptr_nonnull(br);
    ck_assert_uint_eq(br->n_field_violations, 2);
    ck_assert_str_eq(br->field_violations[1]->field, "page_size");
    google__rpc__bad_request__free_unpacked(br, NULL);
    google__rpc__status__free_unpacked(st, NULL);
    free(bin);

    bin = td_rpc_status_details_pack(5, "task not found", NULL, 0, &len);
    st = google__rpc__status__unpack(NULL, len, bin);
    ck_assert_int_eq(st->code, 5);
    ck_assert_uint_eq(st->n_details, 0);
    google__rpc__status__free_unpacked(st, NULL);
    free(bin);
}
END_TEST

START_TEST(utf8_validation)
{
    ck_assert(td_utf8_valid("plain", 5));
    ck_assert(td_utf8_valid("Gr\xc3\xbc\xc3\x9f"
                            "e",
                            7));                      /* Grüße */
    ck_assert(td_utf8_valid("\xf0\x9f\x9b\x92", 4));  /* emoji */
    ck_assert(!td_utf8_valid("\xff\xfe", 2));         /* not UTF-8 */
    ck_assert(!td_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    ck_assert(!td_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    ck_assert(!td_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    ck_assert(!td_utf8_valid("\xe2\x82", 2));         /* truncated */
    ck_assert(td_utf8_valid("", 0));
}
END_TEST

START_TEST(wire_rejects_nul_and_bad_utf8_with_field_path)
{
    char field[256], why[128];
    /* HealthCheckRequest{service = "a\0b"} */
    const uint8_t nul[] = {0x0a, 0x03, 'a', 0x00, 'b'};
    ck_assert_int_eq(td_rpc_validate_wire(&grpc__health__v1__health_check_request__descriptor, nul,
                                          sizeof(nul), field, sizeof(field), why, sizeof(why)),
                     TD_EINVAL);
    ck_assert_str_eq(field, "service");
    /* CreateTaskRequest{task = Task{title = "\xff"}} : nested path */
    const uint8_t bad[] = {0x0a, 0x03, 0x1a, 0x01, 0xff};
    ck_assert_int_eq(td_rpc_validate_wire(&todo__v1__create_task_request__descriptor, bad,
                                          sizeof(bad), field, sizeof(field), why, sizeof(why)),
                     TD_EINVAL);
    ck_assert_str_eq(field, "task.title");
    ck_assert_str_eq(why, "invalid UTF-8");
    /* Task{tags = ["ok", "\xff"]} inside CreateTaskRequest: the index is named */
    const uint8_t tag[] = {0x0a, 0x07, 0x3a, 0x02, 'o', 'k', 0x3a, 0x01, 0xff};
    ck_assert_int_eq(td_rpc_validate_wire(&todo__v1__create_task_request__descriptor, tag,
                                          sizeof(tag), field, sizeof(field), why, sizeof(why)),
                     TD_EINVAL);
    ck_assert_str_eq(field, "task.tags[1]");
    /* Good request, unknown fields and truncated framing pass (the unpacker judges framing). */
    const uint8_t good[] = {0x0a, 0x03, 0x1a, 0x01, 'x', 0x78, 0x01, 0x0a, 0x7f};
    ck_assert_int_eq(td_rpc_validate_wire(&todo__v1__create_task_request__descriptor, good,
                                          sizeof(good), field, sizeof(field), why, sizeof(why)),
                     TD_OK);
}
END_TEST

START_TEST(message_rejects_unknown_enum)
{
    char field[256], why[128];
    Todo__V1__Task task = TODO__V1__TASK__INIT;
    Todo__V1__CreateTaskRequest req = TODO__V1__CREATE_TASK_REQUEST__INIT;
    req.task = &task;
    task.priority = (Todo__V1__Priority)99;
    ck_assert_int_eq(td_rpc_validate_message(&req.base, field, sizeof(field), why, sizeof(why)),
                     TD_EINVAL);
    ck_assert_str_eq(field, "task.priority");
    task.priority = TODO__V1__PRIORITY__PRIORITY_HIGH;
    ck_assert_int_eq(td_rpc_validate_message(&req.base, field, sizeof(field), why, sizeof(why)),
                     TD_OK);
}
END_TEST

START_TEST(base64url_strict)
{
    char enc[16];
    unsigned char dec[16];
    const unsigned char raw[] = {0xfb, 0xff, 0x01, 0x00};
    size_t n = td_base64url_encode(raw, 4, enc);
    ck_assert_uint_eq(n, TD_BASE64URL_LEN(4));
    ck_assert_int_eq(memcmp(enc, "-_8BAA", 6), 0);
    ck_assert_int_eq(td_base64url_decode(enc, n, dec), 4);
    ck_assert_int_eq(memcmp(dec, raw, 4), 0);
    ck_assert_int_eq(td_base64url_decode("-_8BAA==", 8, dec), -1); /* padding */
    ck_assert_int_eq(td_base64url_decode("-_8BAB", 6, dec), -1);   /* non-zero tail bits */
    ck_assert_int_eq(td_base64url_decode("+/8BAA", 6, dec), -1);   /* base64, not url */
    ck_assert_int_eq(td_base64url_decode("A", 1, dec), -1);        /* impossible length */
}
END_TEST

START_TEST(arena_alloc_cleanup)
{
    td_arena *a = td_arena_new(64);
    ck_assert_ptr_nonnull(a);
    char *big = td_arena_alloc(a, 100000); /* larger than any block so far */
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', 100000);
    ck_assert_str_eq(td_arena_printf(a, "%s-%d", "id", 7), "id-7");
    ck_assert_ptr_null(td_arena_strdup(a, NULL));
    void *p = malloc(16);
    ck_assert_int_eq(td_arena_on_destroy(a, free, p), 0);
    ck_assert_uint_ge(td_arena_used(a), 100000);
    td_arena_destroy(a); /* frees p through the cleanup: valgrind sees no leak */
    td_arena_destroy(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rpc");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, status_map_every_code);
    tcase_add_test(tc, status_details_round_trip);
    tcase_add_test(tc, utf8_validation);
    tcase_add_test(tc, wire_rejects_nul_and_bad_utf8_with_field_path);
    tcase_add_test(tc, message_rejects_unknown_enum);
    tcase_add_test(tc, base64url_strict);
    tcase_add_test(tc, arena_alloc_cleanup);
    suite_add_tcase(s, tc);
    return td_check_run(s);
}
