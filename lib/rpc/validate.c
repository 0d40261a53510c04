/* validate.c - descriptor-driven walk over an unpacked protobuf-c message; see validate.h.
 * Recursion depth is bounded by the message nesting protobuf-c accepted while unpacking. */
#include "rpc/validate.h"

#include <stdio.h>
#include <string.h>

bool td_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= len)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

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

static td_status check_value(const ProtobufCFieldDescriptor *f, const void *p, const char *path,
                             char *field, size_t fcap, char *why, size_t wcap)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        if (s != NULL && !td_utf8_valid(s, strlen(s))) {
            snprintf(field, fcap, "%s", path);
            snprintf(why, wcap, "invalid UTF-8");
            return TD_EINVAL;
        }
        return TD_OK;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        if (!enum_known(f->descriptor, v)) {
            snprintf(field, fcap, "%s", path);
            snprintf(why, wcap, "unknown enum value %d for %s", v,
                     ((const ProtobufCEnumDescriptor *)f->descriptor)->name);
            return TD_EINVAL;
        }
        return TD_OK;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
        return m ? walk(m, path, field, fcap, why, wcap) : TD_OK;
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
        char path[256];
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
            if (which != f->id)
                continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(const char *const *)(base + f->offset);
            for (size_t k = 0; k < n; k++) {
                path_of(path, sizeof(path), prefix, f->name, (long)k);
                td_status st = check_value(f, arr + k * esz, path, field, fcap, why, wcap);
                if (st != TD_OK)
                    return st;
            }
        } else {
            path_of(path, sizeof(path), prefix, f->name, -1);
            td_status st = check_value(f, base + f->offset, path, field, fcap, why, wcap);
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
