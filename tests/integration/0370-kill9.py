#!/usr/bin/python3
"""0370-kill9: kill -9 in the middle of concurrent creates loses or invents nothing.

Eight writers (two per user, four users) create tasks with unique request_ids while the
server is killed with SIGKILL. Then, read straight from PostgreSQL: every task has its
TaskCreated change record at the task's revision, every TaskCreated record has its task,
and each user's revisions are 1..N without gaps (the outbox row commits with the row, or
neither does). A second server then answers every request_id again: the ones acknowledged
before the kill return the same task, the ones whose outcome was unknown are retried with
the same request_id, and each request_id ends as exactly one task (idempotency across the
crash).
"""
import signal
import threading
import time

import tdtest as T
import tdtasks as TT
from tdtasks import OK

WRITERS_PER_USER = 2
USERS = 4


def writer(user, prefix, results, lock, stop):
    i = 0
    while not stop.is_set():
        rid = "%s-%d" % (prefix, i)
        i += 1
        r = user.create("kill9 " + rid, request_id=rid)
        with lock:
            results[(user.sub, rid)] = r.response.id if r.code == OK else None
        if r.code != OK:
            return  # the server is gone: the outcome of this one is unknown


def run():
    srv = TT.start_server(name="victim")
    users = [TT.User(srv, prefix="k9") for _ in range(USERS)]
    results, lock, stop = {}, threading.Lock(), threading.Event()
    threads = [threading.Thread(target=writer, args=(u, "w%d" % w, results, lock, stop))
               for u in users for w in range(WRITERS_PER_USER)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait()
    stop.set()
    for t in threads:
        t.join(30)
    srv.stop(report=False)  # already dead; closes channels and the log
    acked = {k: v for k, v in results.items() if v}
    unknown = [k for k, v in results.items() if not v]
    T.log("before the kill: %d acknowledged, %d with unknown outcome" % (len(acked), len(unknown)))
    T.check("writers made progress before the kill", len(acked) > 0, results)

    for u in users:
        s = TT.q(u.sub)
        orphan_tasks = TT.psql(
            "SELECT count(*) FROM tasks t WHERE t.user_id=%s AND NOT EXISTS (SELECT 1 FROM"
            " changes c WHERE c.user_id=t.user_id AND c.aggregate_id=t.id::text AND"
            " c.event_type='todo.v1.TaskCreated' AND c.revision=t.revision)" % s)
        T.check("%s: every committed task has its TaskCreated change record" % u.sub,
                orphan_tasks == "0", "%s tasks without their event" % orphan_tasks)
        orphan_events = TT.psql(
            "SELECT count(*) FROM changes c WHERE c.user_id=%s AND"
            " c.event_type='todo.v1.TaskCreated' AND NOT EXISTS (SELECT 1 FROM tasks t"
            " WHERE t.id::text=c.aggregate_id)" % s)
        T.check("%s: no change record without its task" % u.sub, orphan_events == "0",
                "%s events without a task" % orphan_events)
        TT.check_revisions("%s: revisions gap-free after kill -9" % u.sub, u.sub)

    ids = sorted(acked.values())
    found = TT.psql("SELECT count(*) FROM tasks WHERE id = ANY(%s::uuid[])"
                    % TT.q("{" + ",".join(ids) + "}")) if ids else "0"
    T.check("every acknowledged create survived the kill (%d)" % len(ids),
            found == str(len(ids)), "%s of %d found" % (found, len(ids)))

    srv2 = TT.start_server(name="after")
    by_sub = {u.sub: TT.User(srv2, sub=u.sub) for u in users}
    wrong = []
    for (sub, rid), tid in sorted(results.items()):
        r = by_sub[sub].create("kill9 " + rid, request_id=rid)
        if r.code != OK or (tid and r.response.id != tid):
            wrong.append((sub, rid, tid, TT.res(r)))
    T.check("retrying every request_id returns the first task or creates it once",
            not wrong, wrong[:5])
    for u in users:
        want = sum(1 for (sub, _) in results if sub == u.sub)
        got = int(TT.psql("SELECT count(*) FROM tasks WHERE user_id=%s" % TT.q(u.sub)))
        T.check("%s: one task per request_id (%d)" % (u.sub, want), got == want,
                "%d tasks for %d request ids" % (got, want))
        TT.check_revisions("%s: revisions gap-free after the retries" % u.sub, u.sub)
    srv2.stop()


if __name__ == "__main__":
    T.main(run)
