/* redis_url.h - parses TODO_REDIS_URL: redis://[[user]:password@]host[:port][/db]
 *
 * host is a name, an IPv4 literal or a bracketed IPv6 literal; port defaults to 6379,
 * db to 0. user and password are percent-decoded. Error messages never contain the
 * password (nor the URL, which may hold it). Pure, thread-safe.
 * Ownership: the strings in td_redis_url are malloc'd, released by td_redis_url_fini(). */
#ifndef TD_REDIS_URL_H
#define TD_REDIS_URL_H

#include <stddef.h>

typedef struct td_redis_url {
    char *host;     /* without brackets */
    int port;       /* 1..65535 */
    int db;         /* 0.. */
    char *user;     /* NULL = none (AUTH password only) */
    char *password; /* NULL = no AUTH */
} td_redis_url;

/* Returns 0, or -1 with one line in err (out then holds nothing to free). */
int td_redis_url_parse(const char *url, td_redis_url *out, char *err, size_t err_cap);
void td_redis_url_fini(td_redis_url *u); /* zeroes *u; NULL is a no-op */

#endif
