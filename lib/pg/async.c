/* async.c - pipelined non-blocking reads (see async.h for the contract).
 *
 * Owns: the sessions (one td_pg_conn each, in non-blocking pipeline mode while up), the
 * epoll instance, an eventfd that wakes the I/O thread, the I/O and repair threads and the
 * queries.
 *
 * A query is sent by the submitting thread (Bind/Execute + Sync, flushed as far as the
 * socket takes it) and appended to its session's FIFO; results come back in the same
 * order, so the I/O thread matches them to the head of the FIFO: the query's result, a
 * NULL, then PGRES_PIPELINE_SYNC, at which point the query is complete. Output libpq
 * could not flush is finished by the I/O thread on EPOLLOUT.
 *
 * Recovery (repair thread only, so a slow connect never holds up the I/O thread): a
 * broken session is unlinked (submitters skip it), its FIFO taken, the session re-opened
 * (statements prepared, timeout set, pipeline mode), and the taken queries re-sent once;
 * when it cannot be re-opened they fail with TD_EUNAVAIL and the session is retried every
 * RETRY_MS. Whoever sees a session break (submitter, I/O thread, stall watchdog) marks it
 * and kicks the repair thread.
 *
 * Threads: aconn.mu guards a session's PGconn and FIFO; completions run on the I/O thread
 * (answers) or the repair thread (queries failed with their session), with no lock held. */
#include "pg/async.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"

#define LOG_COMP "pg-async"
#define RETRY_MS 1000
#define ERR_CAP  200
/* Queries in flight on a session before the next session is used. Packing queries onto
 * few sessions is the point: a backend that finds several queries in its socket reads
 * and answers them in one go, which costs it far less per query than one wake-up each. */
#define PIPELINE_DEPTH 4
#define STALL_GRACE_MS 2000

typedef struct aq_item {
    struct aq_item *next;
    const td_pg_stmt *stmt;
    td_pg_async_fn fn;
    void *arg;
    PGresult *res;   /* the statement's result, once read */
    int64_t sent_ms; /* when last sent (CLOCK_MONOTONIC), for the stall watchdog */
    bool got_end;    /* the NULL after the result */
    int sends;       /* times sent (a second send only after a broken session) */
    int nparams;
    char *vals[TD_PG_ASYNC_MAX_PARAMS]; /* point into the same allocation */
} aq_item;

typedef struct aconn {
    pthread_mutex_t mu;
    td_pg_conn *conn;
    PGconn *pc; /* non-NULL only while up in pipeline mode (the sign submitters check) */
    int fd;
    aq_item *head, *tail;
    atomic_int inflight; /* FIFO length; read without mu as a placement hint */
    bool want_out;       /* EPOLLOUT registered */
    bool broken;         /* seen broken: the repair thread replaces the session */
    bool down;           /* the last opening failed: skipped by submitters until retry_at_ms */
    int64_t retry_at_ms;
} aconn;

struct td_pg_async {
    const td_pg_stmt *stmts;
    size_t nstmts;
    aconn *conns;
    size_t nconns;
    int timeout_ms;
    int epfd;
    int evfd;
    pthread_t thread; /* I/O: epoll, results, completions */
    bool thread_started;
    pthread_t repair_thread; /* replaces broken sessions, so opening one (connect_timeout
                                5 s on a silent network) never stalls the others' answers */
    bool repair_started;
    pthread_mutex_t repair_mu;
    pthread_cond_t repair_cv;
    bool repair_kick;
    atomic_bool stop;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake(td_pg_async *a)
{
    uint64_t one = 1;
    if (write(a->evfd, &one, sizeof one) < 0 && errno != EAGAIN)
        td_log_warn(LOG_COMP, "eventfd write: %s", strerror(errno));
}

/* Asks the repair thread to look at the sessions now rather than at its next round. */
static void kick_repair(td_pg_async *a)
{
    pthread_mutex_lock(&a->repair_mu);
    a->repair_kick = true;
    pthread_cond_signal(&a->repair_cv);
    pthread_mutex_unlock(&a->repair_mu);
}

static void poll_set(td_pg_async *a, aconn *ac, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0u), .data.ptr = ac};
    ac->want_out = out;
    if (epoll_ctl(a->epfd, EPOLL_CTL_MOD, ac->fd, &ev) != 0)
        ac->broken = true;
}

/* Sends one query on an up session; ac->mu held. false when the session broke. */
static bool send_locked(td_pg_async *a, aconn *ac, aq_item *it)
{
    int rc;
    it->sends++;
    it->sent_ms = now_ms();
    it->res = NULL;
    it->got_end = false;
    if (!PQsendQueryPrepared(ac->pc, it->stmt->name, it->nparams, (const char *const *)it->vals,
                             NULL, NULL, 0) ||
        !PQpipelineSync(ac->pc))
        return false;
    rc = PQflush(ac->pc);
    if (rc < 0)
        return false;
    if (rc == 1 && !ac->want_out)
        poll_set(a, ac, true);
    return !ac->broken;
}

static void fifo_push(aconn *ac, aq_item *it)
{
    atomic_fetch_add(&ac->inflight, 1);
    it->next = NULL;
    if (ac->tail)
        ac->tail->next = it;
    else
        ac->head = it;
    ac->tail = it;
}

static void complete(aq_item *it, td_status st, const char *err)
{
    PGresult *r = st == TD_OK ? it->res : NULL;
    if (st != TD_OK)
        PQclear(it->res);
    it->fn(it->arg, r, st, err ? err : "");
    free(it);
}

/* Completes a query from its result (OK or the statement's own error). */
static void complete_from_result(aq_item *it)
{
    char err[ERR_CAP];
    ExecStatusType es = it->res ? PQresultStatus(it->res) : PGRES_FATAL_ERROR;
    if (es == PGRES_TUPLES_OK || es == PGRES_COMMAND_OK) {
        complete(it, TD_OK, NULL);
        return;
    }
    const char *state = it->res ? PQresultErrorField(it->res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = it->res ? PQresultErrorField(it->res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf(err, sizeof err, "%s: %s (SQLSTATE %s)", it->stmt->name, msg ? msg : "no result",
             state ? state : "none");
    complete(it, td_pg_sqlstate_status(state), err);
}

/* Reads every complete result; finished queries are moved to *done. ac->mu held. */
static void drain_locked(aconn *ac, aq_item **done)
{
    while (!PQisBusy(ac->pc)) {
        aq_item *it = ac->head;
        PGresult *r = PQgetResult(ac->pc);
        if (r == NULL) {
            if (it == NULL || it->res == NULL || it->got_end)
                break; /* nothing more to read now */
            it->got_end = true;
            continue;
        }
        if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            if (it == NULL)
                continue;
            ac->head = it->next;
            if (ac->head == NULL)
                ac->tail = NULL;
            atomic_fetch_sub(&ac->inflight, 1);
            it->next = *done;
            *done = it;
            continue;
        }
        if (it == NULL || it->res != NULL) {
            PQclear(r); /* nothing waits for it (cannot happen with one statement per Sync) */
            continue;
        }
        it->res = r;
    }
}

/* Opens the session in pipeline mode; repair thread (or start-up), no lock held. */
static td_status open_session(td_pg_async *a, aconn *ac, char *err, size_t cap)
{
    char val[16];
    const char *params[1] = {val};
    td_status st = td_pg_conn_connect(ac->conn, err, cap);
    PGresult *r = NULL;
    PGconn *pc;

    if (st != TD_OK)
        goto out;
    snprintf(val, sizeof val, "%d", a->timeout_ms);
    r = td_pg_exec_sql(ac->conn, "SELECT set_config('statement_timeout', $1, false)", 1, params,
                       &st, err, cap);
    if (r == NULL)
        goto out;
    pc = td_pg_conn_raw(ac->conn);
    if (PQsetnonblocking(pc, 1) != 0 || PQenterPipelineMode(pc) != 1) {
        snprintf(err, cap, "cannot enter pipeline mode: %s", PQerrorMessage(pc));
        st = TD_EUNAVAIL;
        goto out;
    }
    ac->fd = PQsocket(pc);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = ac};
    if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, ac->fd, &ev) != 0) {
        snprintf(err, cap, "epoll_ctl: %s", strerror(errno));
        st = TD_EINTERNAL;
        goto out;
    }
    pthread_mutex_lock(&ac->mu);
    ac->pc = pc;
    ac->want_out = false;
    ac->broken = false;
    pthread_mutex_unlock(&ac->mu);
out:
    PQclear(r);
    if (st != TD_OK)
        td_pg_conn_close(ac->conn);
    return st;
}

/* Replaces a broken (or never opened) session and re-sends its queries once. */
static void recover(td_pg_async *a, aconn *ac)
{
    char err[ERR_CAP] = "";
    aq_item *taken, *failed = NULL;

    pthread_mutex_lock(&ac->mu);
    bool was_up = ac->pc != NULL;
    if (was_up) {
        epoll_ctl(a->epfd, EPOLL_CTL_DEL, ac->fd, NULL);
        ac->pc = NULL;
    }
    taken = ac->head;
    ac->head = ac->tail = NULL;
    atomic_store(&ac->inflight, 0);
    pthread_mutex_unlock(&ac->mu);
    if (was_up) /* in pipeline mode and broken: a fresh session, not a repair */
        td_pg_conn_close(ac->conn);

    td_status st = open_session(a, ac, err, sizeof err);
    if (st != TD_OK) {
        ac->retry_at_ms = now_ms() + RETRY_MS;
        td_log_warn(LOG_COMP, "session unavailable (retry in %d ms): %s", RETRY_MS, err);
    } else {
        td_log_info(LOG_COMP, "session open");
    }
    pthread_mutex_lock(&ac->mu);
    ac->down = st != TD_OK;
    /* Queries queued (unsent) while the session was being replaced go after the taken. */
    aq_item **end = &taken;
    while (*end != NULL)
        end = &(*end)->next;
    *end = ac->head;
    ac->head = ac->tail = NULL;
    atomic_store(&ac->inflight, 0);
    while (taken != NULL) {
        aq_item *it = taken;
        taken = it->next;
        PQclear(it->res);
        it->res = NULL;
        if (ac->pc != NULL && it->sends < 2) {
            if (!ac->broken && !send_locked(a, ac, it))
                ac->broken = true; /* broke again: the next round re-sends what it can */
            fifo_push(ac, it);
        } else {
            it->next = failed;
            failed = it;
        }
    }
    bool again = ac->broken;
    pthread_mutex_unlock(&ac->mu);
    if (again)
        kick_repair(a);
    while (failed != NULL) {
        aq_item *it = failed;
        failed = it->next;
        complete(it, TD_EUNAVAIL, err[0] ? err : "session lost twice");
    }
}

static void handle_event(td_pg_async *a, aconn *ac, uint32_t events)
{
    aq_item *done = NULL, *rev = NULL;
    bool broken;

    pthread_mutex_lock(&ac->mu);
    if (ac->pc == NULL) {
        pthread_mutex_unlock(&ac->mu);
        return;
    }
    if (events & EPOLLOUT) {
        int rc = PQflush(ac->pc);
        if (rc < 0)
            ac->broken = true;
        else if (rc == 0)
            poll_set(a, ac, false);
        events |= EPOLLIN; /* a write-blocked flush may have read input into libpq's buffer */
    }
    if (!ac->broken && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
        if (!PQconsumeInput(ac->pc) || PQstatus(ac->pc) != CONNECTION_OK)
            ac->broken = true;
        else
            drain_locked(ac, &done);
    }
    broken = ac->broken;
    pthread_mutex_unlock(&ac->mu);
    if (broken)
        kick_repair(a);
    while (done != NULL) { /* back to submission order */
        aq_item *it = done;
        done = it->next;
        it->next = rev;
        rev = it;
    }
    while (rev != NULL) {
        aq_item *it = rev;
        rev = it->next;
        complete_from_result(it);
    }
}

static void *io_main(void *arg)
{
    td_pg_async *a = arg;
    struct epoll_event evs[16];

    while (!atomic_load(&a->stop)) {
        int n = epoll_wait(a->epfd, evs, 16, 250);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                uint64_t v;
                if (read(a->evfd, &v, sizeof v) < 0 && errno != EAGAIN)
                    td_log_warn(LOG_COMP, "eventfd read: %s", strerror(errno));
                continue;
            }
            handle_event(a, evs[i].data.ptr, evs[i].events);
        }
        int64_t now = now_ms();
        for (size_t i = 0; i < a->nconns; i++) {
            aconn *ac = &a->conns[i];
            bool stalled = false;
            pthread_mutex_lock(&ac->mu);
            /* statement_timeout bounds every query; an answer overdue beyond it means a
             * dead peer TCP has not noticed (half-open session): replace the session. */
            if (ac->pc != NULL && !ac->broken && ac->head != NULL &&
                now - ac->head->sent_ms > (int64_t)a->timeout_ms + STALL_GRACE_MS) {
                td_log_warn(LOG_COMP, "no answer for %lld ms: replacing the session",
                            (long long)(now - ac->head->sent_ms));
                ac->broken = stalled = true;
            }
            pthread_mutex_unlock(&ac->mu);
            if (stalled)
                kick_repair(a);
        }
    }
    return NULL;
}

static void *repair_main(void *arg)
{
    td_pg_async *a = arg;

    while (!atomic_load(&a->stop)) {
        int64_t now = now_ms();
        for (size_t i = 0; i < a->nconns && !atomic_load(&a->stop); i++) {
            aconn *ac = &a->conns[i];
            pthread_mutex_lock(&ac->mu);
            bool fix = ac->broken || (ac->pc == NULL && now >= ac->retry_at_ms);
            pthread_mutex_unlock(&ac->mu);
            if (fix)
                recover(a, ac);
        }
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_nsec += 250 * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&a->repair_mu);
        while (!a->repair_kick && !atomic_load(&a->stop) &&
               pthread_cond_timedwait(&a->repair_cv, &a->repair_mu, &dl) == 0) {
        }
        a->repair_kick = false;
        pthread_mutex_unlock(&a->repair_mu);
    }
    return NULL;
}

td_status td_pg_async_submit(td_pg_async *a, const char *stmt, int nparams,
                             const char *const *values, td_pg_async_fn fn, void *arg)
{
    const td_pg_stmt *s = td_pg_stmt_find(a->stmts, a->nstmts, stmt);
    size_t len[TD_PG_ASYNC_MAX_PARAMS], total = sizeof(aq_item);
    aq_item *it = NULL;
    td_status st = TD_EUNAVAIL;

    if (s == NULL || !s->idempotent || nparams != s->nparams || nparams > TD_PG_ASYNC_MAX_PARAMS ||
        nparams < 0)
        return TD_EINVAL;
    for (int i = 0; i < nparams; i++) {
        len[i] = values[i] ? strlen(values[i]) + 1 : 0;
        total += len[i];
    }
    if ((it = calloc(1, total)) == NULL)
        return TD_ENOMEM;
    char *p = (char *)(it + 1);
    for (int i = 0; i < nparams; i++) {
        if (values[i] == NULL)
            continue; /* SQL NULL */
        memcpy(p, values[i], len[i]);
        it->vals[i] = p;
        p += len[i];
    }
    it->stmt = s;
    it->fn = fn;
    it->arg = arg;
    it->nparams = nparams;

    /* The first session with room in its pipeline, else the least busy one. */
    size_t first = 0;
    int least = -1;
    for (size_t k = 0; k < a->nconns; k++) {
        int n = atomic_load(&a->conns[k].inflight);
        if (n < PIPELINE_DEPTH) {
            first = k;
            break;
        }
        if (least < 0 || n < least) {
            least = n;
            first = k;
        }
    }
    /* Pass 0: a session that is up. Pass 1: one being replaced (the query waits in its
     * FIFO, unsent, and goes out on the new session). Sessions that are down: none. */
    for (int pass = 0; pass < 2 && st != TD_OK; pass++) {
        for (size_t k = 0; k < a->nconns && st != TD_OK; k++) {
            aconn *ac = &a->conns[(first + k) % a->nconns];
            bool woke = false;
            pthread_mutex_lock(&ac->mu);
            bool up = ac->pc != NULL && !ac->broken;
            if (pass == 0 && up) {
                if (!send_locked(a, ac, it))
                    ac->broken = woke = true; /* re-sent on the new session */
                fifo_push(ac, it);
                st = TD_OK;
            } else if (pass == 1 && !up && !ac->down) {
                it->sent_ms = now_ms(); /* the stall watchdog counts from here */
                fifo_push(ac, it);
                st = TD_OK;
                woke = true;
            }
            pthread_mutex_unlock(&ac->mu);
            if (woke)
                kick_repair(a);
        }
    }
    if (st != TD_OK)
        free(it);
    return st;
}

td_pg_async *td_pg_async_new(const char *url, const td_pg_stmt *stmts, size_t nstmts, size_t nconns,
                             int timeout_ms, char *err, size_t cap)
{
    td_pg_async *a = NULL;

    if (url == NULL || nconns < 1 || nconns > 64) {
        snprintf(err, cap, "pg-async: missing URL or sessions not in 1..64");
        goto fail;
    }
    if ((a = calloc(1, sizeof(*a))) == NULL)
        goto oom;
    a->epfd = a->evfd = -1;
    pthread_mutex_init(&a->repair_mu, NULL);
    pthread_cond_init(&a->repair_cv, NULL);
    if ((a->conns = calloc(nconns, sizeof(aconn))) == NULL)
        goto oom;
    a->stmts = stmts;
    a->nstmts = nstmts;
    a->timeout_ms = timeout_ms;
    for (size_t i = 0; i < nconns; i++) {
        aconn *ac = &a->conns[i];
        pthread_mutex_init(&ac->mu, NULL);
        ac->fd = -1;
        a->nconns++;
        /* td_pg_conn_new tries to connect once; recover() below finishes the opening. */
        if ((ac->conn = td_pg_conn_new(url, stmts, nstmts, err, cap)) == NULL)
            goto fail;
    }
    a->epfd = epoll_create1(EPOLL_CLOEXEC);
    a->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (a->epfd < 0 || a->evfd < 0 || epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->evfd, &ev) != 0) {
        snprintf(err, cap, "pg-async: epoll/eventfd: %s", strerror(errno));
        goto fail;
    }
    for (size_t i = 0; i < nconns; i++) /* open now, so the first calls find sessions up */
        recover(a, &a->conns[i]);
    if (pthread_create(&a->thread, NULL, io_main, a) != 0) {
        snprintf(err, cap, "pg-async: cannot start the I/O thread");
        goto fail;
    }
    a->thread_started = true;
    if (pthread_create(&a->repair_thread, NULL, repair_main, a) != 0) {
        snprintf(err, cap, "pg-async: cannot start the repair thread");
        goto fail;
    }
    a->repair_started = true;
    return a;
oom:
    snprintf(err, cap, "pg-async: out of memory");
fail:
    td_pg_async_destroy(a);
    return NULL;
}

void td_pg_async_stop(td_pg_async *a)
{
    if (a == NULL)
        return;
    atomic_store(&a->stop, true);
    if (a->repair_started) {
        kick_repair(a);
        pthread_join(a->repair_thread, NULL);
        a->repair_started = false;
    }
    if (a->thread_started) {
        wake(a);
        pthread_join(a->thread, NULL);
        a->thread_started = false;
    }
    for (size_t i = 0; a->conns != NULL && i < a->nconns; i++) {
        aconn *ac = &a->conns[i];
        pthread_mutex_lock(&ac->mu);
        aq_item *it = ac->head;
        ac->head = ac->tail = NULL;
        ac->pc = NULL; /* submitters check these under mu: nothing is queued after this */
        ac->down = true;
        pthread_mutex_unlock(&ac->mu);
        while (it != NULL) {
            aq_item *next = it->next;
            complete(it, TD_EUNAVAIL, "shutting down");
            it = next;
        }
    }
}

void td_pg_async_destroy(td_pg_async *a)
{
    if (a == NULL)
        return;
    td_pg_async_stop(a);
    for (size_t i = 0; a->conns != NULL && i < a->nconns; i++) {
        td_pg_conn_destroy(a->conns[i].conn);
        pthread_mutex_destroy(&a->conns[i].mu);
    }
    if (a->epfd >= 0)
        close(a->epfd);
    if (a->evfd >= 0)
        close(a->evfd);
    pthread_mutex_destroy(&a->repair_mu);
    pthread_cond_destroy(&a->repair_cv);
    free(a->conns);
    free(a);
}
