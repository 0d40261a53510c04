/* cloudevent.h - the CloudEvents v1.0 protobuf format codec (structured mode), shared by
 * the server (change records), the relay and every consumer.
 *
 * Wire shape (proto/io/cloudevents/v1/cloudevents.proto, field numbers of the official
 * schema: id=1 source=2 spec_version=3 type=4 attributes=5 binary_data=6 text_data=7
 * proto_data=8):
 *   id, source, spec_version "1.0", type              required context attributes
 *   attributes["time"]            ce_timestamp
 *   attributes["subject"]         ce_string   (aggregate id), optional
 *   attributes["datacontenttype"] ce_string   "application/protobuf"
 *   attributes["dataschema"]      ce_uri      "type.googleapis.com/<message full name>"
 *   attributes["partitionkey"]    ce_string   (Kafka key: the user id), optional
 *   attributes["traceparent"]     ce_string   (W3C trace context), optional
 *   attributes["revision"]        ce_string   decimal int64 (ce_integer is only int32)
 *   proto_data = google.protobuf.Any{type_url = dataschema, value = packed message}
 * Kafka binding: record value = these bytes, header content-type = TD_CE_CONTENT_TYPE.
 *
 * Memory: everything (packed bytes, decoded event, unpacked data) lives in the caller's
 * arena; nothing needs freeing on its own. Decoding never trusts the input: protobuf-c
 * bounds-checks the bytes; td_ce_decode then checks the spec version, the required
 * attributes and the attribute names; td_ce_data_unpack checks the type URL against the
 * descriptor before unpacking. Pure functions (plus the clock and the CSPRNG), any
 * thread. */
#ifndef TD_EVENTS_CLOUDEVENT_H
#define TD_EVENTS_CLOUDEVENT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "core/arena.h"
#include "core/status.h"
#include "io/cloudevents/v1/cloudevents.pb-c.h"

#define TD_CE_CONTENT_TYPE      "application/cloudevents+protobuf"
#define TD_CE_SPEC_VERSION      "1.0"
#define TD_CE_DATA_CONTENT_TYPE "application/protobuf"
#define TD_CE_TYPE_URL_PREFIX   "type.googleapis.com/"

enum {
    TD_CE_UUID_LEN = 36,        /* 8-4-4-4-12 text, without the NUL */
    TD_CE_TRACEPARENT_LEN = 55, /* "00-<32 hex>-<16 hex>-01", without the NUL */
};

/* What to encode. Strings are borrowed for the duration of td_ce_encode(). */
typedef struct td_ce_event {
    const char *id;      /* required; the consumers' idempotency key */
    const char *source;  /* required, URI-reference ("//todo/server") */
    const char *type;    /* NULL = data's full name ("todo.v1.TaskCreated") */
    int64_t time_us;     /* event time, epoch microseconds; 0 = now */
    const char *subject; /* NULL = omitted */
    const char *partitionkey;
    const char *traceparent;
    bool has_revision;
    int64_t revision;
    const ProtobufCMessage *data; /* required: packed into proto_data */
} td_ce_event;

/* Packs ev as a serialized io.cloudevents.v1.CloudEvent into arena memory.
 * TD_OK with *out and *out_len, TD_EINVAL (missing id/source/data, err says which),
 * TD_ENOMEM. */
td_status td_ce_encode(const td_ce_event *ev, td_arena *a, uint8_t **out, size_t *out_len,
                       char *err, size_t err_cap);

/* Unpacks and validates bytes (untrusted). TD_OK with *out in the arena; TD_EINVAL with
 * a reason (not protobuf, spec_version not 1.x, empty id/source/type, bad attribute
 * name or valueless attribute); TD_ENOMEM. */
td_status td_ce_decode(const uint8_t *buf, size_t len, td_arena *a,
                       Io__Cloudevents__V1__CloudEvent **out, char *err, size_t err_cap);

/* The value of attribute `name` (lowercase), or NULL. Borrowed from ev. */
const Io__Cloudevents__V1__CloudEvent__CloudEventAttributeValue *
td_ce_attr(const Io__Cloudevents__V1__CloudEvent *ev, const char *name);
/* Attribute as text when it is ce_string, ce_uri or ce_uri_ref; else NULL. */
const char *td_ce_attr_string(const Io__Cloudevents__V1__CloudEvent *ev, const char *name);
/* Attribute as epoch microseconds when it is ce_timestamp; false otherwise. */
bool td_ce_attr_time_us(const Io__Cloudevents__V1__CloudEvent *ev, const char *name, int64_t *us);
/* "revision" attribute (decimal ce_string, or ce_integer); false when absent/bad. */
bool td_ce_revision(const Io__Cloudevents__V1__CloudEvent *ev, int64_t *revision);

/* Unpacks proto_data as message type d, in the arena. TD_EINVAL when the event carries
 * no proto_data, its type URL does not name d ("<anything>/<d full name>"), or the
 * bytes do not parse as d. */
td_status td_ce_data_unpack(const Io__Cloudevents__V1__CloudEvent *ev,
                            const ProtobufCMessageDescriptor *d, td_arena *a,
                            ProtobufCMessage **out, char *err, size_t err_cap);

/* ---- identifiers ---- */

/* A random (version 4) uuid in lowercase text. TD_OK or TD_EINTERNAL (no entropy). */
td_status td_ce_uuid4(char out[TD_CE_UUID_LEN + 1]);
/* True when s is "00-<32 lowercase hex, not all 0>-<16 lowercase hex, not all 0>-<2 hex>". */
bool td_ce_traceparent_valid(const char *s);
/* A traceparent whose trace id is derived from a correlation id: the cid itself when it
 * is 32 hex digits or a uuid (not all zero), else the first 16 bytes of SHA-256(cid);
 * random when cid is NULL/empty. The span id is random. So every event written by one
 * gRPC call shares one trace id, and logs can be joined on it. TD_OK/TD_EINTERNAL. */
td_status td_ce_traceparent_from_cid(const char *cid, char out[TD_CE_TRACEPARENT_LEN + 1]);

#endif
