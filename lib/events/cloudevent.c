/* cloudevent.c - CloudEvents v1.0 protobuf codec (see cloudevent.h for the wire shape).
 *
 * Owns nothing beyond the caller's arena. Encoding builds the generated structs on the
 * stack / in the arena and packs once; decoding unpacks with the arena allocator (so a
 * failed or successful decode leaves nothing to free) and validates before any field
 * is handed out. Any thread. */
#include "events/cloudevent.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/sha.h>

#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"

typedef Io__Cloudevents__V1__CloudEvent ce_t;
typedef Io__Cloudevents__V1__CloudEvent__AttributesEntry ce_entry_t;
typedef Io__Cloudevents__V1__CloudEvent__CloudEventAttributeValue ce_value_t;

#define MAX_ATTRS 8

static void set_err(char *err, size_t cap, const char *msg)
{
    if (err != NULL && cap > 0)
        snprintf(err, cap, "%s", msg);
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------------------------------
 * Encoding */

typedef struct attrs {
    ce_entry_t entries[MAX_ATTRS];
    ce_value_t values[MAX_ATTRS];
    ce_entry_t *ptrs[MAX_ATTRS];
    size_t n;
} attrs;

static ce_value_t *attr_add(attrs *at, const char *name)
{
    size_t i = at->n++;

    /* the _init() functions: the INIT macros of oneof messages trip -Wmissing-braces */
    io__cloudevents__v1__cloud_event__attributes_entry__init(&at->entries[i]);
    io__cloudevents__v1__cloud_event__cloud_event_attribute_value__init(&at->values[i]);
    at->entries[i].key = (char *)name;
    at->entries[i].value = &at->values[i];
    at->ptrs[i] = &at->entries[i];
    return &at->values[i];
}

static void attr_string(attrs *at, const char *name, const char *v)
{
    ce_value_t *val;
    if (v == NULL || *v == '\0')
        return;
    val = attr_add(at, name);
    val->attr_case = IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_STRING;
    val->ce_string = (char *)v;
}

td_status td_ce_encode(const td_ce_event *ev, td_arena *a, uint8_t **out, size_t *out_len,
                       char *err, size_t err_cap)
{
    td_status st = TD_OK;
    ce_t ce;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    attrs at;
    ce_value_t *v;
    char *type_url = NULL, *rev = NULL;
    uint8_t *data = NULL, *buf = NULL;
    size_t data_len, len;
    int64_t t;

    *out = NULL;
    *out_len = 0;
    io__cloudevents__v1__cloud_event__init(&ce);
    memset(&at, 0, sizeof(at));
    if (ev->id == NULL || *ev->id == '\0' || ev->source == NULL || *ev->source == '\0' ||
        ev->data == NULL) {
        set_err(err, err_cap, "cloudevent: id, source and data are required");
        st = TD_EINVAL;
        goto out;
    }
    type_url = td_arena_printf(a, TD_CE_TYPE_URL_PREFIX "%s", ev->data->descriptor->name);
    if (type_url == NULL)
        goto nomem;
    data_len = protobuf_c_message_get_packed_size(ev->data);
    data = td_arena_alloc(a, data_len ? data_len : 1);
    if (data == NULL)
        goto nomem;
    protobuf_c_message_pack(ev->data, data);
    any.type_url = type_url;
    any.value.data = data;
    any.value.len = data_len;

    ce.id = (char *)ev->id;
    ce.source = (char *)ev->source;
    ce.spec_version = (char *)TD_CE_SPEC_VERSION;
    ce.type = (char *)(ev->type != NULL ? ev->type : ev->data->descriptor->name);
    ce.data_case = IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_PROTO_DATA;
    ce.proto_data = &any;

    t = ev->time_us != 0 ? ev->time_us : now_us();
    ts.seconds = t / 1000000;
    ts.nanos = (int32_t)(t % 1000000) * 1000;
    if (ts.nanos < 0) { /* Timestamp nanos are always 0..999999999 */
        ts.seconds -= 1;
        ts.nanos += 1000000000;
    }
    v = attr_add(&at, "time");
    v->attr_case = IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_TIMESTAMP;
    v->ce_timestamp = &ts;
    attr_string(&at, "datacontenttype", TD_CE_DATA_CONTENT_TYPE);
    v = attr_add(&at, "dataschema");
    v->attr_case = IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_URI;
    v->ce_uri = type_url;
    attr_string(&at, "subject", ev->subject);
    attr_string(&at, "partitionkey", ev->partitionkey);
    attr_string(&at, "traceparent", ev->traceparent);
    if (ev->has_revision) {
        rev = td_arena_printf(a, "%" PRId64, ev->revision);
        if (rev == NULL)
            goto nomem;
        attr_string(&at, "revision", rev);
    }
    ce.n_attributes = at.n;
    ce.attributes = at.ptrs;

    len = protobuf_c_message_get_packed_size(&ce.base);
    buf = td_arena_alloc(a, len);
    if (buf == NULL)
        goto nomem;
    protobuf_c_message_pack(&ce.base, buf);
    *out = buf;
    *out_len = len;
    goto out;
nomem:
    set_err(err, err_cap, "cloudevent: out of memory");
    st = TD_ENOMEM;
out:
    return st;
}

/* ------------------------------------------------------------------------------------
 * Decoding */

/* CloudEvents 1.0: attribute names are lower-case ASCII letters and digits. */
static bool attr_name_ok(const char *s)
{
    static const char *const required[] = {"id", "source", "specversion", "type"};
    if (s == NULL || *s == '\0')
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return false;
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (strcmp(s, required[i]) == 0)
            return false; /* carried in their own fields, never in the map */
    return true;
}

td_status td_ce_decode(const uint8_t *buf, size_t len, td_arena *a, ce_t **out, char *err,
                       size_t err_cap)
{
    td_status st = TD_EINVAL;
    ProtobufCAllocator alloc = td_arena_protobuf_allocator(a);
    ce_t *ce = NULL;

    *out = NULL;
    ce = (ce_t *)protobuf_c_message_unpack(&io__cloudevents__v1__cloud_event__descriptor, &alloc,
                                           len, buf);
    if (ce == NULL) {
        set_err(err, err_cap, "cloudevent: not a protobuf CloudEvent");
        goto out;
    }
    if (strcmp(ce->spec_version, TD_CE_SPEC_VERSION) != 0) {
        set_err(err, err_cap, "cloudevent: unsupported spec_version");
        goto out;
    }
    if (*ce->id == '\0' || *ce->source == '\0' || *ce->type == '\0') {
        set_err(err, err_cap, "cloudevent: id, source and type are required");
        goto out;
    }
    for (size_t i = 0; i < ce->n_attributes; i++) {
        const ce_entry_t *e = ce->attributes[i];
        if (!attr_name_ok(e->key)) {
            set_err(err, err_cap, "cloudevent: invalid attribute name");
            goto out;
        }
        if (e->value == NULL ||
            e->value->attr_case ==
                IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR__NOT_SET) {
            set_err(err, err_cap, "cloudevent: attribute without a value");
            goto out;
        }
        if (e->value->attr_case ==
                IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_TIMESTAMP &&
            e->value->ce_timestamp == NULL) {
            set_err(err, err_cap, "cloudevent: attribute without a value");
            goto out;
        }
    }
    *out = ce;
    st = TD_OK;
out:
    return st;
}

const ce_value_t *td_ce_attr(const ce_t *ev, const char *name)
{
    const ce_value_t *v = NULL;
    /* protobuf map semantics: the last entry with a key wins */
    for (size_t i = 0; i < ev->n_attributes; i++)
        if (strcmp(ev->attributes[i]->key, name) == 0)
            v = ev->attributes[i]->value;
    return v;
}

const char *td_ce_attr_string(const ce_t *ev, const char *name)
{
    const ce_value_t *v = td_ce_attr(ev, name);
    if (v == NULL)
        return NULL;
    switch (v->attr_case) {
    case IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_STRING:
        return v->ce_string;
    case IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_URI:
        return v->ce_uri;
    case IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_URI_REF:
        return v->ce_uri_ref;
    default:
        return NULL;
    }
}

bool td_ce_attr_time_us(const ce_t *ev, const char *name, int64_t *us)
{
    const ce_value_t *v = td_ce_attr(ev, name);
    if (v == NULL ||
        v->attr_case !=
            IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_TIMESTAMP ||
        v->ce_timestamp == NULL)
        return false;
    /* Timestamp's documented range is years 1..9999: no int64 overflow in microseconds. */
    if (v->ce_timestamp->seconds < -62135596800LL || v->ce_timestamp->seconds > 253402300799LL ||
        v->ce_timestamp->nanos < 0 || v->ce_timestamp->nanos > 999999999)
        return false;
    *us = v->ce_timestamp->seconds * 1000000 + v->ce_timestamp->nanos / 1000;
    return true;
}

bool td_ce_revision(const ce_t *ev, int64_t *revision)
{
    const ce_value_t *v = td_ce_attr(ev, "revision");
    const char *s;
    int64_t r = 0;

    if (v == NULL)
        return false;
    if (v->attr_case ==
        IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_INTEGER) {
        *revision = v->ce_integer;
        return true;
    }
    if (v->attr_case !=
        IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_STRING)
        return false;
    s = v->ce_string;
    if (*s == '\0' || strlen(s) > 18) /* 18 digits always fit an int64 */
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        r = r * 10 + (*s - '0');
    }
    *revision = r;
    return true;
}

td_status td_ce_data_unpack(const ce_t *ev, const ProtobufCMessageDescriptor *d, td_arena *a,
                            ProtobufCMessage **out, char *err, size_t err_cap)
{
    td_status st = TD_EINVAL;
    ProtobufCAllocator alloc = td_arena_protobuf_allocator(a);
    const char *url, *slash;
    ProtobufCMessage *m;

    *out = NULL;
    if (ev->data_case != IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_PROTO_DATA ||
        ev->proto_data == NULL) {
        set_err(err, err_cap, "cloudevent: no proto_data");
        goto out;
    }
    url = ev->proto_data->type_url;
    slash = strrchr(url, '/');
    if (slash == NULL || strcmp(slash + 1, d->name) != 0) {
        set_err(err, err_cap, "cloudevent: proto_data type_url does not match");
        goto out;
    }
    m = protobuf_c_message_unpack(d, &alloc, ev->proto_data->value.len, ev->proto_data->value.data);
    if (m == NULL) {
        set_err(err, err_cap, "cloudevent: proto_data does not parse");
        goto out;
    }
    *out = m;
    st = TD_OK;
out:
    return st;
}

/* ------------------------------------------------------------------------------------
 * Identifiers */

static const char hexd[] = "0123456789abcdef";

static void hex_put(char *dst, const unsigned char *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = hexd[src[i] >> 4];
        dst[2 * i + 1] = hexd[src[i] & 15];
    }
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool all_zero(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

/* Event and span ids need uniqueness from a good source, not a DRBG per call: the
 * kernel's getrandom() costs one short system call, OpenSSL's RAND_bytes ~20k instructions
 * with its locks (measured with callgrind on CreateTask). */
static bool random_fill(unsigned char *b, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(b + got, n - got, 0);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

td_status td_ce_uuid4(char out[TD_CE_UUID_LEN + 1])
{
    unsigned char b[16];
    size_t o = 0;

    if (!random_fill(b, sizeof(b)))
        return TD_EINTERNAL;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        hex_put(out + o, b + i, 1);
        o += 2;
    }
    out[o] = '\0';
    return TD_OK;
}

/* Parses exactly n bytes of hex (either case) from s into b; false otherwise. */
static bool hex_get(const char *s, unsigned char *b, size_t n, bool lower_only)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hex_val(s[2 * i]), lo = hex_val(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        if (lower_only &&
            ((s[2 * i] >= 'A' && s[2 * i] <= 'F') || (s[2 * i + 1] >= 'A' && s[2 * i + 1] <= 'F')))
            return false;
        b[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

bool td_ce_traceparent_valid(const char *s)
{
    unsigned char b[16];

    if (s == NULL || strlen(s) != TD_CE_TRACEPARENT_LEN)
        return false;
    if (s[0] != '0' || s[1] != '0' || s[2] != '-' || s[35] != '-' || s[52] != '-')
        return false;
    if (!hex_get(s + 3, b, 16, true) || all_zero(b, 16))
        return false;
    if (!hex_get(s + 36, b, 8, true) || all_zero(b, 8))
        return false;
    return hex_get(s + 53, b, 1, true);
}

/* A cid that already is a 128-bit id: 32 hex digits, or a uuid with its dashes. */
static bool cid_as_trace_id(const char *cid, unsigned char id[16])
{
    char hex[33];
    size_t n = 0, len = strlen(cid);

    if (len != 32 && len != 36)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (len == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (cid[i] != '-')
                return false;
            continue;
        }
        if (n >= 32)
            return false;
        hex[n++] = cid[i];
    }
    if (n != 32)
        return false;
    hex[32] = '\0';
    return hex_get(hex, id, 16, false) && !all_zero(id, 16);
}

td_status td_ce_traceparent_from_cid(const char *cid, char out[TD_CE_TRACEPARENT_LEN + 1])
{
    unsigned char trace[16], span[8], digest[SHA256_DIGEST_LENGTH];

    if (cid != NULL && *cid != '\0') {
        if (!cid_as_trace_id(cid, trace)) {
            SHA256((const unsigned char *)cid, strlen(cid), digest);
            memcpy(trace, digest, sizeof(trace));
            if (all_zero(trace, sizeof(trace)))
                trace[15] = 1;
        }
    } else {
        do {
            if (!random_fill(trace, sizeof(trace)))
                return TD_EINTERNAL;
        } while (all_zero(trace, sizeof(trace)));
    }
    do {
        if (!random_fill(span, sizeof(span)))
            return TD_EINTERNAL;
    } while (all_zero(span, sizeof(span)));
    memcpy(out, "00-", 3);
    hex_put(out + 3, trace, 16);
    out[35] = '-';
    hex_put(out + 36, span, 8);
    memcpy(out + 52, "-01", 4); /* with the NUL */
    return TD_OK;
}
