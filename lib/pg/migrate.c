/* migrate.c - td_pg_migrate(): versioned SQL migrations under an advisory lock.
 *
 * Owns one short-lived td_pg_conn (no prepared statements) for the duration of a run.
 * The lock is session-level: a crash releases it with the session, so a dead replica
 * never blocks the others. Each file runs as one simple-protocol PQexec inside BEGIN ..
 * COMMIT (the file is constant SQL compiled into the binary; it carries no values), and
 * its schema_migrations row is inserted with parameters in the same transaction.
 * Threads: runs on the caller's thread (start-up, or the `migrate` subcommand). */
#include "pg/migrate.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "pg/pg.h"

#define LOG_COMP "migrate"

int td_pg_migration_version(const char *name, long *version)
{
    long v = 0;
    size_t i = 0, len;
    int rc = -1;

    if (name == NULL)
        goto out;
    len = strlen(name);
    while (name[i] >= '0' && name[i] <= '9' && i < 9) {
        v = v * 10 + (name[i] - '0');
        i++;
    }
    if (i == 0 || name[i] != '_' || v <= 0)
        goto out;
    if (len < i + 1 + 1 + 4 || strcmp(name + len - 4, ".sql") != 0)
        goto out; /* needs a non-empty name part before ".sql" */
    *version = v;
    rc = 0;
out:
    return rc;
}

td_status td_pg_migrations_check(const td_embedded_file *files, size_t n, char *err, size_t cap)
{
    long prev = 0, v = 0;
    td_status st = TD_OK;

    for (size_t i = 0; i < n; i++) {
        if (td_pg_migration_version(files[i].name, &v) != 0) {
            snprintf(err, cap, "migration %s: name must be NNNN_name.sql",
                     files[i].name ? files[i].name : "(null)");
            st = TD_EINVAL;
            goto out;
        }
        if (v <= prev) {
            snprintf(err, cap, "migration %s: version %ld is not greater than %ld", files[i].name,
                     v, prev);
            st = TD_EINVAL;
            goto out;
        }
        if (files[i].data == NULL || strlen((const char *)files[i].data) != files[i].len) {
            snprintf(err, cap, "migration %s: embedded text is empty or holds a NUL byte",
                     files[i].name);
            st = TD_EINVAL;
            goto out;
        }
        prev = v;
    }
out:
    return st;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Connects, retrying with backoff (100 ms doubling to 2 s) until wait_ms has passed. */
static td_status connect_wait(td_pg_conn *c, int wait_ms, char *err, size_t cap)
{
    long deadline = now_ms() + (wait_ms > 0 ? wait_ms : 0);
    long backoff = 100;
    td_status st;
    bool logged = false;

    for (;;) {
        st = td_pg_conn_connect(c, err, cap);
        if (st != TD_EUNAVAIL || now_ms() >= deadline)
            break;
        if (!logged) {
            td_log_warn(LOG_COMP, "waiting up to %d ms for PostgreSQL: %s", wait_ms, err);
            logged = true;
        }
        long left = deadline - now_ms();
        sleep_ms(backoff < left ? backoff : (left > 0 ? left : 0));
        backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
    }
    return st;
}

static PGresult *run_sql(td_pg_conn *c, const char *sql, int n, const char *const *vals,
                         td_status *st, char *err, size_t cap)
{
    return td_pg_exec_sql(c, sql, n, vals, st, err, cap);
}

static td_status apply_one(td_pg_conn *c, const td_embedded_file *f, long version, char *err,
                           size_t cap)
{
    char vbuf[24], msg[512];
    const char *vals[2];
    td_status st;
    PGresult *r = NULL;
    const char *state;

    st = td_pg_begin(c, msg, sizeof msg);
    if (st != TD_OK)
        goto out;
    /* The file: constant SQL from the binary, several statements, one transaction. */
    r = PQexec(td_pg_conn_raw(c), (const char *)f->data);
    if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
        if (r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK)
            goto record; /* a file ending in a SELECT is fine */
        state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        st = PQstatus(td_pg_conn_raw(c)) != CONNECTION_OK ? TD_EUNAVAIL
                                                          : td_pg_sqlstate_status(state);
        if (st == TD_OK)
            st = TD_EINTERNAL;
        {
            const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
            if (m == NULL)
                m = PQerrorMessage(td_pg_conn_raw(c));
            snprintf(msg, sizeof msg, "%.*s (SQLSTATE %s)", (int)strcspn(m, "\n"), m,
                     state ? state : "none");
        }
        goto out;
    }
record:
    PQclear(r);
    snprintf(vbuf, sizeof vbuf, "%ld", version);
    vals[0] = vbuf;
    vals[1] = f->name;
    r = run_sql(c, "INSERT INTO schema_migrations (version, name) VALUES ($1::integer, $2)", 2,
                vals, &st, msg, sizeof msg);
    if (r == NULL)
        goto out;
    st = td_pg_commit(c, msg, sizeof msg);
out:
    PQclear(r);
    if (st != TD_OK) {
        td_pg_rollback(c);
        snprintf(err, cap, "%s: %s", f->name, msg);
    }
    return st;
}

td_status td_pg_migrate(const char *url, const td_embedded_file *files, size_t n, int wait_ms,
                        char *err, size_t cap)
{
    td_pg_conn *c = NULL;
    PGresult *r = NULL;
    td_status st = TD_OK;
    bool locked = false;
    long *applied = NULL, v = 0;
    size_t napplied = 0, nnew = 0;
    char keybuf[24];
    const char *vals[1];

    st = td_pg_migrations_check(files, n, err, cap);
    if (st != TD_OK)
        goto out;
    c = td_pg_conn_new(url, NULL, 0, err, cap);
    if (c == NULL) {
        st = TD_EINVAL;
        goto out;
    }
    st = connect_wait(c, wait_ms, err, cap);
    if (st != TD_OK)
        goto out;

    snprintf(keybuf, sizeof keybuf, "%lld", (long long)TD_PG_MIGRATE_LOCK_KEY);
    vals[0] = keybuf;
    r = run_sql(c, "SELECT pg_advisory_lock($1::bigint)", 1, vals, &st, err, cap);
    if (r == NULL)
        goto out;
    locked = true;
    PQclear(r);
    r = run_sql(c,
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY,"
                " name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())",
                0, NULL, &st, err, cap);
    if (r == NULL)
        goto out;
    PQclear(r);
    r = run_sql(c, "SELECT version FROM schema_migrations ORDER BY version", 0, NULL, &st, err,
                cap);
    if (r == NULL)
        goto out;
    napplied = (size_t)PQntuples(r);
    applied = calloc(napplied + 1, sizeof *applied);
    if (applied == NULL) {
        st = TD_ENOMEM;
        snprintf(err, cap, "migrate: out of memory");
        goto out;
    }
    for (size_t i = 0; i < napplied; i++)
        applied[i] = strtol(PQgetvalue(r, (int)i, 0), NULL, 10);
    PQclear(r);
    r = NULL;

    for (size_t i = 0; i < n; i++) {
        bool done = false;
        td_pg_migration_version(files[i].name, &v); /* checked above */
        for (size_t j = 0; j < napplied && !done; j++)
            done = applied[j] == v;
        if (done)
            continue;
        st = apply_one(c, &files[i], v, err, cap);
        if (st != TD_OK)
            goto out;
        nnew++;
        td_log_info(LOG_COMP, "applied migration %s (version %ld)", files[i].name, v);
    }
    if (napplied > 0 && n > 0 && applied[napplied - 1] > v)
        td_log_warn(LOG_COMP, "database has migration %ld, newer than this binary's %ld",
                    applied[napplied - 1], v);
    td_log_info(LOG_COMP, "schema up to date: %zu applied now, %zu already present", nnew,
                napplied);
out:
    PQclear(r);
    if (locked) {
        PGresult *u =
            run_sql(c, "SELECT pg_advisory_unlock($1::bigint)", 1, vals, &(td_status){0}, NULL, 0);
        PQclear(u); /* if this fails, closing the session releases the lock anyway */
    }
    free(applied);
    td_pg_conn_destroy(c);
    return st;
}
