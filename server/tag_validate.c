/* tag_validate.c - pure TagService input checks (rules in tag_validate.h). No I/O, no
 * global state; any thread. */
#include "tag_validate.h"

#include <string.h>

#include "core/utf8.h"

/* Unicode White_Space. */
static bool is_space(long cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

static bool is_control(long cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029;
}

td_status td_tag_name_normalize(const char *in, td_arena *a, char **out, const char **why)
{
    td_status st = TD_EINVAL;
    const unsigned char *s = (const unsigned char *)(in != NULL ? in : "");
    size_t len = strlen((const char *)s), i = 0, first = len, last = 0, count = 0;
    long cp;

    *out = NULL;
    /* Pass 1: find the trimmed span [first, last). */
    while (i < len) {
        size_t at = i;
        cp = td_utf8_next((const char *)s, len, &i);
        if (cp < 0) {
            *why = "is not valid UTF-8";
            goto out;
        }
        if (is_space(cp))
            continue;
        if (first == len)
            first = at;
        last = i;
    }
    if (first == len) {
        *why = "must not be empty";
        goto out;
    }
    /* Pass 2: inside the span every control character (even \t) is refused. */
    for (i = first; i < last; count++) {
        cp = td_utf8_next((const char *)s, last, &i);
        if (is_control(cp)) {
            *why = "must not contain control characters";
            goto out;
        }
    }
    if (count > TD_TAG_NAME_MAX) {
        *why = "is too long (at most 50 characters)";
        goto out;
    }
    if (first == 0 && last == len) {
        *out = (char *)in;
    } else {
        *out = td_arena_strndup(a, (const char *)s + first, last - first);
        if (*out == NULL) {
            *why = "out of memory";
            st = TD_ENOMEM;
            goto out;
        }
    }
    st = TD_OK;
out:
    return st;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool td_tag_color_valid(const char *color)
{
    if (color == NULL || *color == '\0')
        return true;
    if (strlen(color) != 7 || color[0] != '#')
        return false;
    for (int i = 1; i < 7; i++)
        if (!is_hex(color[i]))
            return false;
    return true;
}

td_status td_tag_mask_parse(char *const *paths, size_t n, unsigned *fields, const char **bad)
{
    unsigned f = 0;

    *bad = NULL;
    if (n == 0) {
        *bad = "";
        return TD_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(paths[i], "name") == 0) {
            f |= TD_TAG_F_NAME;
        } else if (strcmp(paths[i], "color") == 0) {
            f |= TD_TAG_F_COLOR;
        } else if (strcmp(paths[i], "*") == 0) {
            f |= TD_TAG_F_ALL;
        } else {
            *bad = paths[i];
            return TD_EINVAL;
        }
    }
    *fields = f;
    return TD_OK;
}

td_status td_tag_page_size(int32_t requested, int *out)
{
    if (requested < 0)
        return TD_EINVAL;
    *out = requested == 0 ? TD_TAG_PAGE_DEFAULT
                          : (requested > TD_TAG_PAGE_MAX ? TD_TAG_PAGE_MAX : (int)requested);
    return TD_OK;
}

bool td_tag_id_valid(const char *id)
{
    if (id == NULL || strlen(id) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (id[i] != '-')
                return false;
        } else if (!is_hex(id[i])) {
            return false;
        }
    }
    return true;
}
