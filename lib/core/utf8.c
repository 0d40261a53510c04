/* utf8.c - strict UTF-8 decoding; see utf8.h. */
#include "core/utf8.h"

long td_utf8_next(const char *str, size_t len, size_t *i)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c = s[*i];
    size_t need;
    long cp;

    if (c < 0x80) {
        (*i)++;
        return c;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        cp = c & 0x1F;
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        cp = c & 0x0F;
        need = 2;
    } else if (c >= 0xF0 && c <= 0xF4) {
        cp = c & 0x07;
        need = 3;
    } else {
        return -1;
    }
    if (len - *i <= need)
        return -1;
    for (size_t k = 1; k <= need; k++) {
        if ((s[*i + k] & 0xC0) != 0x80)
            return -1;
        cp = (cp << 6) | (s[*i + k] & 0x3F);
    }
    if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *i += need + 1;
    return cp;
}

bool td_utf8_valid(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (td_utf8_next(s, len, &i) < 0)
            return false;
    }
    return true;
}

size_t td_utf8_count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    }
    return n;
}
