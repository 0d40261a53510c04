"""0170-ratelimit: per-user rate limit in Redis (TODO_RATE_LIMIT_RPS=20): a burst gets
RESOURCE_EXHAUSTED for that user only; with Redis stopped the limiter fails open and
td_ratelimit_redis_errors_total grows. Redis is always restarted (finally)."""
import collections
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tdtest as T  # noqa: E402
import grpc  # noqa: E402

C = grpc.StatusCode


def burst(ch, tok, n, timeout=10):
    futs = [T.unary_future(ch, T.GET_TASK, {"id": "x"}, metadata=T.bearer(tok), timeout=timeout) for _ in range(n)]
    res = [T.future_result(f) for f in futs]
    return collections.Counter(r.code for r in res), res


def names(cnt):
    return {(k.name if k else None): v for k, v in cnt.items()}


def run():
    T.require_services("postgres", "redis")
    srv = T.Server(env={"TODO_RATE_LIMIT_RPS": "20"}).start()
    ch = srv.channel()
    alice = T.token("rl-alice-%d" % os.getpid())
    bob = T.token("rl-bob-%d" % os.getpid())

    cnt, res = burst(ch, alice, 200)
    limited = cnt.get(C.RESOURCE_EXHAUSTED, 0)
    passed = sum(v for k, v in cnt.items() if k in T.GOOD_PATH_CODES)
    T.check("burst of 200: some RESOURCE_EXHAUSTED", limited > 0, names(cnt))
    T.check("burst of 200: some calls pass", passed > 0, names(cnt))
    T.check("burst of 200: no other codes", limited + passed == 200, names(cnt))
    T.check("burst of 200: at most ~2 s worth pass (<= 60)", passed <= 60, names(cnt))
    ex = [r for r in res if r.code == C.RESOURCE_EXHAUSTED]
    if ex:
        st = T.status_details(ex[0])
        T.check("RESOURCE_EXHAUSTED has a message and google.rpc.Status code 8",
                bool(ex[0].details) and st is not None and st.code == 8, "%r %r" % (ex[0], st))

    cnt, _ = burst(ch, bob, 10)
    T.check("another user is unaffected (10 calls pass)", all(k in T.GOOD_PATH_CODES for k in cnt), names(cnt))
    r, st = T.health_check(ch, "")
    T.check("public Health/Check is not rate limited", st == T.SERVING, repr(r))

    time.sleep(2.2)
    cnt, _ = burst(ch, alice, 5)
    T.check("the limited user recovers after the window", all(k in T.GOOD_PATH_CODES for k in cnt), names(cnt))

    before = srv.metric("td_ratelimit_redis_errors_total")
    T.check("metric td_ratelimit_redis_errors_total exported", before is not None, srv.metrics()[:1500])
    before = before or 0.0
    try:
        T.log("stopping Redis")
        T.services("stop", "redis")
        t0 = time.monotonic()
        cnt, _ = burst(ch, alice, 100, timeout=15)
        took = time.monotonic() - t0
        T.check("Redis down: 100 calls are not RESOURCE_EXHAUSTED (fail open)",
                all(k in T.GOOD_PATH_CODES for k in cnt), names(cnt))
        T.check("Redis down: calls stay fast (100 in < 10 s)", took < 10 * T.SLOW, "took %.1fs" % took)
        after = srv.metric("td_ratelimit_redis_errors_total") or 0.0
        T.check("Redis down: td_ratelimit_redis_errors_total increased", after > before,
                "before %s after %s" % (before, after))
        r, st = T.health_check(ch, "")
        T.check("Redis down: health still SERVING (PostgreSQL is up)", st == T.SERVING, repr(r))
    finally:
        T.log("starting Redis")
        T.services("start", "redis")

    # Limiter works again once Redis is back (reconnect).
    def limited_again():
        c, _ = burst(ch, T.token("rl-carol-%d-%d" % (os.getpid(), int(time.monotonic() * 1000))), 200)
        return c.get(C.RESOURCE_EXHAUSTED, 0) > 0
    T.check("Redis back: the limit applies again", T.wait_until(limited_again, 20 * T.SLOW, 1.0),
            "no RESOURCE_EXHAUSTED after Redis restart")
    T.check("server still alive", srv.alive(), srv.log_tail())
    srv.stop()

    # TODO_RATE_LIMIT_RPS=0 turns the limiter off.
    srv = T.Server(name="no-limit-server", env={"TODO_RATE_LIMIT_RPS": "0"}).start()
    cnt, _ = burst(srv.channel(), alice, 200)
    T.check("TODO_RATE_LIMIT_RPS=0: 200 calls, none limited", all(k in T.GOOD_PATH_CODES for k in cnt), names(cnt))
    srv.stop()


T.main(run)
