/* redis_url.c - TODO_REDIS_URL parser (see redis_url.h). Pure functions, any thread. */
#include "redis/redis_url.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into a new string; NULL on a bad escape, NUL or OOM. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t j = 0;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        out[j++] = c;
    }
    out[j] = '\0';
    return out;
}

/* Parses decimal digits s[0..n) into [lo, hi]; -1 if not. */
static int parse_uint(const char *s, size_t n, long lo, long hi, int *out)
{
    long v = 0;
    if (n == 0 || n > 9)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int td_redis_url_parse(const char *url, td_redis_url *out, char *err, size_t err_cap)
{
    static const char scheme[] = "redis://";
    const char *why = NULL;
    td_redis_url u = {.port = 6379};
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (url == NULL || strncmp(url, scheme, sizeof(scheme) - 1) != 0) {
        why = "expected redis://[[user]:password@]host[:port][/db]";
        goto out;
    }
    const char *p = url + sizeof(scheme) - 1;
    const char *end = p + strcspn(p, "/?#");
    if (*end == '?' || *end == '#') {
        why = "query and fragment are not supported";
        goto out;
    }
    /* userinfo: the last '@' before the path (passwords may contain '@' if encoded) */
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon == NULL) {
            why = "credentials must be written as [user]:password@";
            goto out;
        }
        if (colon > p && (u.user = pct_decode(p, (size_t)(colon - p))) == NULL) {
            why = "bad percent-encoding in the user name";
            goto out;
        }
        if ((u.password = pct_decode(colon + 1, (size_t)(at - colon - 1))) == NULL) {
            why = "bad percent-encoding in the password";
            goto out;
        }
        p = at + 1;
    }
    /* host[:port] */
    const char *hs = p, *he, *port = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (rb == NULL) {
            why = "unterminated [IPv6] host";
            goto out;
        }
        hs = p + 1;
        he = rb;
        if (rb + 1 < end) {
            if (rb[1] != ':') {
                why = "expected :port after ]";
                goto out;
            }
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        he = colon != NULL ? colon : end;
        if (colon != NULL)
            port = colon + 1;
    }
    if (he == hs) {
        why = "missing host";
        goto out;
    }
    for (const char *q = hs; q < he; q++) {
        if ((unsigned char)*q <= 0x20 || *q == '@' || *q == '[' || *q == ']' ||
            (*p != '[' && *q == ':')) {
            why = "bad character in host";
            goto out;
        }
    }
    if (port != NULL && parse_uint(port, (size_t)(end - port), 1, 65535, &u.port) != 0) {
        why = "port must be 1..65535";
        goto out;
    }
    if (*end == '/' && end[1] != '\0' &&
        parse_uint(end + 1, strlen(end + 1), 0, 1000000, &u.db) != 0) {
        why = "database must be a number";
        goto out;
    }
    u.host = strndup(hs, (size_t)(he - hs));
    if (u.host == NULL) {
        why = "out of memory";
        goto out;
    }
    *out = u;
    memset(&u, 0, sizeof(u));
    rc = 0;
out:
    if (rc != 0 && err_cap > 0)
        snprintf(err, err_cap, "%s", why);
    td_redis_url_fini(&u);
    return rc;
}

void td_redis_url_fini(td_redis_url *u)
{
    if (u == NULL)
        return;
    free(u->host);
    free(u->user);
    if (u->password != NULL) {
        explicit_bzero(u->password, strlen(u->password));
        free(u->password);
    }
    memset(u, 0, sizeof(*u));
}
