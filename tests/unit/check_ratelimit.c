/* check_ratelimit.c - the pure parts of lib/redis: TODO_REDIS_URL parsing (and that no
 * error echoes the password), the lease arithmetic, and the limiter's accounting against
 * an injected in-memory shared counter and clock: exact limit for one and for several
 * replicas, windows, fail open, disabled limit, table bound, threads.
 * The real-Redis behaviour (outage, reconnect) is exercised by integration tests. */
#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "redis/ratelimit.h"
#include "redis/redis_url.h"
#include "check_run.h"

/* ------------------------------------------------------------------ URL */

START_TEST(url_valid)
{
    td_redis_url u;
    char err[160];
    ck_assert_int_eq(td_redis_url_parse("redis://127.0.0.1:6380/0", &u, err, sizeof(err)), 0);
    ck_assert_str_eq(u.host, "127.0.0.1");
    ck_assert_int_eq(u.port, 6380);
    ck_assert_int_eq(u.db, 0);
    ck_assert_ptr_null(u.user);
    ck_assert_ptr_null(u.password);
    td_redis_url_fini(&u);

    ck_assert_int_eq(td_redis_url_parse("redis://cache", &u, err, sizeof(err)), 0);
    ck_assert_str_eq(u.host, "cache");
    ck_assert_int_eq(u.port, 6379);
    td_redis_url_fini(&u);

    ck_assert_int_eq(td_redis_url_parse("redis://:p%40ss:w@rd@h:1/15", &u, err, sizeof(err)), 0);
    ck_assert_str_eq(u.host, "h");
    ck_assert_ptr_null(u.user);
    ck_assert_str_eq(u.password, "p@ss:w@rd");
    ck_assert_int_eq(u.port, 1);
    ck_assert_int_eq(u.db, 15);
    td_redis_url_fini(&u);

    ck_assert_int_eq(td_redis_url_parse("redis://app:pw@[::1]:7000/", &u, err, sizeof(err)), 0);
    ck_assert_str_eq(u.host, "::1");
    ck_assert_str_eq(u.user, "app");
    ck_assert_str_eq(u.password, "pw");
    ck_assert_int_eq(u.port, 7000);
    ck_assert_int_eq(u.db, 0);
    td_redis_url_fini(&u);
    td_redis_url_fini(NULL);
}
END_TEST

START_TEST(url_invalid)
{
    const char *bad[] = {
        NULL,
        "",
        "127.0.0.1:6379",
        "rediss://h:1",
        "redis://",
        "redis://:6379",
        "redis://h:0",
        "redis://h:65536",
        "redis://h:12x",
        "redis://h:",
        "redis://h/x",
        "redis://h?db=1",
        "redis://[::1",
        "redis://[::1]x",
        "redis://u@h",
        "redis://:bad%zzsecret@h",
        "redis://:%00@h",
        "redis://a b:1",
        "redis://::1:6379",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        td_redis_url u;
        char err[160] = "";
        ck_assert_msg(td_redis_url_parse(bad[i], &u, err, sizeof(err)) == -1, "accepted %s",
                      bad[i]);
        ck_assert_msg(err[0] != '\0', "no reason for %s", bad[i] ? bad[i] : "NULL");
        ck_assert_ptr_null(u.host);
    }
    /* errors never echo the password */
    td_redis_url u;
    char err[160];
    ck_assert_int_eq(td_redis_url_parse("redis://:hunter2@h:99999", &u, err, sizeof(err)), -1);
    ck_assert_ptr_null(strstr(err, "hunter2"));
    char err2[160];
    td_ratelimit *rl = td_ratelimit_new("redis://:hunter2@h:x", 10, NULL, err2, sizeof(err2));
    ck_assert_ptr_null(rl);
    ck_assert_ptr_null(strstr(err2, "hunter2"));
    ck_assert_ptr_nonnull(strstr(err2, "TODO_REDIS_URL"));
}
END_TEST

/* ------------------------------------------------------------------ fakes */

typedef struct fake_redis {
    pthread_mutex_t mu;
    struct {
        char key[320];
        int64_t v;
    } keys[512];
    int n_keys;
    int calls;
    bool down;
} fake_redis;

static td_status fake_incr(void *ctx, const char *key, size_t key_len, int64_t n, int64_t *total)
{
    fake_redis *f = ctx;
    td_status st = TD_OK;
    pthread_mutex_lock(&f->mu);
    f->calls++;
    if (f->down) {
        st = TD_EUNAVAIL;
        goto out;
    }
    ck_assert_uint_lt(key_len, sizeof(f->keys[0].key));
    ck_assert_uint_eq(strlen(key), key_len);
    int i = 0;
    while (i < f->n_keys && strcmp(f->keys[i].key, key) != 0)
        i++;
    if (i == f->n_keys) {
        ck_assert_int_lt(f->n_keys, 512);
        memcpy(f->keys[i].key, key, key_len + 1);
        f->keys[i].v = 0;
        f->n_keys++;
    }
    f->keys[i].v += n;
    *total = f->keys[i].v;
out:
    pthread_mutex_unlock(&f->mu);
    return st;
}

static int64_t fake_now = 1700000000;
static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

static fake_redis fake;
static td_metrics *metrics;

static void setup(void)
{
    memset(&fake, 0, sizeof(fake));
    pthread_mutex_init(&fake.mu, NULL);
    fake_now = 1700000000;
    metrics = td_metrics_new();
}

static void teardown(void)
{
    pthread_mutex_destroy(&fake.mu);
    td_metrics_destroy(metrics);
}

static td_ratelimit *limiter(int limit, int chunk, size_t max_users)
{
    char err[160];
    td_ratelimit_opts o = {.limit_per_sec = limit,
                           .chunk = chunk,
                           .max_users = max_users,
                           .incr = fake_incr,
                           .incr_ctx = &fake,
                           .clock = fake_clock};
    td_ratelimit *rl = td_ratelimit_new_opts(&o, metrics, err, sizeof(err));
    ck_assert_msg(rl != NULL, "%s", err);
    return rl;
}

static uint64_t counter(const char *name)
{
    return td_metric_counter_value(td_metrics_counter(metrics, name, ""));
}

static int allow_n(td_ratelimit *rl, const char *user, int n)
{
    int ok = 0;
    for (int i = 0; i < n; i++)
        ok += td_ratelimit_allow(rl, user) == TD_OK;
    return ok;
}

/* ------------------------------------------------------------------ accounting */

START_TEST(granted_math)
{
    ck_assert_int_eq(td_ratelimit_granted(100, 10, 10), 10);
    ck_assert_int_eq(td_ratelimit_granted(100, 10, 100), 10);
    ck_assert_int_eq(td_ratelimit_granted(100, 10, 105), 5);
    ck_assert_int_eq(td_ratelimit_granted(100, 10, 110), 0);
    ck_assert_int_eq(td_ratelimit_granted(100, 10, 500), 0);
    ck_assert_int_eq(td_ratelimit_granted(1, 1, 1), 1);
    ck_assert_int_eq(td_ratelimit_granted(1, 1, 2), 0);
}
END_TEST

START_TEST(one_replica_exact)
{
    td_ratelimit *rl = limiter(100, 10, 0);
    ck_assert_int_eq(allow_n(rl, "alice", 100), 100);
    ck_assert_int_eq(fake.calls, 10); /* one lease per chunk, not per call */
    ck_assert_int_eq(td_ratelimit_allow(rl, "alice"), TD_ELIMIT);
    ck_assert_int_eq(fake.calls, 11); /* the lease that found the window spent */
    ck_assert_int_eq(allow_n(rl, "alice", 50), 0);
    ck_assert_int_eq(fake.calls, 11); /* denied locally afterwards */
    ck_assert_uint_eq(counter("td_ratelimit_denied_total"), 51);
    ck_assert_str_eq(fake.keys[0].key, "td:rl:{alice}:1700000000");
    /* another user is independent */
    ck_assert_int_eq(allow_n(rl, "bob", 100), 100);
    /* next window */
    fake_now++;
    ck_assert_int_eq(allow_n(rl, "alice", 150), 100);
    td_ratelimit_destroy(rl);
}
END_TEST

START_TEST(default_chunk_and_odd_limits)
{
    td_ratelimit *rl = limiter(7, 0, 0); /* chunk = 1 */
    ck_assert_int_eq(allow_n(rl, "u", 20), 7);
    ck_assert_int_eq(fake.calls, 8);
    td_ratelimit_destroy(rl);
    fake.calls = 0;
    rl = limiter(25, 0, 0); /* chunk = 2, odd limit: the last lease is partial */
    ck_assert_int_eq(allow_n(rl, "v", 40), 25);
    ck_assert_int_eq(fake.calls, 13);
    td_ratelimit_destroy(rl);
}
END_TEST

START_TEST(replicas_never_exceed)
{
    td_ratelimit *r[3] = {limiter(100, 7, 0), limiter(100, 7, 0), limiter(100, 7, 0)};
    int ok = 0;
    for (int i = 0; i < 600; i++)
        ok += td_ratelimit_allow(r[i % 3], "carol") == TD_OK;
    ck_assert_int_eq(ok, 100);
    /* uneven traffic: all quota to one replica after the others leased */
    fake_now++;
    ok = allow_n(r[0], "carol", 1) + allow_n(r[1], "carol", 1) + allow_n(r[2], "carol", 200);
    ck_assert_int_le(ok, 100);
    ck_assert_int_ge(ok, 100 - 2 * 6); /* the others keep at most chunk-1 each */
    for (int i = 0; i < 3; i++)
        td_ratelimit_destroy(r[i]);
}
END_TEST

START_TEST(fail_open_and_recover)
{
    td_ratelimit *rl = limiter(10, 5, 0);
    fake.down = true;
    ck_assert_int_eq(allow_n(rl, "dave", 1000), 1000);
    ck_assert_uint_eq(counter("td_ratelimit_fail_open_total"), 1000);
    fake.down = false;
    fake_now++;
    ck_assert_int_eq(allow_n(rl, "dave", 20), 10);
    td_ratelimit_destroy(rl);
}
END_TEST

START_TEST(disabled_and_edge_users)
{
    td_ratelimit *rl = limiter(0, 0, 0);
    ck_assert_int_eq(allow_n(rl, "erin", 1000), 1000);
    ck_assert_int_eq(fake.calls, 0);
    td_ratelimit_destroy(rl);
    ck_assert_int_eq(td_ratelimit_allow(NULL, "x"), TD_OK);
    rl = limiter(5, 1, 0);
    ck_assert_int_eq(allow_n(rl, "", 10), 10); /* no user (public method): not limited */
    char long_user[1000];
    memset(long_user, 'z', sizeof(long_user) - 1);
    long_user[sizeof(long_user) - 1] = '\0';
    ck_assert_int_eq(allow_n(rl, long_user, 10), 5);
    const char odd[] = "we{ir}d:user\n\"";
    ck_assert_int_eq(allow_n(rl, odd, 10), 5);
    td_ratelimit_destroy(rl);
    char err[64];
    td_ratelimit_opts o = {.limit_per_sec = -1, .incr = fake_incr, .incr_ctx = &fake};
    ck_assert_ptr_null(td_ratelimit_new_opts(&o, NULL, err, sizeof(err)));
}
END_TEST

START_TEST(table_bound)
{
    td_ratelimit *rl = limiter(3, 1, 32);
    char user[32];
    /* many distinct users in one window: entries are evicted, nothing breaks, and an
     * evicted user can only be under-admitted (its shared counter still holds) */
    for (int i = 0; i < 2000; i++) {
        snprintf(user, sizeof(user), "user-%d", i % 60);
        td_ratelimit_allow(rl, user);
    }
    for (int i = 0; i < 60; i++) {
        snprintf(user, sizeof(user), "user-%d", i);
        ck_assert_int_eq(td_ratelimit_allow(rl, user), TD_ELIMIT);
    }
    fake_now++; /* old windows are swept */
    for (int i = 0; i < 200; i++) {
        snprintf(user, sizeof(user), "new-%d", i);
        ck_assert_int_eq(td_ratelimit_allow(rl, user), TD_OK);
    }
    td_ratelimit_destroy(rl);
}
END_TEST

static td_ratelimit *shared_rl;
static int admitted_total;
static pthread_mutex_t admitted_mu = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
    (void)arg;
    int ok = allow_n(shared_rl, "frank", 5000);
    pthread_mutex_lock(&admitted_mu);
    admitted_total += ok;
    pthread_mutex_unlock(&admitted_mu);
    return NULL;
}

START_TEST(threads_exact)
{
    shared_rl = limiter(1000, 10, 0);
    admitted_total = 0;
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(admitted_total, 1000);
    td_ratelimit_destroy(shared_rl);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *url = tcase_create("url");
    tcase_add_test(url, url_valid);
    tcase_add_test(url, url_invalid);
    suite_add_tcase(s, url);
    TCase *acc = tcase_create("accounting");
    tcase_add_checked_fixture(acc, setup, teardown);
    tcase_add_test(acc, granted_math);
    tcase_add_test(acc, one_replica_exact);
    tcase_add_test(acc, default_chunk_and_odd_limits);
    tcase_add_test(acc, replicas_never_exceed);
    tcase_add_test(acc, fail_open_and_recover);
    tcase_add_test(acc, disabled_and_edge_users);
    tcase_add_test(acc, table_bound);
    tcase_add_test(acc, threads_exact);
    suite_add_tcase(s, acc);
    return td_check_run(s);
}
