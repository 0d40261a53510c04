#!/usr/bin/python3
"""0340-tasks-pagination: keyset pagination walked end to end while another thread inserts
and deletes tasks of the same user.

For several sort orders (created, due, priority desc, title, and a search), with small pages:
no id is returned twice, every task that existed for the whole walk (and was not deleted)
is returned exactly once, and the keys come in sort order.
"""
import datetime
import random
import threading
import time

import tdtest as T
import tdtasks as TT
from tdtasks import OK

STABLE, CHURN, PAGE = 150, 60, 7
WORDS = ["alpha", "bravo", "Charlie", "delta", "Echo", "foxtrot", "golf", "Hotel", "india",
         "Juliet", "kilo", "lima", "Émile", "zulu", "Ärger", "10", "_under", "mike"]


def rand_task(rng, i, tag):
    base = TT.now_utc()
    kw = {"priority": "PRIORITY_" + rng.choice(["LOW", "MEDIUM", "HIGH", "URGENT"]),
          "tags": [tag]}
    x = rng.random()
    if x < 0.6:
        kw["due"] = {"due_time": TT.rfc3339(base + datetime.timedelta(minutes=rng.randint(-5000, 5000)))}
    elif x < 0.75:
        d = (base + datetime.timedelta(days=rng.randint(-5, 5))).date()
        kw["due"] = {"due_date": {"year": d.year, "month": d.month, "day": d.day}}
    # duplicate titles on purpose: the id tie-breaker must keep the walk exact
    title = "%s %s" % (rng.choice(WORDS), rng.choice(WORDS)) if i % 3 else "Same title"
    return title, kw


def due_key(t):
    """Instant for timed tasks, +inf without due; None (not order-checked) for all-day
    dates, whose position within their day (start or end) is the server's choice."""
    if not t.HasField("due"):
        return float("inf")
    if t.due.WhichOneof("when") == "due_time":
        return float(t.due.due_time.seconds)
    return None


def walk(srv, order_label, req, key):
    rng = random.Random(hash(order_label) & 0xFFFF)
    u = TT.User(srv)
    stable, churn = set(), []
    for i in range(STABLE):
        title, kw = rand_task(rng, i, "walk")
        stable.add(u.create_ok(title, **kw).id)
    for i in range(CHURN):
        title, kw = rand_task(rng, i, "walk")
        churn.append(u.create_ok(title, **kw).id)

    stop = threading.Event()
    stats = {"created": 0, "deleted": 0, "errors": []}
    writer = TT.User(srv, sub=u.sub)

    def churner():
        wrng = random.Random(7)
        i = 0
        while not stop.is_set():
            title, kw = rand_task(wrng, i, "walk")
            r = writer.create(title, **kw)
            if r.code == OK:
                stats["created"] += 1
            else:
                stats["errors"].append(TT.res(r))
            if churn:
                victim = churn.pop(wrng.randrange(len(churn)))
                r = writer.call("DeleteTask", {"id": victim})
                if r.code == OK:
                    stats["deleted"] += 1
                else:
                    stats["errors"].append(TT.res(r))
            i += 1
            time.sleep(0.005)

    th = threading.Thread(target=churner, daemon=True)
    th.start()
    seen, order, token, pages = [], [], "", 0
    try:
        while True:
            q = dict(req, page_size=PAGE)
            if token:
                q["page_token"] = token
            r = u.list(**q)
            if r.code != OK:
                raise TT.Failure("%s: page %d: %s" % (order_label, pages, TT.res(r)))
            for t in r.response.tasks:
                seen.append(t.id)
                order.append(key(t))
            token = r.response.next_page_token
            pages += 1
            if not token:
                break
            if pages > 2000:
                raise TT.Failure("%s: runaway pagination" % order_label)
            time.sleep(0.01)
    finally:
        stop.set()
        th.join(30)
    T.log("%s: %d pages, %d tasks seen; concurrently created %d, deleted %d"
          % (order_label, pages, len(seen), stats["created"], stats["deleted"]))
    T.check("%s: writer thread had no errors" % order_label, not stats["errors"],
            stats["errors"][:5])
    T.check("%s: concurrent inserts and deletes really happened during the walk" % order_label,
            stats["created"] >= 5 and stats["deleted"] >= 5, stats)
    dup = {i for i in seen if seen.count(i) > 1}
    T.check("%s: no task repeated" % order_label, not dup, "%d repeated" % len(dup))
    missing = stable - set(seen)
    T.check("%s: no stable task skipped (%d of %d seen)" % (order_label, len(stable & set(seen)),
                                                             len(stable)),
            not missing, "%d skipped" % len(missing))
    order = [k for k in order if k is not None]
    bad = [k for k in range(1, len(order)) if order[k] < order[k - 1]]
    T.check("%s: keys in sort order across pages" % order_label, not bad,
            "out of order at %r" % [(order[k - 1], order[k]) for k in bad[:5]])


def run():
    srv = TT.start_server()
    ct = lambda t: (t.create_time.seconds, t.create_time.nanos)  # noqa: E731
    cases = [
        ("order CREATED", {}, ct),
        ("order DUE asc", {"order_by": "TASK_ORDER_BY_DUE"}, due_key),
        ("order PRIORITY desc", {"order_by": "TASK_ORDER_BY_PRIORITY", "descending": True},
         lambda t: -t.priority),
        ("order TITLE", {"order_by": "TASK_ORDER_BY_TITLE"}, lambda t: 0),
        ("tag filter + DUE", {"order_by": "TASK_ORDER_BY_DUE", "tags_any": ["walk"]}, due_key),
    ]
    for label, req, key in cases:
        TT.section("pagination during writes: " + label, walk, srv, label, req, key)
    srv.stop()


if __name__ == "__main__":
    T.main(run)
