#!/usr/bin/python3
"""0380-pipelined-reads: GetTask on the pipelined read sessions (lib/pg/async.c).

Many concurrent GetTasks share a few PostgreSQL sessions in pipeline mode, so the one
thing that must never happen is an answer reaching the wrong call. Checked here:
- 16 threads x 150 GetTasks mixing own ids, another user's ids and missing ids: every
  answer is the task asked for (id and title) or NOT_FOUND exactly when it should be;
- the same with the pipelined sessions turned off (TODO_DB_READ_CONNECTIONS=0): same answers;
- the server's PostgreSQL sessions are terminated (pg_terminate_backend) during a load:
  every call answers OK or UNAVAILABLE, none hangs or is mixed up, and afterwards GetTask
  works again without a restart;
- PostgreSQL stopped: GetTask answers UNAVAILABLE quickly (no hang) and the process keeps
  serving; restarted: GetTask is OK again within seconds.
"""
import concurrent.futures
import random
import threading
import time
import uuid

import tdtest as T
import tdtasks as TT
from tdtasks import OK, NOT_FOUND

C = TT.C


def answer_ok(user, tid, want):
    """One GetTask; returns None when the answer matches `want` (title or None = NOT_FOUND)."""
    r = user.get(tid)
    if want is None:
        return None if r.code == NOT_FOUND else "id %s: want NOT_FOUND, got %s" % (tid, r.code)
    if r.code != OK:
        return "id %s: want OK, got %s %s" % (tid, r.code, r.details)
    if r.response.id != tid or r.response.title != want:
        return "id %s: got task %s %r (another call's answer)" % (tid, r.response.id, r.response.title)
    return None


def mixed_load(srv, threads=16, per_thread=150):
    a, b = TT.User(srv, prefix="it-pa"), TT.User(srv, prefix="it-pb")
    mine = {}
    for i in range(40):
        t = a.create_ok("pipelined %d %s" % (i, uuid.uuid4().hex[:6]))
        mine[t.id] = t.title
    foreign = [b.create_ok("B's %d" % i).id for i in range(10)]
    probes = [(i, t) for i, t in mine.items()] + [(i, None) for i in foreign] + \
             [(str(uuid.uuid4()), None) for _ in range(10)]
    errors = []

    def worker(seed):
        rnd = random.Random(seed)
        for _ in range(per_thread):
            tid, want = rnd.choice(probes)
            e = answer_ok(a, tid, want)
            if e:
                errors.append(e)

    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        list(ex.map(worker, range(threads)))
    return errors


def concurrent_answers(srv, label):
    errors = mixed_load(srv)
    T.check("%s: 2,400 concurrent GetTasks (own, foreign, missing ids) all answered correctly"
            % label, not errors, "; ".join(errors[:5]))


def sessions_terminated(srv):
    a = TT.User(srv, prefix="it-pt")
    mine = {}
    for i in range(20):
        t = a.create_ok("survivor %d" % i)
        mine[t.id] = t.title
    ids = list(mine)
    stop = threading.Event()
    bad, codes = [], {}

    def worker(seed):
        rnd = random.Random(seed)
        while not stop.is_set():
            tid = rnd.choice(ids)
            r = a.get(tid)
            codes[r.code] = codes.get(r.code, 0) + 1
            if r.code == OK and (r.response.id != tid or r.response.title != mine[tid]):
                bad.append("asked %s got %s" % (tid, r.response.id))
            elif r.code not in (OK, C.UNAVAILABLE):
                bad.append("%s: %s %s" % (tid, r.code, r.details))

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        futs = [ex.submit(worker, s) for s in range(8)]
        time.sleep(0.5)
        n = TT.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND application_name = 'todo'")
        time.sleep(1.5)
        stop.set()
        for f in futs:
            f.result(timeout=30)
    T.log("terminated %s sessions; answers during the load: %s" % (n, {str(k): v for k, v in codes.items()}))
    T.check("sessions terminated under load: only OK or UNAVAILABLE, never another call's task",
            not bad and codes.get(OK, 0) > 0, "; ".join(bad[:5]))
    ok_after = T.wait_until(lambda: all(answer_ok(a, i, mine[i]) is None for i in ids[:5]), 10)
    T.check("after the sessions were terminated GetTask works again without a restart", ok_after)
    opened = srv.log().count('"component":"pg-async","msg":"session open"')
    T.check("the pipelined sessions (not only the pool) were re-opened", opened >= 4,
            "%d pg-async 'session open' lines, want 2 at start + 2 after" % opened)
    T.check("server still alive", srv.alive())


def postgres_outage(srv):
    a = TT.User(srv, prefix="it-po")
    t = a.create_ok("outage probe")
    try:
        T.services("stop", "postgres")
        t0 = time.time()
        r = a.call("GetTask", {"id": t.id}, timeout=15)
        took = time.time() - t0
        T.check("PostgreSQL stopped: GetTask is UNAVAILABLE", r.code == C.UNAVAILABLE,
                "%s %s" % (r.code, r.details))
        T.check("PostgreSQL stopped: the answer comes at once (< 6 s), no hang", took < 6,
                "%.1f s" % took)
        T.check("PostgreSQL stopped: the message says to retry, without internals",
                "retry" in r.details and "SQLSTATE" not in r.details, r.details)
    finally:
        T.services("start", "postgres")
    back = T.wait_until(lambda: answer_ok(a, t.id, t.title) is None, 15)
    T.check("PostgreSQL restarted: GetTask OK again within 15 s, no server restart", back)


def run():
    srv = TT.start_server(TODO_DB_READ_CONNECTIONS="2")
    TT.section("concurrent GetTasks, pipelined", concurrent_answers, srv, "pipelined (2 sessions)")
    TT.section("sessions terminated under load", sessions_terminated, srv)
    TT.section("PostgreSQL outage", postgres_outage, srv)
    srv.stop()
    off = TT.start_server(name="reads-off", TODO_DB_READ_CONNECTIONS="0")
    TT.section("concurrent GetTasks, pool only", concurrent_answers, off, "pool only (reads off)")
    off.stop()


if __name__ == "__main__":
    T.main(run)
