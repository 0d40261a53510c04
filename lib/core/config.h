/* config.h - process configuration from TODO_* environment variables.
 *
 * td_config_load() reads every variable through a lookup function (getenv in
 * production, a table in tests), validates it and fails with ONE line naming the
 * variable ("TODO_GRPC_ADDR: expected host:port, got 'x'"). Strings are owned by the
 * td_config and released by td_config_fini(). Load once at start-up, read-only after.
 * An empty value counts as unset. Secrets are never echoed in error messages, and
 * passwords inside URLs are masked. */
#ifndef TD_CORE_CONFIG_H
#define TD_CORE_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct td_config {
    char *grpc_addr;     /* TODO_GRPC_ADDR, default 127.0.0.1:50051 */
    char *http_addr;     /* TODO_HTTP_ADDR, default 127.0.0.1:8080 (gateway) */
    char *metrics_addr;  /* TODO_METRICS_ADDR, default 127.0.0.1:9464; "off" -> NULL */
    char *database_url;  /* TODO_DATABASE_URL, default postgresql://todo@127.0.0.1:5433/todo */
    int db_pool_size;    /* TODO_DB_POOL_SIZE, default 0 = one per gRPC thread (1..256) */
    int db_list_conns;   /* TODO_DB_LIST_CONNECTIONS, default 0 = 2 x usable cores (1..256) */
    int db_read_conns;   /* TODO_DB_READ_CONNECTIONS, default 4 pipelined read sessions, 0 = off */
    char *redis_url;     /* TODO_REDIS_URL, default redis://127.0.0.1:6380/0 */
    char *kafka_brokers; /* TODO_KAFKA_BROKERS, default 127.0.0.1:9092 */
    char *jwt_secret;    /* TODO_JWT_SECRET, HS256 key (>= 32 bytes) or NULL */
    char *jwt_public_key_file; /* TODO_JWT_PUBLIC_KEY_FILE, RS256 PEM or NULL */
    char *jwt_issuer;          /* TODO_JWT_ISSUER, checked when set */
    char *jwt_audience;        /* TODO_JWT_AUDIENCE, checked when set */
    int jwt_leeway_s;          /* TODO_JWT_LEEWAY_SECONDS, default 30 (0..600) */
    char *tls_cert_file;       /* TODO_TLS_CERT_FILE (with KEY: TLS on) */
    char *tls_key_file;        /* TODO_TLS_KEY_FILE */
    char *tls_client_ca_file;  /* TODO_TLS_CLIENT_CA_FILE (mutual TLS) */
    int grpc_threads;          /* TODO_GRPC_THREADS, default 0 = max(16, 4 x usable cores) */
    long max_message_bytes;    /* TODO_MAX_MESSAGE_BYTES, default 4194304 (1 KiB..64 MiB) */
    int rate_limit_rps;        /* TODO_RATE_LIMIT_RPS per user, default 1000; 0 = off */
    int shutdown_grace_ms;     /* TODO_SHUTDOWN_GRACE_MS, default 10000 */
    int health_interval_ms;    /* TODO_HEALTH_INTERVAL_MS, default 1000 (100..60000) */
    char *log_level;           /* TODO_LOG_LEVEL: debug|info|warn|error, default info */
    bool migrate_on_start;     /* TODO_MIGRATE_ON_START, default true */
} td_config;

typedef const char *(*td_config_lookup_fn)(const char *name, void *ud);

/* Fills cfg from lookup (NULL lookup = getenv). Returns 0, or -1 with one line in err.
 * On failure cfg holds nothing to free. */
int td_config_load(td_config *cfg, td_config_lookup_fn lookup, void *ud, char *err, size_t err_cap);
void td_config_fini(td_config *cfg);
/* Prints the variable table (name, default, meaning) for --help. */
void td_config_print_help(FILE *out);
/* Token verification needs a key: TODO_JWT_SECRET and/or TODO_JWT_PUBLIC_KEY_FILE.
 * td_config_load() does not insist (migrate, --help and the workers need none); the
 * commands that verify tokens call this. Returns 0, or -1 with one line in err. */
int td_config_require_jwt(const td_config *cfg, char *err, size_t err_cap);

#endif
