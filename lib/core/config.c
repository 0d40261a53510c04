/* config.c - TODO_* environment variables -> td_config (see config.h).
 *
 * Owns: the variable table (name, default, meaning, kind, range, field offset), which
 * drives loading, validation and --help alike, so the three can never disagree.
 * Invariants: on success every char* field is a heap copy owned by the td_config (or
 * NULL where the header allows it); on failure the caller's td_config is zeroed and
 * nothing is left to free. Error lines never contain TODO_JWT_SECRET and mask URL
 * passwords. Threads: start-up only (single thread); the table itself is read-only. */
#include "core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

enum { JWT_SECRET_MIN = 32, ECHO_MAX = 80 };

typedef enum kind {
    K_ADDR,      /* host:port */
    K_ADDR_OFF,  /* host:port or "off" -> NULL */
    K_PG_URL,    /* postgresql:// or postgres:// */
    K_REDIS_URL, /* redis:// */
    K_BROKERS,   /* host:port[,host:port...] */
    K_SECRET,    /* >= 32 bytes, never echoed */
    K_FILE,      /* readable regular file */
    K_STRING,    /* any non-empty text */
    K_INT,       /* int in [min, max] */
    K_LONG,      /* long in [min, max] */
    K_BOOL,      /* true/false/1/0/yes/no/on/off */
    K_LOG_LEVEL, /* debug|info|warn|error */
} kind;

typedef struct var {
    const char *name;
    const char *def; /* NULL = unset by default */
    const char *help;
    kind kind;
    long min, max; /* K_INT, K_LONG */
    size_t off;    /* field offset in td_config */
} var;

#define F(field) offsetof(td_config, field)

static const var vars[] = {
    {"TODO_GRPC_ADDR", "127.0.0.1:50051", "gRPC listen address (host:port, [::1]:port)", K_ADDR, 0,
     0, F(grpc_addr)},
    {"TODO_HTTP_ADDR", "127.0.0.1:8080", "gateway HTTP/WebSocket listen address", K_ADDR, 0, 0,
     F(http_addr)},
    {"TODO_METRICS_ADDR", "127.0.0.1:9464", "Prometheus /metrics address, or off", K_ADDR_OFF, 0, 0,
     F(metrics_addr)},
    {"TODO_DATABASE_URL", "postgresql://todo@127.0.0.1:5433/todo", "PostgreSQL connection URL",
     K_PG_URL, 0, 0, F(database_url)},
    {"TODO_DB_POOL_SIZE", "0", "PostgreSQL connections (0 = one per gRPC thread, max 256)", K_INT,
     0, 256, F(db_pool_size)},
    {"TODO_DB_LIST_CONNECTIONS", "0",
     "PostgreSQL connections for ListTasks and ListTags (0 = 2 x usable cores, at least 4; max "
     "256)",
     K_INT, 0, 256, F(db_list_conns)},
    {"TODO_DB_READ_CONNECTIONS", "4",
     "pipelined PostgreSQL sessions for GetTask (0 = off: reads use the pool; max 64)", K_INT, 0,
     64, F(db_read_conns)},
    {"TODO_REDIS_URL", "redis://127.0.0.1:6380/0", "Redis URL (dedupe keys, rate limits)",
     K_REDIS_URL, 0, 0, F(redis_url)},
    {"TODO_KAFKA_BROKERS", "127.0.0.1:9092", "Kafka bootstrap brokers (host:port,...)", K_BROKERS,
     0, 0, F(kafka_brokers)},
    {"TODO_JWT_SECRET", NULL, "HS256 shared secret (>= 32 bytes)", K_SECRET, 0, 0, F(jwt_secret)},
    {"TODO_JWT_PUBLIC_KEY_FILE", NULL, "RS256 public key, PEM file", K_FILE, 0, 0,
     F(jwt_public_key_file)},
    {"TODO_JWT_ISSUER", NULL, "required JWT iss, checked when set", K_STRING, 0, 0, F(jwt_issuer)},
    {"TODO_JWT_AUDIENCE", NULL, "required JWT aud, checked when set", K_STRING, 0, 0,
     F(jwt_audience)},
    {"TODO_JWT_LEEWAY_SECONDS", "30", "clock skew allowed for exp/nbf/iat (0..600)", K_INT, 0, 600,
     F(jwt_leeway_s)},
    {"TODO_TLS_CERT_FILE", NULL, "TLS certificate chain, PEM (with key: TLS on)", K_FILE, 0, 0,
     F(tls_cert_file)},
    {"TODO_TLS_KEY_FILE", NULL, "TLS private key, PEM", K_FILE, 0, 0, F(tls_key_file)},
    {"TODO_TLS_CLIENT_CA_FILE", NULL, "client CA, PEM (turns on mutual TLS)", K_FILE, 0, 0,
     F(tls_client_ca_file)},
    {"TODO_GRPC_THREADS", "0", "gRPC worker threads (0 = max(16, 4 x usable cores); max 256)",
     K_INT, 0, 256, F(grpc_threads)},
    {"TODO_MAX_MESSAGE_BYTES", "4194304", "max gRPC message size (1 KiB..64 MiB)", K_LONG, 1024,
     64L * 1024 * 1024, F(max_message_bytes)},
    {"TODO_RATE_LIMIT_RPS", "1000", "requests per second per user (0 = off)", K_INT, 0, 1000000,
     F(rate_limit_rps)},
    {"TODO_SHUTDOWN_GRACE_MS", "10000", "grace period for in-flight calls (0..600000)", K_INT, 0,
     600000, F(shutdown_grace_ms)},
    {"TODO_HEALTH_INTERVAL_MS", "1000", "dependency health check period (100..60000)", K_INT, 100,
     60000, F(health_interval_ms)},
    {"TODO_LOG_LEVEL", "info", "debug|info|warn|error", K_LOG_LEVEL, 0, 0, F(log_level)},
    {"TODO_MIGRATE_ON_START", "true", "apply SQL migrations at start-up (true/false)", K_BOOL, 0, 0,
     F(migrate_on_start)},
};

#define NVARS (sizeof vars / sizeof vars[0])

static const char *env_lookup(const char *name, void *ud)
{
    (void)ud;
    return getenv(name);
}

static void errf(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* Copies a value for echoing in an error: printable ASCII only, truncated. */
static void echo(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src[i] != '\0' && i + 4 < cap && i < ECHO_MAX; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (src[i] != '\0' && i + 4 <= cap) {
        memcpy(dst + i, "...", 3);
        i += 3;
    }
    dst[i] = '\0';
}

/* echo() that also masks the password of scheme://user:password@host. */
static void echo_url(char *dst, size_t cap, const char *url)
{
    char tmp[ECHO_MAX + 8];
    const char *scheme = strstr(url, "://");
    const char *start = scheme != NULL ? scheme + 3 : url;
    const char *at = strchr(start, '@');
    const char *colon = NULL;
    if (at != NULL)
        colon = memchr(start, ':', (size_t)(at - start));
    if (colon == NULL) {
        echo(dst, cap, url);
        return;
    }
    snprintf(tmp, sizeof tmp, "%.*s:***%.*s", (int)(colon - url), url, (int)(ECHO_MAX / 2), at);
    echo(dst, cap, tmp);
}

static bool valid_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

/* host:port, [v6]:port; port 0..65535 (0 = pick a free port, for tests). */
static bool parse_addr(const char *s, size_t len)
{
    const char *colon = NULL;
    size_t i = 0;
    if (len == 0)
        return false;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL || close == s + 1 || close + 1 >= s + len || close[1] != ':')
            return false;
        for (const char *p = s + 1; p < close; p++) {
            char c = *p;
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                  c == ':' || c == '.' || c == '%'))
                return false;
        }
        colon = close + 1;
    } else {
        for (i = 0; i < len && s[i] != ':'; i++)
            if (!valid_host_char(s[i]))
                return false;
        if (i == 0 || i == len)
            return false;
        colon = s + i;
    }
    const char *port = colon + 1;
    size_t plen = (size_t)(s + len - port);
    if (plen == 0 || plen > 5)
        return false;
    long v = 0;
    for (size_t k = 0; k < plen; k++) {
        if (port[k] < '0' || port[k] > '9')
            return false;
        v = v * 10 + (port[k] - '0');
    }
    return v <= 65535;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *yes[] = {"true", "1", "yes", "on"};
    static const char *no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static bool parse_long(const char *s, long *out)
{
    char *end = NULL;
    if (s[0] == '\0' || !(s[0] == '-' || s[0] == '+' || (s[0] >= '0' && s[0] <= '9')))
        return false; /* strtol would skip leading blanks */
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return false;
    *out = v;
    return true;
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Readable regular file, or -1 with the reason in err. */
static int check_file(const var *v, const char *path, char *err, size_t cap)
{
    char shown[ECHO_MAX + 8];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = -1;
    echo(shown, sizeof shown, path);
    if (fd < 0) {
        errf(err, cap, "%s: cannot read '%s': %s", v->name, shown, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        errf(err, cap, "%s: '%s' is not a regular file", v->name, shown);
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Validates one value and stores it in cfg. Returns 0 or -1 with err filled. */
static int apply(td_config *cfg, const var *v, const char *val, char *err, size_t cap)
{
    char shown[ECHO_MAX + 8];
    char *field_base = (char *)cfg + v->off;
    char **sfield = (char **)(void *)field_base;
    bool store_string = false;
    long n = 0;

    echo(shown, sizeof shown, val);
    switch (v->kind) {
    case K_ADDR_OFF:
        if (strcasecmp(val, "off") == 0)
            return 0; /* field stays NULL */
        /* fall through */
    case K_ADDR:
        if (!parse_addr(val, strlen(val))) {
            errf(err, cap, "%s: expected host:port, got '%s'", v->name, shown);
            return -1;
        }
        store_string = true;
        break;
    case K_BROKERS: {
        const char *p = val;
        for (;;) {
            const char *comma = strchr(p, ',');
            size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
            if (!parse_addr(p, len)) {
                errf(err, cap, "%s: expected host:port[,host:port...], got '%s'", v->name, shown);
                return -1;
            }
            if (comma == NULL)
                break;
            p = comma + 1;
        }
        store_string = true;
        break;
    }
    case K_PG_URL:
        if (!has_prefix(val, "postgresql://") && !has_prefix(val, "postgres://")) {
            echo_url(shown, sizeof shown, val);
            errf(err, cap, "%s: expected a postgresql:// or postgres:// URL, got '%s'", v->name,
                 shown);
            return -1;
        }
        store_string = true;
        break;
    case K_REDIS_URL:
        if (!has_prefix(val, "redis://")) {
            echo_url(shown, sizeof shown, val);
            errf(err, cap, "%s: expected a redis:// URL, got '%s'", v->name, shown);
            return -1;
        }
        store_string = true;
        break;
    case K_SECRET: {
        size_t len = strlen(val);
        if (len < JWT_SECRET_MIN) {
            errf(err, cap, "%s: too short (%zu bytes, need >= %d)", v->name, len, JWT_SECRET_MIN);
            return -1;
        }
        store_string = true;
        break;
    }
    case K_FILE:
        if (check_file(v, val, err, cap) != 0)
            return -1;
        store_string = true;
        break;
    case K_STRING:
        store_string = true;
        break;
    case K_INT:
    case K_LONG:
        if (!parse_long(val, &n) || n < v->min || n > v->max) {
            errf(err, cap, "%s: expected an integer in %ld..%ld, got '%s'", v->name, v->min, v->max,
                 shown);
            return -1;
        }
        if (v->kind == K_INT)
            *(int *)(void *)field_base = (int)n;
        else
            *(long *)(void *)field_base = n;
        break;
    case K_BOOL: {
        bool b = false;
        if (!parse_bool(val, &b)) {
            errf(err, cap, "%s: expected true/false/1/0/yes/no, got '%s'", v->name, shown);
            return -1;
        }
        *(bool *)(void *)field_base = b;
        break;
    }
    case K_LOG_LEVEL: {
        td_log_level lvl;
        if (td_log_level_parse(val, &lvl) != 0) {
            errf(err, cap, "%s: expected debug|info|warn|error, got '%s'", v->name, shown);
            return -1;
        }
        store_string = true;
        break;
    }
    }
    if (store_string) {
        free(*sfield);
        *sfield = strdup(val);
        if (*sfield == NULL) {
            errf(err, cap, "%s: out of memory", v->name);
            return -1;
        }
    }
    return 0;
}

int td_config_load(td_config *cfg, td_config_lookup_fn lookup, void *ud, char *err, size_t err_cap)
{
    td_config c;
    int rc = -1;

    memset(&c, 0, sizeof c);
    if (lookup == NULL)
        lookup = env_lookup;
    for (size_t i = 0; i < NVARS; i++) {
        const var *v = &vars[i];
        const char *val = lookup(v->name, ud);
        if (val == NULL || val[0] == '\0')
            val = v->def;
        if (val == NULL)
            continue;
        if (apply(&c, v, val, err, err_cap) != 0)
            goto out;
    }
    if ((c.tls_cert_file == NULL) != (c.tls_key_file == NULL)) {
        errf(err, err_cap, "%s: TODO_TLS_CERT_FILE and TODO_TLS_KEY_FILE must be set together",
             c.tls_cert_file == NULL ? "TODO_TLS_CERT_FILE" : "TODO_TLS_KEY_FILE");
        goto out;
    }
    if (c.tls_client_ca_file != NULL && c.tls_cert_file == NULL) {
        errf(err, err_cap,
             "TODO_TLS_CLIENT_CA_FILE: needs TODO_TLS_CERT_FILE and TODO_TLS_KEY_FILE");
        goto out;
    }
    rc = 0;
out:
    if (rc == 0) {
        *cfg = c;
    } else {
        td_config_fini(&c);
        memset(cfg, 0, sizeof *cfg);
    }
    return rc;
}

void td_config_fini(td_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < NVARS; i++) {
        switch (vars[i].kind) {
        case K_INT:
        case K_LONG:
        case K_BOOL:
            break;
        default: {
            char **f = (char **)(void *)((char *)cfg + vars[i].off);
            if (vars[i].kind == K_SECRET && *f != NULL)
                explicit_bzero(*f, strlen(*f));
            free(*f);
            *f = NULL;
        }
        }
    }
}

int td_config_require_jwt(const td_config *cfg, char *err, size_t err_cap)
{
    if (cfg->jwt_secret == NULL && cfg->jwt_public_key_file == NULL) {
        errf(err, err_cap,
             "TODO_JWT_SECRET: not set (set it or TODO_JWT_PUBLIC_KEY_FILE to verify tokens)");
        return -1;
    }
    return 0;
}

void td_config_print_help(FILE *out)
{
    int wname = (int)strlen("VARIABLE"), wdef = (int)strlen("DEFAULT");
    for (size_t i = 0; i < NVARS; i++) {
        int ln = (int)strlen(vars[i].name);
        int ld = vars[i].def != NULL ? (int)strlen(vars[i].def) : 1;
        if (ln > wname)
            wname = ln;
        if (ld > wdef)
            wdef = ld;
    }
    fprintf(out, "Environment variables (an empty value counts as unset):\n");
    fprintf(out, "  %-*s  %-*s  %s\n", wname, "VARIABLE", wdef, "DEFAULT", "MEANING");
    for (size_t i = 0; i < NVARS; i++)
        fprintf(out, "  %-*s  %-*s  %s\n", wname, vars[i].name, wdef,
                vars[i].def != NULL ? vars[i].def : "-", vars[i].help);
}
