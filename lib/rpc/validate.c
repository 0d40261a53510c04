/* validate.c - descriptor-driven checks of requests; see validate.h.
 * Two walks: over the wire bytes (strings: NUL, UTF-8) and over the unpacked message
 * (enum values). Recursion depth is bounded (MAX_DEPTH on the wire; the unpacked walk
 * follows the nesting protobuf-c accepted). */
#include "rpc/validate.h"

#include <stdio.h>
#include <string.h>

static bool enum_known(const ProtobufCEnumDescriptor *d, int v)
{
    return protobuf_c_enum_descriptor_get_value(d, v) != NULL;
}

static td_status walk(const ProtobufCMessage *msg, const char *prefix, char *field, size_t fcap,
                      char *why, size_t wcap);

static void path_of(char *out, size_t cap, const char *prefix, const char *name, long idx)
{
    if (idx < 0)
        snprintf(out, cap, "%s%s%s", prefix, *prefix ? "." : "", name);
    else
        snprintf(out, cap, "%s%s%s[%ld]", prefix, *prefix ? "." : "", name, idx);
}

/* The field's path ("task.tags[2]") is formatted only when it is needed: on an error or to
 * descend into a message. Formatting every field's path cost ~10% of a CreateTask. */
static td_status check_value(const ProtobufCFieldDescriptor *f, const void *p, const char *prefix,
                             long idx, char *field, size_t fcap, char *why, size_t wcap)
{
    char path[256];
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        if (s != NULL && !td_utf8_valid(s, strlen(s))) {
            path_of(field, fcap, prefix, f->name, idx);
            snprintf(why, wcap, "invalid UTF-8");
            return TD_EINVAL;
        }
        return TD_OK;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        if (!enum_known(f->descriptor, v)) {
            path_of(field, fcap, prefix, f->name, idx);
            snprintf(why, wcap, "unknown enum value %d for %s", v,
                     ((const ProtobufCEnumDescriptor *)f->descriptor)->name);
            return TD_EINVAL;
        }
        return TD_OK;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
        if (m == NULL)
            return TD_OK;
        path_of(path, sizeof(path), prefix, f->name, idx);
        return walk(m, path, field, fcap, why, wcap);
    }
    default:
        return TD_OK;
    }
}

static size_t elem_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    default:
        return 0;
    }
}

static td_status walk(const ProtobufCMessage *msg, const char *prefix, char *field, size_t fcap,
                      char *why, size_t wcap)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        size_t esz = elem_size(f);
        if (esz == 0)
            continue;
        const char *base = (const char *)msg;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
            if (which != f->id)
                continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(const char *const *)(base + f->offset);
            for (size_t k = 0; k < n; k++) {
                td_status st =
                    check_value(f, arr + k * esz, prefix, (long)k, field, fcap, why, wcap);
                if (st != TD_OK)
                    return st;
            }
        } else {
            td_status st = check_value(f, base + f->offset, prefix, -1, field, fcap, why, wcap);
            if (st != TD_OK)
                return st;
        }
    }
    return TD_OK;
}

td_status td_rpc_validate_message(const ProtobufCMessage *msg, char *field, size_t field_cap,
                                  char *why, size_t why_cap)
{
    return walk(msg, "", field, field_cap, why, why_cap);
}

#define MAX_DEPTH  64
#define MAX_FIELDS 128

static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *v = r;
            return true;
        }
    }
    return false;
}

static td_status wire_walk(const ProtobufCMessageDescriptor *d, const uint8_t *p,
                           const uint8_t *end, const char *prefix, int depth, char *field,
                           size_t fcap, char *why, size_t wcap)
{
    if (depth > MAX_DEPTH)
        return TD_OK; /* the unpacker rejects absurd nesting itself */
    /* Occurrences seen so far per field, so repeated fields are named "tags[2]". */
    unsigned seen[MAX_FIELDS] = {0};
    while (p < end) {
        uint64_t key, n;
        if (!read_varint(&p, end, &key))
            return TD_OK;
        unsigned wt = (unsigned)(key & 7);
        uint32_t num = (uint32_t)(key >> 3);
        switch (wt) {
        case 0:
            if (!read_varint(&p, end, &n))
                return TD_OK;
            continue;
        case 1:
            p += 8;
            continue;
        case 5:
            p += 4;
            continue;
        case 2:
            break;
        default:
            return TD_OK;
        }
        if (!read_varint(&p, end, &n) || n > (uint64_t)(end - p))
            return TD_OK;
        const uint8_t *v = p;
        p += n;
        const ProtobufCFieldDescriptor *f =
            d ? protobuf_c_message_descriptor_get_field(d, (unsigned)num) : NULL;
        if (f == NULL)
            continue;
        long idx = -1;
        size_t fi = (size_t)(f - d->fields);
        if (f->label == PROTOBUF_C_LABEL_REPEATED && fi < MAX_FIELDS)
            idx = (long)seen[fi]++;
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            bool nul = memchr(v, 0, n) != NULL;
            if (nul || !td_utf8_valid((const char *)v, n)) {
                path_of(field, fcap, prefix, f->name, idx);
                snprintf(why, wcap, "%s", nul ? "NUL byte not allowed" : "invalid UTF-8");
                return TD_EINVAL;
            }
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            char path[256];
            path_of(path, sizeof(path), prefix, f->name, idx);
            td_status st =
                wire_walk(f->descriptor, v, v + n, path, depth + 1, field, fcap, why, wcap);
            if (st != TD_OK)
                return st;
        }
    }
    return TD_OK;
}

td_status td_rpc_validate_wire(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                               char *field, size_t field_cap, char *why, size_t why_cap)
{
    return wire_walk(d, data, data + len, "", 0, field, field_cap, why, why_cap);
}
