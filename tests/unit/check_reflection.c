/* check_reflection.c - unit tests for lib/rpc/reflection.c and the embedded descriptor
 * set: the set is embedded and parses; list_services, file_by_filename,
 * file_containing_symbol (services, methods, messages, nested types, enums, enum values,
 * fields), extension queries and error answers; returned bytes are the original
 * FileDescriptorProtos, requested file first and each dependency once; the method table.
 * Each test builds its own index and arena (fixture), so leaks show under valgrind. */
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"
#include "rpc/descriptor_set.h"
#include "rpc/reflection.h"
#include "check_run.h"

typedef Grpc__Reflection__V1__ServerReflectionRequest req_t;
typedef Grpc__Reflection__V1__ServerReflectionResponse resp_t;

static td_reflection *refl;
static td_arena *arena;

static void setup(void)
{
    char err[256] = "";
    refl = td_reflection_new_embedded(err, sizeof err);
    ck_assert_msg(refl != NULL, "td_reflection_new_embedded: %s", err);
    arena = td_arena_new(4096);
    ck_assert_ptr_nonnull(arena);
}

static void teardown(void)
{
    td_arena_destroy(arena);
    td_reflection_destroy(refl);
    refl = NULL;
    arena = NULL;
}

static resp_t *ask(req_t *req)
{
    resp_t *resp = td_arena_alloc(arena, sizeof(*resp));
    ck_assert_ptr_nonnull(resp);
    ck_assert_int_eq(td_reflection_answer(refl, req, resp, arena), TD_OK);
    return resp;
}

static resp_t *ask_symbol(const char *sym)
{
    req_t req;
    grpc__reflection__v1__server_reflection_request__init(&req);
    req.host = "localhost";
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
    req.file_containing_symbol = (char *)sym;
    return ask(&req);
}

static resp_t *ask_file(const char *name)
{
    req_t req;
    grpc__reflection__v1__server_reflection_request__init(&req);
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
    req.file_by_filename = (char *)name;
    return ask(&req);
}

/* Unpacks every returned FileDescriptorProto; returns their names (arena) in order. */
static size_t file_names(const resp_t *resp, const char **names, size_t cap)
{
    ck_assert_int_eq(
        resp->message_response_case,
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
    const Grpc__Reflection__V1__FileDescriptorResponse *fdr = resp->file_descriptor_response;
    ck_assert_uint_le(fdr->n_file_descriptor_proto, cap);
    for (size_t i = 0; i < fdr->n_file_descriptor_proto; i++) {
        Google__Protobuf__FileDescriptorProto *fd = google__protobuf__file_descriptor_proto__unpack(
            NULL, fdr->file_descriptor_proto[i].len, fdr->file_descriptor_proto[i].data);
        ck_assert_msg(fd != NULL, "file #%zu does not parse as FileDescriptorProto", i);
        names[i] = td_arena_strdup(arena, fd->name);
        protobuf_c_message_free_unpacked(&fd->base, NULL);
    }
    return fdr->n_file_descriptor_proto;
}

static bool has_name(const char **names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

static void assert_unique(const char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            ck_assert_msg(strcmp(names[i], names[j]) != 0, "%s sent twice", names[i]);
}

static void assert_not_found(const resp_t *resp, const char *name)
{
    ck_assert_int_eq(
        resp->message_response_case,
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE);
    ck_assert_int_eq(resp->error_response->error_code, 5);
    ck_assert_msg(strstr(resp->error_response->error_message, name) != NULL,
                  "message '%s' does not name '%s'", resp->error_response->error_message, name);
}

START_TEST(test_embedded_set_parses)
{
    ck_assert_uint_eq(td_descriptor_set_count, 1);
    ck_assert_ptr_nonnull(td_descriptor_set[0].data);
    ck_assert_uint_gt(td_descriptor_set[0].len, 1000);
    ck_assert_str_eq(td_descriptor_set[0].name, "todo.protoset");
    ck_assert_ptr_null(td_descriptor_set[1].data);
    Google__Protobuf__FileDescriptorSet *set = google__protobuf__file_descriptor_set__unpack(
        NULL, td_descriptor_set[0].len, td_descriptor_set[0].data);
    ck_assert_ptr_nonnull(set);
    bool task = false, health = false, ts = false;
    for (size_t i = 0; i < set->n_file; i++) {
        task |= strcmp(set->file[i]->name, "todo/v1/task.proto") == 0;
        health |= strcmp(set->file[i]->name, "grpc/health/v1/health.proto") == 0;
        ts |= strcmp(set->file[i]->name, "google/protobuf/timestamp.proto") == 0;
    }
    ck_assert(task && health && ts);
    protobuf_c_message_free_unpacked(&set->base, NULL);
}
END_TEST

START_TEST(test_list_services)
{
    static const char *const want[] = {
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "todo.v1.ActivityService",
        "todo.v1.ReminderService",
        "todo.v1.TagService",
        "todo.v1.TaskService",
    };
    req_t req;
    grpc__reflection__v1__server_reflection_request__init(&req);
    req.host = "h";
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
    req.list_services = "*";
    resp_t *resp = ask(&req);
    ck_assert_int_eq(
        resp->message_response_case,
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE);
    const Grpc__Reflection__V1__ListServiceResponse *ls = resp->list_services_response;
    ck_assert_uint_eq(ls->n_service, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < ls->n_service; i++)
        ck_assert_str_eq(ls->service[i]->name, want[i]);
    /* Echoes. */
    ck_assert_str_eq(resp->valid_host, "h");
    ck_assert_ptr_nonnull(resp->original_request);
    ck_assert_ptr_ne(resp->original_request, &req);
    ck_assert_str_eq(resp->original_request->list_services, "*");
}
END_TEST

START_TEST(test_symbol_service_first_then_deps)
{
    const char *names[64];
    resp_t *resp = ask_symbol("todo.v1.TaskService");
    size_t n = file_names(resp, names, 64);
    ck_assert_uint_ge(n, 2);
    ck_assert_str_eq(names[0], "todo/v1/task.proto");
    ck_assert(has_name(names, n, "google/protobuf/timestamp.proto"));
    ck_assert(has_name(names, n, "google/protobuf/field_mask.proto"));
    ck_assert(has_name(names, n, "google/protobuf/empty.proto"));
    ck_assert(has_name(names, n, "google/protobuf/duration.proto"));
    ck_assert(has_name(names, n, "todo/v1/tag.proto"));
    ck_assert(!has_name(names, n, "grpc/health/v1/health.proto"));
    assert_unique(names, n);
    ck_assert_str_eq(resp->valid_host, "localhost");
    ck_assert_str_eq(resp->original_request->file_containing_symbol, "todo.v1.TaskService");
}
END_TEST

START_TEST(test_symbol_kinds_resolve)
{
    static const struct {
        const char *sym, *file;
    } cases[] = {
        {"todo.v1.TaskService.CreateTask", "todo/v1/task.proto"},
        {"todo.v1.TaskService.WatchTasks", "todo/v1/task.proto"},
        {"todo.v1.Task", "todo/v1/task.proto"},
        {".todo.v1.Task", "todo/v1/task.proto"},
        {"todo.v1.Task.title", "todo/v1/task.proto"},
        {"todo.v1.WatchTasksResponse.CaughtUp", "todo/v1/task.proto"},
        {"todo.v1.WatchTasksResponse.change", "todo/v1/task.proto"},
        {"todo.v1.RecurrenceRule.Frequency", "todo/v1/task.proto"},
        {"todo.v1.RecurrenceRule.FREQUENCY_WEEKLY", "todo/v1/task.proto"},
        {"todo.v1.Priority", "todo/v1/task.proto"},
        {"todo.v1.PRIORITY_HIGH", "todo/v1/task.proto"},
        {"todo.v1.Reminder.State", "todo/v1/reminder.proto"},
        {"todo.v1.TagService", "todo/v1/tag.proto"},
        {"todo.v1.ActivityService.GetProductivitySummary", "todo/v1/activity.proto"},
        {"todo.v1.TaskCompleted", "todo/v1/events.proto"},
        {"io.cloudevents.v1.CloudEvent.CloudEventAttributeValue",
         "io/cloudevents/v1/cloudevents.proto"},
        {"io.cloudevents.v1.CloudEvent.AttributesEntry", "io/cloudevents/v1/cloudevents.proto"},
        {"grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"},
        {"grpc.health.v1.Health.Watch", "grpc/health/v1/health.proto"},
        {"grpc.reflection.v1alpha.ServerReflection", "grpc/reflection/v1alpha/reflection.proto"},
        {"google.rpc.BadRequest.FieldViolation", "google/rpc/error_details.proto"},
        {"google.rpc.Status", "google/rpc/status.proto"},
        {"google.rpc.Code", "google/rpc/code.proto"},
        {"google.protobuf.Timestamp", "google/protobuf/timestamp.proto"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *names[64];
        ck_assert_str_eq(td_reflection_symbol_file(refl, cases[i].sym), cases[i].file);
        size_t n = file_names(ask_symbol(cases[i].sym), names, 64);
        ck_assert_uint_ge(n, 1);
        ck_assert_msg(strcmp(names[0], cases[i].file) == 0, "%s: first file %s, want %s",
                      cases[i].sym, names[0], cases[i].file);
        assert_unique(names, n);
    }
}
END_TEST

START_TEST(test_unknown_symbol_not_found)
{
    assert_not_found(ask_symbol("todo.v1.NoSuchThing"), "todo.v1.NoSuchThing");
    assert_not_found(ask_symbol("todo.v1"), "todo.v1");
    assert_not_found(ask_symbol(""), "");
    assert_not_found(ask_symbol("todo.v1.TaskService.CreateTaskX"), "CreateTaskX");
    ck_assert_ptr_null(td_reflection_symbol_file(refl, "todo.v1.Nope"));
}
END_TEST

START_TEST(test_file_by_filename)
{
    const char *names[64];
    size_t n = file_names(ask_file("google/protobuf/timestamp.proto"), names, 64);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(names[0], "google/protobuf/timestamp.proto");

    n = file_names(ask_file("io/cloudevents/v1/cloudevents.proto"), names, 64);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(names[0], "io/cloudevents/v1/cloudevents.proto");
    ck_assert(has_name(names, n, "google/protobuf/any.proto"));
    ck_assert(has_name(names, n, "google/protobuf/timestamp.proto"));

    /* events.proto imports task.proto and tag.proto; task.proto imports tag.proto too. */
    n = file_names(ask_file("todo/v1/events.proto"), names, 64);
    ck_assert_str_eq(names[0], "todo/v1/events.proto");
    ck_assert(has_name(names, n, "todo/v1/task.proto"));
    ck_assert(has_name(names, n, "todo/v1/tag.proto"));
    assert_unique(names, n);

    assert_not_found(ask_file("todo/v1/nope.proto"), "todo/v1/nope.proto");
}
END_TEST

START_TEST(test_raw_bytes_are_original)
{
    /* The bytes returned for a file must be exactly its slice of the set. */
    Google__Protobuf__FileDescriptorSet *set = google__protobuf__file_descriptor_set__unpack(
        NULL, td_descriptor_set[0].len, td_descriptor_set[0].data);
    ck_assert_ptr_nonnull(set);
    for (size_t i = 0; i < set->n_file; i++) {
        resp_t *resp = ask_file(set->file[i]->name);
        ck_assert_int_eq(
            resp->message_response_case,
            GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
        const ProtobufCBinaryData *b = &resp->file_descriptor_response->file_descriptor_proto[0];
        size_t packed = protobuf_c_message_get_packed_size(&set->file[i]->base);
        ck_assert_uint_eq(b->len, packed);
        /* The raw slice must occur verbatim inside the embedded set. */
        ck_assert_ptr_nonnull(
            memmem(td_descriptor_set[0].data, td_descriptor_set[0].len, b->data, b->len));
    }
    protobuf_c_message_free_unpacked(&set->base, NULL);
}
END_TEST

START_TEST(test_extensions)
{
    req_t req;
    grpc__reflection__v1__server_reflection_request__init(&req);
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE;
    req.all_extension_numbers_of_type = "todo.v1.Task";
    resp_t *resp = ask(&req);
    ck_assert_int_eq(
        resp->message_response_case,
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE);
    ck_assert_str_eq(resp->all_extension_numbers_response->base_type_name, "todo.v1.Task");
    ck_assert_uint_eq(resp->all_extension_numbers_response->n_extension_number, 0);

    req.all_extension_numbers_of_type = "google.protobuf.MethodOptions";
    assert_not_found(ask(&req), "google.protobuf.MethodOptions");
    req.all_extension_numbers_of_type = "todo.v1.Priority"; /* an enum, not a message */
    assert_not_found(ask(&req), "todo.v1.Priority");

    Grpc__Reflection__V1__ExtensionRequest x;
    grpc__reflection__v1__extension_request__init(&x);
    x.containing_type = "todo.v1.Task";
    x.extension_number = 1000;
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION;
    req.file_containing_extension = &x;
    assert_not_found(ask(&req), "todo.v1.Task(1000)");
}
END_TEST

START_TEST(test_unset_request_unimplemented)
{
    req_t req;
    grpc__reflection__v1__server_reflection_request__init(&req);
    resp_t *resp = ask(&req);
    ck_assert_int_eq(
        resp->message_response_case,
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE);
    ck_assert_int_eq(resp->error_response->error_code, 12);
    ck_assert_str_eq(resp->valid_host, "");
}
END_TEST

START_TEST(test_response_packs_and_roundtrips)
{
    resp_t *resp = ask_symbol("todo.v1.TaskService");
    size_t len = protobuf_c_message_get_packed_size(&resp->base);
    uint8_t *buf = td_arena_alloc(arena, len);
    ck_assert_uint_eq(protobuf_c_message_pack(&resp->base, buf), len);
    /* v1alpha is wire-identical: a v1alpha client decodes the same bytes. */
    ProtobufCMessage *m = protobuf_c_message_unpack(
        &grpc__reflection__v1alpha__server_reflection_response__descriptor, NULL, len, buf);
    ck_assert_ptr_nonnull(m);
    Grpc__Reflection__V1alpha__ServerReflectionResponse *a =
        (Grpc__Reflection__V1alpha__ServerReflectionResponse *)m;
    ck_assert_uint_eq(a->file_descriptor_response->n_file_descriptor_proto,
                      resp->file_descriptor_response->n_file_descriptor_proto);
    ck_assert_str_eq(a->original_request->file_containing_symbol, "todo.v1.TaskService");
    protobuf_c_message_free_unpacked(m, NULL);
}
END_TEST

START_TEST(test_bad_sets_rejected)
{
    char err[256] = "";
    static const unsigned char truncated[] = {0x0a, 0x50, 0x01};
    static const unsigned char garbage[] = {0x0a, 0x02, 0xff, 0xff};
    /* A file "a.proto" importing "b.proto", which is absent. */
    static const unsigned char missing_dep[] = {0x0a, 0x12, 0x0a, 0x07, 'a',  '.',  'p',
                                                'r',  'o',  't',  'o',  0x1a, 0x07, 'b',
                                                '.',  'p',  'r',  'o',  't',  'o'};
    ck_assert_ptr_null(td_reflection_new(NULL, 0, err, sizeof err));
    ck_assert_ptr_null(td_reflection_new(truncated, sizeof truncated, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "malformed"));
    ck_assert_ptr_null(td_reflection_new(garbage, sizeof garbage, err, sizeof err));
    ck_assert_ptr_null(td_reflection_new(missing_dep, sizeof missing_dep, err, sizeof err));
    ck_assert_msg(strstr(err, "b.proto") != NULL, "err: %s", err);
    td_reflection_destroy(NULL);
}
END_TEST

START_TEST(test_methods_table)
{
    td_rpc_method m[4];
    ck_assert_uint_eq(td_reflection_methods(refl, m, 1), 0);
    ck_assert_uint_eq(td_reflection_methods(refl, m, 4), 2);
    ck_assert_str_eq(m[0].path, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo");
    ck_assert_str_eq(m[1].path, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo");
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(m[i].kind, TD_RPC_BIDI);
        ck_assert_uint_eq(m[i].flags & TD_RPC_PUBLIC, TD_RPC_PUBLIC);
        ck_assert_ptr_nonnull(m[i].bidi);
        ck_assert_ptr_eq(m[i].svc, refl);
        ck_assert_ptr_eq(m[i].input, &grpc__reflection__v1__server_reflection_request__descriptor);
        ck_assert_ptr_eq(m[i].output,
                         &grpc__reflection__v1__server_reflection_response__descriptor);
    }
    const char *const *names = NULL;
    ck_assert_uint_eq(td_reflection_services(refl, &names), 7);
}
END_TEST

static Suite *reflection_suite(void)
{
    Suite *s = suite_create("reflection");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_embedded_set_parses);
    tcase_add_test(tc, test_list_services);
    tcase_add_test(tc, test_symbol_service_first_then_deps);
    tcase_add_test(tc, test_symbol_kinds_resolve);
    tcase_add_test(tc, test_unknown_symbol_not_found);
    tcase_add_test(tc, test_file_by_filename);
    tcase_add_test(tc, test_raw_bytes_are_original);
    tcase_add_test(tc, test_extensions);
    tcase_add_test(tc, test_unset_request_unimplemented);
    tcase_add_test(tc, test_response_packs_and_roundtrips);
    tcase_add_test(tc, test_bad_sets_rejected);
    tcase_add_test(tc, test_methods_table);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return td_check_run(reflection_suite());
}
