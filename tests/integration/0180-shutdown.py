"""0180-shutdown: SIGTERM with a Watch stream open and unary calls in flight: the stream
ends with UNAVAILABLE, in-flight unary calls complete normally (or are refused as
UNAVAILABLE when they arrive after shutdown began), the process exits 0 within the
grace period and new connections are refused afterwards."""
import os
import queue
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tdtest as T  # noqa: E402
import grpc  # noqa: E402

C = grpc.StatusCode


def run():
    T.require_services("postgres", "redis")
    grace_ms = 4000
    # One user drives thousands of calls a second here; the rate limit is not under test.
    srv = T.Server(env={"TODO_SHUTDOWN_GRACE_MS": str(grace_ms), "TODO_RATE_LIMIT_RPS": "0"}).start()
    ch = srv.channel()
    tok = T.bearer(T.token())

    watch = T.stream(ch, T.HEALTH_WATCH, {"service": ""})
    first = next(watch)
    T.check("Watch open: SERVING", first.status == T.SERVING, repr(first))
    events = queue.Queue()

    def follow():
        try:
            for m in watch:
                events.put(("msg", m.status))
            events.put(("end", watch.code(), watch.details()))
        except grpc.RpcError as e:
            events.put(("end", e.code(), e.details()))
    T.in_thread(follow)

    # Unary calls in a loop on 4 threads, through the SIGTERM.
    stop = threading.Event()
    results = []
    lock = threading.Lock()

    def hammer(i):
        while not stop.is_set():
            t = time.monotonic()
            r = T.unary(ch, T.GET_TASK if i % 2 else T.HEALTH_CHECK,
                        {"id": "x"} if i % 2 else {"service": ""}, metadata=tok, timeout=10)
            with lock:
                results.append((t, r.code, r.details))
            if r.code == C.UNAVAILABLE:
                break
    threads = [T.in_thread(hammer, i) for i in range(4)]
    time.sleep(0.5)
    with lock:
        n_before = len(results)
    T.check("calls flowing before SIGTERM", n_before > 0, "none")

    t_sig = time.monotonic()
    srv.signal(signal.SIGTERM)
    rc = srv.wait((grace_ms / 1000.0 + 5) * T.SLOW)
    took = time.monotonic() - t_sig
    stop.set()
    for t in threads:
        t.join(15)
    T.check("process exits after SIGTERM", rc is not None, "still running after %.1fs\n%s" % (took, srv.log_tail()))
    T.check("exit code 0", rc == 0, "rc=%r\n%s" % (rc, srv.log_tail()))
    T.check("exits within the grace period (+2 s)", took < (grace_ms / 1000.0 + 2) * T.SLOW, "took %.1fs" % took)

    ev = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            e = events.get(timeout=0.5)
        except queue.Empty:
            continue
        ev.append(e)
        if e[0] == "end":
            break
    end = [e for e in ev if e[0] == "end"]
    T.check("open Watch stream ends with UNAVAILABLE", end and end[0][1] == C.UNAVAILABLE, repr(ev))
    T.check("Watch may announce NOT_SERVING but never anything else", all(e[1] in (T.NOT_SERVING,) for e in ev if e[0] == "msg"),
            repr(ev))

    # Calls racing the signal (started within 50 ms of it, or later) may also be CANCELLED:
    # grpc core cancels calls it has not yet handed to the application once shutdown began.
    race = 0.05
    bad = [(round(t - t_sig, 3), c, d) for t, c, d in results
           if c not in T.GOOD_PATH_CODES and c != C.UNAVAILABLE
           and not (c == C.CANCELLED and t >= t_sig - race)]
    T.check("every unary call completed normally or was refused (UNAVAILABLE; CANCELLED when racing the signal)",
            not bad, repr(bad[:10]))
    T.log("unary calls: %d before SIGTERM, %d after; codes after: %s" % (
        sum(1 for r in results if r[0] < t_sig), sum(1 for r in results if r[0] >= t_sig),
        sorted({r[1].name for r in results if r[0] >= t_sig - race})))
    before_sig = [(c, d) for t, c, d in results if t < t_sig - race]
    T.check("unary calls started before SIGTERM completed normally",
            all(c in T.GOOD_PATH_CODES for c, _ in before_sig),
            repr([x for x in before_sig if x[0] not in T.GOOD_PATH_CODES][:10]))

    T.check("new connections are refused after exit", not T.port_open(srv.port), "port %d still open" % srv.port)
    r = T.unary(T.grpc.insecure_channel(srv.addr), T.HEALTH_CHECK, {"service": ""}, timeout=2)
    T.check("a new call after exit fails UNAVAILABLE", r.code == C.UNAVAILABLE, repr(r))
    srv.stop()  # already exited: reports exit code + sanitizer-clean log

    # Idle server (no call in flight): exits 0 well before the grace period ends, for
    # SIGTERM and SIGINT, with no client connected and with an idle client connected.
    for sig in (signal.SIGTERM, signal.SIGINT):
        for connected in (False, True):
            what = "%s, %s" % (sig.name, "idle client connected" if connected else "no client")
            s2 = T.Server(name="idle-%s-%s" % (sig.name, "conn" if connected else "noconn"),
                          env={"TODO_SHUTDOWN_GRACE_MS": "8000"}).start()
            if connected:
                keep = s2.channel()
                T.health_check(keep, "")
            else:
                for c in s2._channels:
                    c.close()
                s2._channels = []
            t0 = time.monotonic()
            s2.signal(sig)
            rc = s2.wait(20 * T.SLOW)
            took = time.monotonic() - t0
            T.check("idle server (%s) exits 0 quickly (< 3 s; grace is 8 s)" % what,
                    rc == 0 and took < 3 * T.SLOW, "rc=%r after %.1fs" % (rc, took))
            s2.stop()


T.main(run)
