/* check_pg.c - unit tests of lib/pg that need no database: SQLSTATE mapping, deadline
 * buckets, migration file names (including the real server/migrations folder), and the
 * behaviour of connections, pool and ping while PostgreSQL is unreachable (a closed
 * loopback port): lazy connect, TD_EUNAVAIL, no secret in messages, pool timeouts.
 * Single-threaded except the pool hand-off test. */
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg/migrate.h"
#include "pg/pg.h"
#include "check_run.h"

/* Port 1 on loopback: nothing listens, connect fails at once. */
#define DOWN_URL "postgresql://todo:s3cretpw@127.0.0.1:1/todo?connect_timeout=1"

START_TEST(sqlstate_map)
{
    ck_assert_int_eq(td_pg_sqlstate_status("23505"), TD_EEXIST);
    ck_assert_int_eq(td_pg_sqlstate_status("40001"), TD_ECONFLICT);
    ck_assert_int_eq(td_pg_sqlstate_status("40P01"), TD_ECONFLICT);
    ck_assert_int_eq(td_pg_sqlstate_status("55P03"), TD_ECONFLICT);
    ck_assert_int_eq(td_pg_sqlstate_status("57014"), TD_EDEADLINE);
    ck_assert_int_eq(td_pg_sqlstate_status("22P02"), TD_EINVAL); /* invalid text repr. */
    ck_assert_int_eq(td_pg_sqlstate_status("22023"), TD_EINVAL); /* bad time zone */
    ck_assert_int_eq(td_pg_sqlstate_status("22001"), TD_EINVAL);
    ck_assert_int_eq(td_pg_sqlstate_status("23514"), TD_EINVAL); /* check violation */
    ck_assert_int_eq(td_pg_sqlstate_status("23502"), TD_EINVAL);
    ck_assert_int_eq(td_pg_sqlstate_status("23503"), TD_ENOTFOUND);
    ck_assert_int_eq(td_pg_sqlstate_status("08006"), TD_EUNAVAIL);
    ck_assert_int_eq(td_pg_sqlstate_status("08001"), TD_EUNAVAIL);
    ck_assert_int_eq(td_pg_sqlstate_status("57P01"), TD_EUNAVAIL); /* admin shutdown */
    ck_assert_int_eq(td_pg_sqlstate_status("57P03"), TD_EUNAVAIL);
    ck_assert_int_eq(td_pg_sqlstate_status("53300"), TD_EUNAVAIL); /* too many conns */
    ck_assert_int_eq(td_pg_sqlstate_status("54000"), TD_ELIMIT);
    ck_assert_int_eq(td_pg_sqlstate_status("42601"), TD_EINTERNAL); /* syntax: a bug */
    ck_assert_int_eq(td_pg_sqlstate_status("42P01"), TD_EINTERNAL);
    ck_assert_int_eq(td_pg_sqlstate_status("XX000"), TD_EINTERNAL);
    ck_assert_int_eq(td_pg_sqlstate_status(NULL), TD_EINTERNAL);
    ck_assert_int_eq(td_pg_sqlstate_status(""), TD_EINTERNAL);
    ck_assert_int_eq(td_pg_sqlstate_status("2350"), TD_EINTERNAL);
    ck_assert_int_eq(td_pg_sqlstate_status("235050"), TD_EINTERNAL);
}
END_TEST

START_TEST(timeout_buckets)
{
    ck_assert_int_eq(td_pg_timeout_bucket(0), 0);
    ck_assert_int_eq(td_pg_timeout_bucket(-5), 0);
    ck_assert_int_eq(td_pg_timeout_bucket(1), 100);
    ck_assert_int_eq(td_pg_timeout_bucket(100), 100);
    ck_assert_int_eq(td_pg_timeout_bucket(101), 250);
    ck_assert_int_eq(td_pg_timeout_bucket(999), 1000);
    ck_assert_int_eq(td_pg_timeout_bucket(4321), 5000);
    ck_assert_int_eq(td_pg_timeout_bucket(60000), 60000);
    ck_assert_int_eq(td_pg_timeout_bucket(60001), 0);
    /* Never below the deadline asked for. */
    for (int ms = 1; ms <= 60000; ms += 37)
        ck_assert_int_ge(td_pg_timeout_bucket(ms), ms);
}
END_TEST

START_TEST(migration_names)
{
    long v = -1;
    ck_assert_int_eq(td_pg_migration_version("0001_init.sql", &v), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(td_pg_migration_version("0042_add_x.sql", &v), 0);
    ck_assert_int_eq(v, 42);
    ck_assert_int_eq(td_pg_migration_version("20261201_x.sql", &v), 0);
    ck_assert_int_eq(v, 20261201);
    ck_assert_int_eq(td_pg_migration_version("0000_zero.sql", &v), -1);
    ck_assert_int_eq(td_pg_migration_version("init.sql", &v), -1);
    ck_assert_int_eq(td_pg_migration_version("0001init.sql", &v), -1);
    ck_assert_int_eq(td_pg_migration_version("0001_.sql", &v), -1);
    ck_assert_int_eq(td_pg_migration_version("0001_init.txt", &v), -1);
    ck_assert_int_eq(td_pg_migration_version("0001_init", &v), -1);
    ck_assert_int_eq(td_pg_migration_version("1234567890_too_long.sql", &v), -1);
    ck_assert_int_eq(td_pg_migration_version("", &v), -1);
    ck_assert_int_eq(td_pg_migration_version(NULL, &v), -1);
}
END_TEST

#define F(n, s)                                                                                    \
    {                                                                                              \
        n, (const unsigned char *)(s), sizeof(s) - 1                                               \
    }

START_TEST(migration_set_check)
{
    char err[256];
    const td_embedded_file good[] = {F("0001_a.sql", "SELECT 1;"), F("0002_b.sql", "SELECT 2;"),
                                     F("0010_c.sql", "SELECT 3;")};
    const td_embedded_file dup[] = {F("0001_a.sql", "x"), F("001_b.sql", "y")};
    const td_embedded_file order[] = {F("0002_a.sql", "x"), F("0001_b.sql", "y")};
    const td_embedded_file bad[] = {F("0001_a.sql", "x"), F("b.sql", "y")};
    const td_embedded_file nul[] = {{"0001_a.sql", (const unsigned char *)"ab\0c", 4}};

    ck_assert_int_eq(td_pg_migrations_check(good, 3, err, sizeof err), TD_OK);
    ck_assert_int_eq(td_pg_migrations_check(good, 0, err, sizeof err), TD_OK);
    ck_assert_int_eq(td_pg_migrations_check(dup, 2, err, sizeof err), TD_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "001_b.sql"));
    ck_assert_int_eq(td_pg_migrations_check(order, 2, err, sizeof err), TD_EINVAL);
    ck_assert_int_eq(td_pg_migrations_check(bad, 2, err, sizeof err), TD_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "b.sql"));
    ck_assert_int_eq(td_pg_migrations_check(nul, 1, err, sizeof err), TD_EINVAL);
}
END_TEST

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The real migrations folder: every file is well named and versions increase in the
 * sorted order that cmake embeds them in. */
START_TEST(repo_migrations_named_well)
{
    const char *src = getenv("TD_SOURCE_DIR");
    char path[4096], *names[256];
    size_t n = 0;
    long v, prev = 0;
    DIR *d;
    struct dirent *e;

    if (src == NULL)
        src = ".";
    snprintf(path, sizeof path, "%s/server/migrations", src);
    d = opendir(path);
    ck_assert_msg(d != NULL, "cannot open %s (set TD_SOURCE_DIR)", path);
    while ((e = readdir(d)) != NULL && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".sql") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    ck_assert_uint_ge(n, 1);
    qsort(names, n, sizeof names[0], cmp_str);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(td_pg_migration_version(names[i], &v) == 0, "bad name %s", names[i]);
        ck_assert_msg(v > prev, "%s: version not increasing", names[i]);
        prev = v;
        free(names[i]);
    }
}
END_TEST

static const td_pg_stmt stmts[] = {
    {"one", "SELECT 1", 0, true},
    {"ins", "INSERT INTO t VALUES ($1)", 1, false},
};

START_TEST(conn_lazy_when_down)
{
    char err[256] = "";
    td_status st = TD_OK;
    td_pg_conn *c = td_pg_conn_new(DOWN_URL, stmts, 2, err, sizeof err);
    PGresult *r;

    ck_assert_ptr_nonnull(c); /* start-up does not fail while PostgreSQL is down */
    ck_assert(!td_pg_conn_ok(c));
    r = td_pg_exec(c, "one", 0, NULL, NULL, NULL, 0, &st, err, sizeof err);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(st, TD_EUNAVAIL);
    ck_assert_ptr_null(strstr(err, "s3cretpw"));
    r = td_pg_exec(c, "nope", 0, NULL, NULL, NULL, 0, &st, err, sizeof err);
    ck_assert_int_eq(st, TD_EINTERNAL);
    r = td_pg_exec(c, "ins", 0, NULL, NULL, NULL, 0, &st, err, sizeof err);
    ck_assert_int_eq(st, TD_EINTERNAL); /* wrong parameter count */
    ck_assert_int_eq(td_pg_begin(c, err, sizeof err), TD_EUNAVAIL);
    ck_assert_int_eq(td_pg_rollback(c), TD_OK);
    ck_assert(!td_pg_in_transaction(c));
    ck_assert_uint_eq(td_pg_conn_generation(c), 0);
    td_pg_conn_destroy(c);
    td_pg_conn_destroy(NULL);
}
END_TEST

START_TEST(conn_bad_url)
{
    char err[256] = "";
    td_pg_conn *c =
        td_pg_conn_new("host=x password=s3cretpw 'unterminated", stmts, 2, err, sizeof err);
    ck_assert_ptr_null(c);
    ck_assert_ptr_null(strstr(err, "s3cretpw"));
    ck_assert_str_ne(err, "");
}
END_TEST

START_TEST(ping_down)
{
    ck_assert_int_eq(td_pg_ping(DOWN_URL), TD_EUNAVAIL);
    ck_assert_int_eq(td_pg_ping(NULL), TD_EUNAVAIL);
}
END_TEST

START_TEST(migrate_down)
{
    char err[256] = "";
    const td_embedded_file files[] = {F("0001_a.sql", "SELECT 1;")};
    ck_assert_int_eq(td_pg_migrate(DOWN_URL, files, 1, 300, err, sizeof err), TD_EUNAVAIL);
    ck_assert_ptr_null(strstr(err, "s3cretpw"));
    ck_assert_int_eq(
        td_pg_migrate(DOWN_URL, (td_embedded_file[]){F("x.sql", "")}, 1, 0, err, sizeof err),
        TD_EINVAL);
}
END_TEST

struct handoff {
    td_pg_pool *pool;
    td_pg_conn *got;
};

static void *taker(void *arg)
{
    struct handoff *h = arg;
    td_status st;
    h->got = td_pg_pool_acquire(h->pool, 5000, &st);
    return NULL;
}

START_TEST(pool_acquire_release)
{
    char err[256] = "";
    td_status st = TD_OK;
    td_pg_pool *p = td_pg_pool_new(DOWN_URL, 2, stmts, 2, err, sizeof err);
    td_pg_conn *a, *b, *c;
    struct handoff h;
    pthread_t th;

    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(td_pg_pool_size(p), 2);
    a = td_pg_pool_acquire(p, 0, &st);
    ck_assert_int_eq(st, TD_OK);
    b = td_pg_pool_acquire(p, 10, &st);
    ck_assert_int_eq(st, TD_OK);
    ck_assert_ptr_ne(a, b);
    c = td_pg_pool_acquire(p, 0, &st);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(st, TD_EUNAVAIL);
    c = td_pg_pool_acquire(p, 50, &st); /* times out */
    ck_assert_ptr_null(c);
    ck_assert_int_eq(st, TD_EUNAVAIL);

    /* A waiter is woken by a release. */
    h.pool = p;
    h.got = NULL;
    ck_assert_int_eq(pthread_create(&th, NULL, taker, &h), 0);
    nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
    td_pg_pool_release(p, b);
    pthread_join(th, NULL);
    ck_assert_ptr_eq(h.got, b);
    td_pg_pool_release(p, h.got);
    td_pg_pool_release(p, a);
    td_pg_pool_release(p, NULL);
    td_pg_pool_destroy(p);
    td_pg_pool_destroy(NULL);

    ck_assert_ptr_null(td_pg_pool_new(DOWN_URL, 0, stmts, 2, err, sizeof err));
}
END_TEST

static Suite *pg_suite(void)
{
    Suite *s = suite_create("pg");
    TCase *pure = tcase_create("pure");
    TCase *down = tcase_create("down");
    tcase_add_test(pure, sqlstate_map);
    tcase_add_test(pure, timeout_buckets);
    tcase_add_test(pure, migration_names);
    tcase_add_test(pure, migration_set_check);
    tcase_add_test(pure, repo_migrations_named_well);
    tcase_add_test(down, conn_lazy_when_down);
    tcase_add_test(down, conn_bad_url);
    tcase_add_test(down, ping_down);
    tcase_add_test(down, migrate_down);
    tcase_add_test(down, pool_acquire_release);
    suite_add_tcase(s, pure);
    suite_add_tcase(s, down);
    return s;
}

int main(void)
{
    return td_check_run(pg_suite());
}
