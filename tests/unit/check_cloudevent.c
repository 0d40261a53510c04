/* check_cloudevent.c - unit tests of lib/events (CloudEvents protobuf codec): round
 * trip, field numbers of the official schema, hostile input, type URL checks, uuid and
 * traceparent helpers. Single-threaded; every test uses its own arena. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "events/cloudevent.h"
#include "google/protobuf/any.pb-c.h"
#include "todo/v1/events.pb-c.h"
#include "check_run.h"

static td_arena *A;

static void setup(void)
{
    A = td_arena_new(4096);
    ck_assert_ptr_nonnull(A);
}

static void teardown(void)
{
    td_arena_destroy(A);
    A = NULL;
}

static void encode_sample(uint8_t **buf, size_t *len, const char *type)
{
    Todo__V1__TagChanged tc = TODO__V1__TAG_CHANGED__INIT;
    Todo__V1__Tag tag = TODO__V1__TAG__INIT;
    td_ce_event ev = {0};
    char err[128];

    tag.id = "6f1c1f8e-3d7e-4c61-9f5a-0d2b8e0c1a11";
    tag.name = "Groceries";
    tc.user_id = "alice";
    tc.revision = 42;
    tc.change = TODO__V1__TAG_CHANGED__CHANGE__CHANGE_CREATED;
    tc.tag = &tag;
    ev.id = "0b8f5d2e-1111-4222-8333-444455556666";
    ev.source = "//todo/server";
    ev.type = type;
    ev.time_us = 1700000000123456LL;
    ev.subject = tag.id;
    ev.partitionkey = "alice";
    ev.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    ev.has_revision = true;
    ev.revision = 5000000000LL; /* beyond int32 */
    ev.data = &tc.base;
    ck_assert_int_eq(td_ce_encode(&ev, A, buf, len, err, sizeof(err)), TD_OK);
}

START_TEST(round_trip)
{
    uint8_t *buf;
    size_t len;
    Io__Cloudevents__V1__CloudEvent *ce;
    ProtobufCMessage *m;
    Todo__V1__TagChanged *tc;
    int64_t us, rev;
    char err[128];

    encode_sample(&buf, &len, NULL);
    ck_assert_int_eq(td_ce_decode(buf, len, A, &ce, err, sizeof(err)), TD_OK);
    ck_assert_str_eq(ce->id, "0b8f5d2e-1111-4222-8333-444455556666");
    ck_assert_str_eq(ce->source, "//todo/server");
    ck_assert_str_eq(ce->spec_version, "1.0");
    ck_assert_str_eq(ce->type, "todo.v1.TagChanged");
    ck_assert_str_eq(td_ce_attr_string(ce, "datacontenttype"), "application/protobuf");
    ck_assert_str_eq(td_ce_attr_string(ce, "dataschema"), "type.googleapis.com/todo.v1.TagChanged");
    ck_assert_int_eq(td_ce_attr(ce, "dataschema")->attr_case,
                     IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_URI);
    ck_assert_str_eq(td_ce_attr_string(ce, "subject"), "6f1c1f8e-3d7e-4c61-9f5a-0d2b8e0c1a11");
    ck_assert_str_eq(td_ce_attr_string(ce, "partitionkey"), "alice");
    ck_assert_str_eq(td_ce_attr_string(ce, "traceparent"),
                     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    ck_assert(td_ce_attr_time_us(ce, "time", &us));
    ck_assert_int_eq(us, 1700000000123456LL);
    ck_assert(td_ce_revision(ce, &rev));
    ck_assert_int_eq(rev, 5000000000LL);
    ck_assert_ptr_null(td_ce_attr(ce, "nosuch"));
    ck_assert_ptr_null(td_ce_attr_string(ce, "time")); /* not a string attribute */

    ck_assert_int_eq(
        td_ce_data_unpack(ce, &todo__v1__tag_changed__descriptor, A, &m, err, sizeof(err)), TD_OK);
    tc = (Todo__V1__TagChanged *)m;
    ck_assert_str_eq(tc->user_id, "alice");
    ck_assert_int_eq(tc->revision, 42);
    ck_assert_str_eq(tc->tag->name, "Groceries");
}
END_TEST

/* The bytes follow the official io.cloudevents.v1 field numbers: read them back with a
 * hand-written wire walk instead of our own descriptor. */
START_TEST(wire_field_numbers)
{
    uint8_t *buf;
    size_t len, i = 0;
    int seen[16] = {0};

    encode_sample(&buf, &len, "todo.v1.TagChanged");
    while (i < len) {
        uint64_t key = 0, l = 0;
        int shift = 0;
        do {
            key |= (uint64_t)(buf[i] & 0x7f) << shift;
            shift += 7;
        } while (buf[i++] & 0x80);
        ck_assert_int_eq(key & 7, 2); /* every top-level field is length-delimited */
        shift = 0;
        do {
            l |= (uint64_t)(buf[i] & 0x7f) << shift;
            shift += 7;
        } while (buf[i++] & 0x80);
        ck_assert_uint_lt(key >> 3, 16);
        seen[key >> 3]++;
        if ((key >> 3) == 3)
            ck_assert(l == 3 && memcmp(buf + i, "1.0", 3) == 0); /* spec_version = 3 */
        if ((key >> 3) == 4)
            ck_assert(l == 18 && memcmp(buf + i, "todo.v1.TagChanged", 18) == 0);
        i += l;
    }
    ck_assert_int_eq(i, len);
    ck_assert_int_eq(seen[1], 1); /* id */
    ck_assert_int_eq(seen[2], 1); /* source */
    ck_assert_int_eq(seen[3], 1);
    ck_assert_int_eq(seen[4], 1);
    ck_assert_int_eq(seen[5], 7); /* time, datacontenttype, dataschema, subject, pk, tp, rev */
    ck_assert_int_eq(seen[8], 1); /* proto_data */
    ck_assert_int_eq(seen[6] + seen[7], 0);
}
END_TEST

START_TEST(decode_garbage)
{
    Io__Cloudevents__V1__CloudEvent *ce = (void *)1;
    char err[128];
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    const uint8_t truncated[] = {0x0a, 0x10, 'a', 'b'}; /* id claims 16 bytes, has 2 */

    ck_assert_int_eq(td_ce_decode(junk, sizeof(junk), A, &ce, err, sizeof(err)), TD_EINVAL);
    ck_assert_ptr_null(ce);
    ck_assert_int_eq(td_ce_decode(truncated, sizeof(truncated), A, &ce, err, sizeof(err)),
                     TD_EINVAL);
    /* Empty input parses as an empty message: rejected for the missing attributes. */
    ck_assert_int_eq(td_ce_decode((const uint8_t *)"", 0, A, &ce, err, sizeof(err)), TD_EINVAL);
    /* Any truncation of a valid event is either rejected or still a valid event. */
    {
        uint8_t *buf;
        size_t len;
        encode_sample(&buf, &len, NULL);
        for (size_t n = 0; n < len; n++) {
            td_status st = td_ce_decode(buf, n, A, &ce, err, sizeof(err));
            ck_assert(st == TD_OK || st == TD_EINVAL);
        }
    }
}
END_TEST

static uint8_t *pack(Io__Cloudevents__V1__CloudEvent *ce, size_t *len)
{
    uint8_t *b;
    *len = protobuf_c_message_get_packed_size(&ce->base);
    b = td_arena_alloc(A, *len + 1);
    protobuf_c_message_pack(&ce->base, b);
    return b;
}

START_TEST(decode_rejects_bad_events)
{
    Io__Cloudevents__V1__CloudEvent ce, *out;
    Io__Cloudevents__V1__CloudEvent__AttributesEntry e, *ep = &e;
    Io__Cloudevents__V1__CloudEvent__CloudEventAttributeValue v;
    char err[128];
    uint8_t *b;
    size_t len;

    io__cloudevents__v1__cloud_event__init(&ce);
    io__cloudevents__v1__cloud_event__attributes_entry__init(&e);
    io__cloudevents__v1__cloud_event__cloud_event_attribute_value__init(&v);

    ce.id = "x";
    ce.source = "//s";
    ce.type = "t";
    ce.spec_version = "0.3";
    b = pack(&ce, &len);
    ck_assert_int_eq(td_ce_decode(b, len, A, &out, err, sizeof(err)), TD_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "spec_version"));

    ce.spec_version = "1.0";
    ce.id = "";
    b = pack(&ce, &len);
    ck_assert_int_eq(td_ce_decode(b, len, A, &out, err, sizeof(err)), TD_EINVAL);

    ce.id = "x";
    b = pack(&ce, &len);
    ck_assert_int_eq(td_ce_decode(b, len, A, &out, err, sizeof(err)), TD_OK);
    /* ... but it carries no proto_data */
    {
        ProtobufCMessage *m;
        ck_assert_int_eq(
            td_ce_data_unpack(out, &todo__v1__tag_changed__descriptor, A, &m, err, sizeof(err)),
            TD_EINVAL);
    }

    ce.n_attributes = 1;
    ce.attributes = &ep;
    e.key = "Bad-Name";
    e.value = &v;
    v.attr_case = IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_STRING;
    v.ce_string = "x";
    b = pack(&ce, &len);
    ck_assert_int_eq(td_ce_decode(b, len, A, &out, err, sizeof(err)), TD_EINVAL);
    e.key = "id"; /* required attributes never go in the map */
    b = pack(&ce, &len);
    ck_assert_int_eq(td_ce_decode(b, len, A, &out, err, sizeof(err)), TD_EINVAL);
    e.key = "ext1";
    v.attr_case = IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR__NOT_SET;
    b = pack(&ce, &len);
    ck_assert_int_eq(td_ce_decode(b, len, A, &out, err, sizeof(err)), TD_EINVAL);
    v.attr_case = IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_INTEGER;
    v.ce_integer = 7;
    b = pack(&ce, &len);
    ck_assert_int_eq(td_ce_decode(b, len, A, &out, err, sizeof(err)), TD_OK);
    ck_assert_int_eq(td_ce_attr(out, "ext1")->ce_integer, 7);
}
END_TEST

START_TEST(wrong_type_url)
{
    uint8_t *buf;
    size_t len;
    Io__Cloudevents__V1__CloudEvent *ce;
    ProtobufCMessage *m = (void *)1;
    char err[128];

    encode_sample(&buf, &len, NULL);
    ck_assert_int_eq(td_ce_decode(buf, len, A, &ce, err, sizeof(err)), TD_OK);
    ck_assert_int_eq(
        td_ce_data_unpack(ce, &todo__v1__task_created__descriptor, A, &m, err, sizeof(err)),
        TD_EINVAL);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(err, "type_url"));
    /* A suffix match must be a whole name: "x.todo.v1.TagChanged" is not ours. */
    ce->proto_data->type_url = "type.googleapis.com/x.todo.v1.TagChanged";
    ck_assert_int_eq(
        td_ce_data_unpack(ce, &todo__v1__tag_changed__descriptor, A, &m, err, sizeof(err)),
        TD_EINVAL);
    ce->proto_data->type_url = "todo.v1.TagChanged"; /* no slash */
    ck_assert_int_eq(
        td_ce_data_unpack(ce, &todo__v1__tag_changed__descriptor, A, &m, err, sizeof(err)),
        TD_EINVAL);
    /* Right URL, bytes that are not the message. */
    ce->proto_data->type_url = "type.googleapis.com/todo.v1.TagChanged";
    ce->proto_data->value.data = (uint8_t *)"\xff\xff\xff";
    ce->proto_data->value.len = 3;
    ck_assert_int_eq(
        td_ce_data_unpack(ce, &todo__v1__tag_changed__descriptor, A, &m, err, sizeof(err)),
        TD_EINVAL);
}
END_TEST

START_TEST(encode_requires_fields)
{
    td_ce_event ev = {0};
    uint8_t *buf;
    size_t len;
    char err[128];
    Todo__V1__TagChanged tc = TODO__V1__TAG_CHANGED__INIT;

    ev.source = "//s";
    ev.data = &tc.base;
    ck_assert_int_eq(td_ce_encode(&ev, A, &buf, &len, err, sizeof(err)), TD_EINVAL);
    ev.id = "x";
    ev.data = NULL;
    ck_assert_int_eq(td_ce_encode(&ev, A, &buf, &len, err, sizeof(err)), TD_EINVAL);
    ev.data = &tc.base;
    ck_assert_int_eq(td_ce_encode(&ev, A, &buf, &len, err, sizeof(err)), TD_OK); /* time = now */
}
END_TEST

START_TEST(ids)
{
    char u[TD_CE_UUID_LEN + 1], v[TD_CE_UUID_LEN + 1], tp[TD_CE_TRACEPARENT_LEN + 1],
        tp2[TD_CE_TRACEPARENT_LEN + 1];

    ck_assert_int_eq(td_ce_uuid4(u), TD_OK);
    ck_assert_int_eq(td_ce_uuid4(v), TD_OK);
    ck_assert_int_eq(strlen(u), 36);
    ck_assert_str_ne(u, v);
    ck_assert_int_eq(u[14], '4');
    ck_assert(strchr("89ab", u[19]) != NULL);

    ck_assert(td_ce_traceparent_valid("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
    ck_assert(!td_ce_traceparent_valid("00-00000000000000000000000000000000-b7ad6b7169203331-01"));
    ck_assert(!td_ce_traceparent_valid("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"));
    ck_assert(!td_ce_traceparent_valid("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"));
    ck_assert(!td_ce_traceparent_valid("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
    ck_assert(!td_ce_traceparent_valid("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0"));
    ck_assert(!td_ce_traceparent_valid(NULL));

    /* A uuid cid becomes the trace id itself. */
    ck_assert_int_eq(td_ce_traceparent_from_cid("0af76519-16cd-43dd-8448-eb211c80319c", tp), TD_OK);
    ck_assert(td_ce_traceparent_valid(tp));
    ck_assert(strncmp(tp, "00-0af7651916cd43dd8448eb211c80319c-", 36) == 0);
    /* Any other cid: a stable hash, fresh span. */
    ck_assert_int_eq(td_ce_traceparent_from_cid("req-123", tp), TD_OK);
    ck_assert_int_eq(td_ce_traceparent_from_cid("req-123", tp2), TD_OK);
    ck_assert(td_ce_traceparent_valid(tp) && td_ce_traceparent_valid(tp2));
    ck_assert(strncmp(tp, tp2, 36) == 0);
    ck_assert(strcmp(tp + 36, tp2 + 36) != 0);
    ck_assert_int_eq(td_ce_traceparent_from_cid(NULL, tp), TD_OK);
    ck_assert(td_ce_traceparent_valid(tp));
    /* An all-zero uuid is not a valid trace id: hashed instead. */
    ck_assert_int_eq(td_ce_traceparent_from_cid("00000000-0000-0000-0000-000000000000", tp), TD_OK);
    ck_assert(td_ce_traceparent_valid(tp));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cloudevent");
    TCase *tc = tcase_create("codec");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, wire_field_numbers);
    tcase_add_test(tc, decode_garbage);
    tcase_add_test(tc, decode_rejects_bad_events);
    tcase_add_test(tc, wrong_type_url);
    tcase_add_test(tc, encode_requires_fields);
    tcase_add_test(tc, ids);
    suite_add_tcase(s, tc);
    return td_check_run(s);
}
