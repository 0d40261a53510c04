"""0100-health: grpc.health.v1.Health Check/Watch, including PostgreSQL stopped ->
NOT_SERVING -> restarted -> SERVING. PostgreSQL is always restarted (finally)."""
import os
import queue
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tdtest as T  # noqa: E402
import grpc  # noqa: E402


def watch_into(call, q):
    try:
        for m in call:
            q.put(("msg", m.status))
        q.put(("end", call.code()))
    except grpc.RpcError as e:
        q.put(("end", e.code()))


def next_status(q, timeout):
    try:
        return q.get(timeout=timeout)
    except queue.Empty:
        return ("timeout", None)


def wait_status(q, want, timeout, srv):
    """Reads Watch messages until status `want` arrives; returns what was seen."""
    seen = []
    deadline = T.time.monotonic() + timeout
    while T.time.monotonic() < deadline and srv.alive():
        kind, v = next_status(q, min(1.0, max(0.1, deadline - T.time.monotonic())))
        if kind == "timeout":
            continue
        seen.append((kind, v))
        if kind == "msg" and v == want:
            return True, seen
        if kind == "end":
            break
    return False, seen


def run():
    T.require_services("postgres", "redis")
    srv = T.Server(env={"TODO_HEALTH_INTERVAL_MS": "200"}).start()
    ch = srv.channel()

    for name in [""] + T.SERVICES:
        r, st = T.health_check(ch, name)
        T.check("Check(%r) is SERVING" % name, st == T.SERVING, "got %r status %r" % (r, st))
    r, st = T.health_check(ch, "no.such.Service")
    T.check("Check(unknown) is NOT_FOUND", r.code == grpc.StatusCode.NOT_FOUND, repr(r))
    r = T.unary(ch, T.HEALTH_CHECK, {"service": ""}, metadata=(("authorization", "Bearer junk"),))
    T.check("Check ignores a bad token (public)", r.code == grpc.StatusCode.OK, repr(r))

    # Watch on an unknown service: SERVICE_UNKNOWN and the stream stays open.
    unk = T.stream(ch, T.HEALTH_WATCH, {"service": "no.such.Service"}, timeout=30)
    qu = queue.Queue()
    T.in_thread(watch_into, unk, qu)
    kind, v = next_status(qu, 5 * T.SLOW)
    T.check("Watch(unknown) sends SERVICE_UNKNOWN", (kind, v) == ("msg", T.SERVICE_UNKNOWN), (kind, v))
    kind, v = next_status(qu, 1.0)
    T.check("Watch(unknown) stays open", kind == "timeout", "got %s %s" % (kind, v))
    unk.cancel()

    # Watch "" and a service name: SERVING first.
    calls, queues = [], []
    for name in ("", "todo.v1.TaskService"):
        c = T.stream(ch, T.HEALTH_WATCH, {"service": name}, timeout=120 * T.SLOW)
        q = queue.Queue()
        T.in_thread(watch_into, c, q)
        calls.append(c)
        queues.append(q)
        kind, v = next_status(q, 5 * T.SLOW)
        T.check("Watch(%r) sends SERVING first" % name, (kind, v) == ("msg", T.SERVING), (kind, v))

    try:
        T.log("stopping PostgreSQL")
        T.services("stop", "postgres")
        for name, q in zip(("", "todo.v1.TaskService"), queues):
            got, seen = wait_status(q, T.NOT_SERVING, 15 * T.SLOW, srv)
            T.check("Watch(%r) gets NOT_SERVING with PostgreSQL down" % name, got, seen)
        r, st = T.health_check(ch, "")
        T.check("Check('') is NOT_SERVING with PostgreSQL down", st == T.NOT_SERVING, "%r %r" % (r, st))
        r, st = T.health_check(ch, "todo.v1.TagService")
        T.check("Check(TagService) is NOT_SERVING with PostgreSQL down", st == T.NOT_SERVING,
                "%r %r" % (r, st))
        r = T.unary(ch, T.GET_TASK, {"id": "x"}, metadata=T.bearer(T.token()))
        T.check("server still answers authenticated calls with PostgreSQL down",
                r.code in T.GOOD_PATH_CODES + (grpc.StatusCode.UNAVAILABLE,), repr(r))
    finally:
        T.log("starting PostgreSQL")
        T.services("start", "postgres")

    for name, q in zip(("", "todo.v1.TaskService"), queues):
        got, seen = wait_status(q, T.SERVING, 30 * T.SLOW, srv)
        T.check("Watch(%r) gets SERVING after PostgreSQL restart" % name, got, seen)
    ok = T.wait_until(lambda: T.health_check(ch, "")[1] == T.SERVING or not srv.alive(), 30 * T.SLOW) and srv.alive()
    T.check("Check('') is SERVING again", ok, "still %r" % (T.health_check(ch, "")[1],))
    for c in calls:
        c.cancel()
    T.check("server still alive", srv.alive(), srv.log_tail())
    srv.stop()


T.main(run)
