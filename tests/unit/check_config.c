/* check_config.c - unit tests for lib/core/config.c: defaults, each bad value rejected
 * with one line naming the variable, good values parsed, cross-variable rules, --help.
 * Values come from a lookup table, never from the real environment. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "check_run.h"

typedef struct kv {
    const char *name;
    const char *value;
} kv;

static const char *table_lookup(const char *name, void *ud)
{
    for (const kv *p = ud; p->name != NULL; p++)
        if (strcmp(p->name, name) == 0)
            return p->value;
    return NULL;
}

static char tmpfile_path[64];

static void make_tmpfile(void)
{
    snprintf(tmpfile_path, sizeof tmpfile_path, "/tmp/td_check_config_XXXXXX");
    int fd = mkstemp(tmpfile_path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "x\n", 2), 2);
    close(fd);
}

static void rm_tmpfile(void)
{
    unlink(tmpfile_path);
}

/* Loads the single variable name=value; expects failure naming name. Returns the line. */
static void expect_bad(const char *name, const char *value, const char *needle)
{
    kv t[] = {{name, value}, {NULL, NULL}};
    td_config c;
    char err[256] = "";
    memset(&c, 0x5a, sizeof c);
    int rc = td_config_load(&c, table_lookup, t, err, sizeof err);
    ck_assert_msg(rc == -1, "%s=%s accepted", name, value);
    ck_assert_msg(strncmp(err, name, strlen(name)) == 0, "error does not start with %s: %s", name,
                  err);
    ck_assert_msg(strchr(err, '\n') == NULL, "multi-line error: %s", err);
    if (needle != NULL)
        ck_assert_msg(strstr(err, needle) != NULL, "'%s' not in '%s'", needle, err);
    ck_assert_ptr_null(c.grpc_addr); /* zeroed on failure */
    td_config_fini(&c);
}

static void load_ok(const kv *t, td_config *c)
{
    char err[256] = "";
    int rc = td_config_load(c, table_lookup, (void *)t, err, sizeof err);
    ck_assert_msg(rc == 0, "load failed: %s", err);
}

START_TEST(defaults)
{
    kv t[] = {{NULL, NULL}};
    td_config c;
    load_ok(t, &c);
    ck_assert_str_eq(c.grpc_addr, "127.0.0.1:50051");
    ck_assert_str_eq(c.http_addr, "127.0.0.1:8080");
    ck_assert_str_eq(c.metrics_addr, "127.0.0.1:9464");
    ck_assert_str_eq(c.database_url, "postgresql://todo@127.0.0.1:5433/todo");
    ck_assert_int_eq(c.db_pool_size, 0);
    ck_assert_int_eq(c.db_list_conns, 0);
    ck_assert_int_eq(c.db_read_conns, 4);
    ck_assert_str_eq(c.redis_url, "redis://127.0.0.1:6380/0");
    ck_assert_str_eq(c.kafka_brokers, "127.0.0.1:9092");
    ck_assert_ptr_null(c.jwt_secret);
    ck_assert_ptr_null(c.jwt_public_key_file);
    ck_assert_ptr_null(c.jwt_issuer);
    ck_assert_ptr_null(c.jwt_audience);
    ck_assert_int_eq(c.jwt_leeway_s, 30);
    ck_assert_ptr_null(c.tls_cert_file);
    ck_assert_ptr_null(c.tls_key_file);
    ck_assert_ptr_null(c.tls_client_ca_file);
    ck_assert_int_eq(c.grpc_threads, 0);
    ck_assert_int_eq(c.max_message_bytes, 4194304);
    ck_assert_int_eq(c.rate_limit_rps, 1000);
    ck_assert_int_eq(c.shutdown_grace_ms, 10000);
    ck_assert_int_eq(c.health_interval_ms, 1000);
    ck_assert_str_eq(c.log_level, "info");
    ck_assert(c.migrate_on_start);
    /* The loader does not insist on a JWT key; td_config_require_jwt does. */
    char err[256] = "";
    ck_assert_int_eq(td_config_require_jwt(&c, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "TODO_JWT_SECRET") != NULL, "%s", err);
    td_config_fini(&c);
    td_config_fini(&c); /* idempotent */
}
END_TEST

START_TEST(good_values)
{
    make_tmpfile();
    kv t[] = {
        {"TODO_GRPC_ADDR", "[::1]:6000"},
        {"TODO_HTTP_ADDR", "localhost:0"},
        {"TODO_METRICS_ADDR", "off"},
        {"TODO_DATABASE_URL", "postgres://u:p@db:5432/x"},
        {"TODO_DB_POOL_SIZE", "16"},
        {"TODO_DB_READ_CONNECTIONS", "0"},
        {"TODO_DB_LIST_CONNECTIONS", "3"},
        {"TODO_REDIS_URL", "redis://r:6379/1"},
        {"TODO_KAFKA_BROKERS", "k1:9092,[::1]:9093,10.0.0.3:9094"},
        {"TODO_JWT_SECRET", "0123456789abcdef0123456789abcdef"},
        {"TODO_JWT_PUBLIC_KEY_FILE", tmpfile_path},
        {"TODO_JWT_ISSUER", "https://issuer.example"},
        {"TODO_JWT_AUDIENCE", "todo"},
        {"TODO_JWT_LEEWAY_SECONDS", "0"},
        {"TODO_TLS_CERT_FILE", tmpfile_path},
        {"TODO_TLS_KEY_FILE", tmpfile_path},
        {"TODO_TLS_CLIENT_CA_FILE", tmpfile_path},
        {"TODO_GRPC_THREADS", "8"},
        {"TODO_MAX_MESSAGE_BYTES", "1024"},
        {"TODO_RATE_LIMIT_RPS", "0"},
        {"TODO_SHUTDOWN_GRACE_MS", "2500"},
        {"TODO_HEALTH_INTERVAL_MS", "60000"},
        {"TODO_LOG_LEVEL", "DEBUG"},
        {"TODO_MIGRATE_ON_START", "no"},
        {NULL, NULL},
    };
    td_config c;
    load_ok(t, &c);
    ck_assert_str_eq(c.grpc_addr, "[::1]:6000");
    ck_assert_str_eq(c.http_addr, "localhost:0");
    ck_assert_ptr_null(c.metrics_addr);
    ck_assert_str_eq(c.database_url, "postgres://u:p@db:5432/x");
    ck_assert_int_eq(c.db_pool_size, 16);
    ck_assert_int_eq(c.db_read_conns, 0);
    ck_assert_int_eq(c.db_list_conns, 3);
    ck_assert_str_eq(c.redis_url, "redis://r:6379/1");
    ck_assert_str_eq(c.kafka_brokers, "k1:9092,[::1]:9093,10.0.0.3:9094");
    ck_assert_str_eq(c.jwt_secret, "0123456789abcdef0123456789abcdef");
    ck_assert_str_eq(c.jwt_public_key_file, tmpfile_path);
    ck_assert_str_eq(c.jwt_issuer, "https://issuer.example");
    ck_assert_str_eq(c.jwt_audience, "todo");
    ck_assert_int_eq(c.jwt_leeway_s, 0);
    ck_assert_str_eq(c.tls_client_ca_file, tmpfile_path);
    ck_assert_int_eq(c.grpc_threads, 8);
    ck_assert_int_eq(c.max_message_bytes, 1024);
    ck_assert_int_eq(c.rate_limit_rps, 0);
    ck_assert_int_eq(c.shutdown_grace_ms, 2500);
    ck_assert_int_eq(c.health_interval_ms, 60000);
    ck_assert_str_eq(c.log_level, "DEBUG");
    ck_assert(!c.migrate_on_start);
    char err[64];
    ck_assert_int_eq(td_config_require_jwt(&c, err, sizeof err), 0);
    td_config_fini(&c);
    rm_tmpfile();
}
END_TEST

START_TEST(booleans)
{
    static const char *yes[] = {"true", "TRUE", "1", "yes", "Yes", "on"};
    static const char *no[] = {"false", "0", "no", "NO", "off"};
    td_config c;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        kv t[] = {{"TODO_MIGRATE_ON_START", yes[i]}, {NULL, NULL}};
        load_ok(t, &c);
        ck_assert_msg(c.migrate_on_start, "%s", yes[i]);
        td_config_fini(&c);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        kv t[] = {{"TODO_MIGRATE_ON_START", no[i]}, {NULL, NULL}};
        load_ok(t, &c);
        ck_assert_msg(!c.migrate_on_start, "%s", no[i]);
        td_config_fini(&c);
    }
}
END_TEST

START_TEST(empty_is_unset)
{
    kv t[] = {{"TODO_GRPC_ADDR", ""}, {"TODO_JWT_SECRET", ""}, {NULL, NULL}};
    td_config c;
    load_ok(t, &c);
    ck_assert_str_eq(c.grpc_addr, "127.0.0.1:50051");
    ck_assert_ptr_null(c.jwt_secret);
    td_config_fini(&c);
}
END_TEST

START_TEST(bad_values)
{
    expect_bad("TODO_GRPC_ADDR", "x", "'x'");
    expect_bad("TODO_GRPC_ADDR", "127.0.0.1", NULL);
    expect_bad("TODO_GRPC_ADDR", "127.0.0.1:", NULL);
    expect_bad("TODO_GRPC_ADDR", ":50051", NULL);
    expect_bad("TODO_GRPC_ADDR", "127.0.0.1:65536", NULL);
    expect_bad("TODO_GRPC_ADDR", "127.0.0.1:5x", NULL);
    expect_bad("TODO_GRPC_ADDR", "::1:50051", NULL);
    expect_bad("TODO_GRPC_ADDR", "[::1]50051", NULL);
    expect_bad("TODO_GRPC_ADDR", "[]:1", NULL);
    expect_bad("TODO_GRPC_ADDR", "[::1]:", NULL);
    expect_bad("TODO_GRPC_ADDR", "ho st:1", NULL);
    expect_bad("TODO_HTTP_ADDR", "8080", "'8080'");
    expect_bad("TODO_METRICS_ADDR", "nope", NULL);
    expect_bad("TODO_DATABASE_URL", "mysql://x", "'mysql://x'");
    expect_bad("TODO_DATABASE_URL", "http://u:hunter2@h/db", "u:***@h/db");
    expect_bad("TODO_REDIS_URL", "rediss://h", NULL);
    expect_bad("TODO_REDIS_URL", "127.0.0.1:6379", NULL);
    expect_bad("TODO_KAFKA_BROKERS", "a:1,,b:2", NULL);
    expect_bad("TODO_KAFKA_BROKERS", "a:1,b", NULL);
    expect_bad("TODO_KAFKA_BROKERS", "a:1,", NULL);
    expect_bad("TODO_JWT_SECRET", "short", "too short (5 bytes, need >= 32)");
    expect_bad("TODO_JWT_PUBLIC_KEY_FILE", "/nonexistent/key.pem", "/nonexistent/key.pem");
    expect_bad("TODO_JWT_PUBLIC_KEY_FILE", "/tmp", "not a regular file");
    expect_bad("TODO_JWT_LEEWAY_SECONDS", "601", NULL);
    expect_bad("TODO_JWT_LEEWAY_SECONDS", "-1", NULL);
    expect_bad("TODO_JWT_LEEWAY_SECONDS", "30s", "'30s'");
    expect_bad("TODO_JWT_LEEWAY_SECONDS", " 30", NULL);
    expect_bad("TODO_DB_POOL_SIZE", "257", NULL);
    expect_bad("TODO_DB_READ_CONNECTIONS", "65", NULL);
    expect_bad("TODO_DB_READ_CONNECTIONS", "-1", NULL);
    expect_bad("TODO_DB_LIST_CONNECTIONS", "257", NULL);
    expect_bad("TODO_DB_LIST_CONNECTIONS", "x", NULL);
    expect_bad("TODO_GRPC_THREADS", "abc", NULL);
    expect_bad("TODO_GRPC_THREADS", "99999999999999999999999", NULL);
    expect_bad("TODO_MAX_MESSAGE_BYTES", "1023", "1024..67108864");
    expect_bad("TODO_MAX_MESSAGE_BYTES", "67108865", NULL);
    expect_bad("TODO_RATE_LIMIT_RPS", "-5", NULL);
    expect_bad("TODO_SHUTDOWN_GRACE_MS", "1.5", NULL);
    expect_bad("TODO_HEALTH_INTERVAL_MS", "99", NULL);
    expect_bad("TODO_LOG_LEVEL", "verbose", "'verbose'");
    expect_bad("TODO_MIGRATE_ON_START", "maybe", "'maybe'");
    expect_bad("TODO_MIGRATE_ON_START", "2", NULL);
}
END_TEST

START_TEST(secret_not_echoed)
{
    const char *secret = "hunter2-hunter2";
    kv t[] = {{"TODO_JWT_SECRET", secret}, {NULL, NULL}};
    td_config c;
    char err[256] = "";
    ck_assert_int_eq(td_config_load(&c, table_lookup, t, err, sizeof err), -1);
    ck_assert_ptr_null(strstr(err, "hunter2"));
    ck_assert_str_eq(err, "TODO_JWT_SECRET: too short (15 bytes, need >= 32)");
}
END_TEST

START_TEST(control_chars_not_echoed)
{
    expect_bad("TODO_GRPC_ADDR", "a\nb", "'a?b'");
}
END_TEST

START_TEST(tls_rules)
{
    make_tmpfile();
    td_config c;
    char err[256];
    kv cert_only[] = {{"TODO_TLS_CERT_FILE", tmpfile_path}, {NULL, NULL}};
    ck_assert_int_eq(td_config_load(&c, table_lookup, cert_only, err, sizeof err), -1);
    ck_assert_msg(strncmp(err, "TODO_TLS_KEY_FILE", 17) == 0, "%s", err);
    kv key_only[] = {{"TODO_TLS_KEY_FILE", tmpfile_path}, {NULL, NULL}};
    ck_assert_int_eq(td_config_load(&c, table_lookup, key_only, err, sizeof err), -1);
    ck_assert_msg(strncmp(err, "TODO_TLS_CERT_FILE", 18) == 0, "%s", err);
    kv ca_only[] = {{"TODO_TLS_CLIENT_CA_FILE", tmpfile_path}, {NULL, NULL}};
    ck_assert_int_eq(td_config_load(&c, table_lookup, ca_only, err, sizeof err), -1);
    ck_assert_msg(strncmp(err, "TODO_TLS_CLIENT_CA_FILE", 23) == 0, "%s", err);
    kv missing[] = {{"TODO_TLS_CERT_FILE", tmpfile_path},
                    {"TODO_TLS_KEY_FILE", "/nonexistent.pem"},
                    {NULL, NULL}};
    ck_assert_int_eq(td_config_load(&c, table_lookup, missing, err, sizeof err), -1);
    ck_assert_msg(strncmp(err, "TODO_TLS_KEY_FILE", 17) == 0, "%s", err);
    kv both[] = {
        {"TODO_TLS_CERT_FILE", tmpfile_path}, {"TODO_TLS_KEY_FILE", tmpfile_path}, {NULL, NULL}};
    load_ok(both, &c);
    ck_assert_str_eq(c.tls_cert_file, tmpfile_path);
    ck_assert_ptr_null(c.tls_client_ca_file);
    td_config_fini(&c);
    rm_tmpfile();
}
END_TEST

START_TEST(require_jwt_public_key_only)
{
    make_tmpfile();
    kv t[] = {{"TODO_JWT_PUBLIC_KEY_FILE", tmpfile_path}, {NULL, NULL}};
    td_config c;
    char err[128];
    load_ok(t, &c);
    ck_assert_int_eq(td_config_require_jwt(&c, err, sizeof err), 0);
    td_config_fini(&c);
    rm_tmpfile();
}
END_TEST

START_TEST(help_table)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    td_config_print_help(f);
    fclose(f);
    static const char *names[] = {
        "TODO_GRPC_ADDR",         "TODO_HTTP_ADDR",           "TODO_METRICS_ADDR",
        "TODO_DATABASE_URL",      "TODO_DB_POOL_SIZE",        "TODO_REDIS_URL",
        "TODO_KAFKA_BROKERS",     "TODO_JWT_SECRET",          "TODO_JWT_PUBLIC_KEY_FILE",
        "TODO_JWT_ISSUER",        "TODO_JWT_AUDIENCE",        "TODO_JWT_LEEWAY_SECONDS",
        "TODO_TLS_CERT_FILE",     "TODO_TLS_KEY_FILE",        "TODO_TLS_CLIENT_CA_FILE",
        "TODO_GRPC_THREADS",      "TODO_MAX_MESSAGE_BYTES",   "TODO_RATE_LIMIT_RPS",
        "TODO_SHUTDOWN_GRACE_MS", "TODO_HEALTH_INTERVAL_MS",  "TODO_LOG_LEVEL",
        "TODO_MIGRATE_ON_START",  "TODO_DB_READ_CONNECTIONS", "TODO_DB_LIST_CONNECTIONS"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        ck_assert_msg(strstr(buf, names[i]) != NULL, "%s missing from help", names[i]);
    ck_assert_ptr_nonnull(strstr(buf, "127.0.0.1:50051"));
    /* Aligned: the default column starts at the same offset on every table line. */
    const char *line = strstr(buf, "  TODO_GRPC_ADDR");
    const char *line2 = strstr(buf, "  TODO_HTTP_ADDR");
    ck_assert_ptr_nonnull(line);
    ck_assert_ptr_nonnull(line2);
    ck_assert_int_eq(strstr(line, "127.0.0.1:50051") - line,
                     strstr(line2, "127.0.0.1:8080") - line2);
    free(buf);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, good_values);
    tcase_add_test(tc, booleans);
    tcase_add_test(tc, empty_is_unset);
    tcase_add_test(tc, bad_values);
    tcase_add_test(tc, secret_not_echoed);
    tcase_add_test(tc, control_chars_not_echoed);
    tcase_add_test(tc, tls_rules);
    tcase_add_test(tc, require_jwt_public_key_only);
    tcase_add_test(tc, help_table);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return td_check_run(config_suite());
}
