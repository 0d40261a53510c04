"""0140-deadline-cancel: deadlines (DEADLINE_EXCEEDED) and client cancellation free the
call on the server: td_rpc_active_calls on /metrics returns to 0."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tdtest as T  # noqa: E402
import grpc  # noqa: E402


def active(srv):
    return srv.metric("td_rpc_active_calls")


def back_to_zero(srv, name, timeout=5.0):
    v = T.wait_until(lambda: active(srv) == 0, timeout * T.SLOW, 0.1)
    return T.check(name, v, "td_rpc_active_calls=%r" % active(srv))


def drain(call):
    msgs = []
    try:
        for m in call:
            msgs.append(m)
        return msgs, call.code()
    except grpc.RpcError as e:
        return msgs, e.code()


def run():
    T.require_services("postgres", "redis")
    srv = T.Server().start()
    ch = srv.channel()
    T.check("metrics expose td_rpc_active_calls", active(srv) is not None, srv.metrics()[:2000])

    # Watch with a 1 s deadline: SERVING, then DEADLINE_EXCEEDED.
    t0 = time.monotonic()
    msgs, code = drain(T.stream(ch, T.HEALTH_WATCH, {"service": ""}, timeout=1.0))
    took = time.monotonic() - t0
    T.check("Watch(timeout=1s) -> DEADLINE_EXCEEDED", code == grpc.StatusCode.DEADLINE_EXCEEDED,
            "code=%s msgs=%d" % (code, len(msgs)))
    T.check("Watch(timeout=1s) got SERVING first", msgs and msgs[0].status == T.SERVING, repr(msgs))
    T.check("Watch(timeout=1s) ended in time", 0.8 <= took < 4 * T.SLOW, "took %.2fs" % took)
    back_to_zero(srv, "active calls back to 0 after deadline")

    # Unary and streaming calls with an already-tiny deadline.
    r = T.unary(ch, T.HEALTH_CHECK, {"service": ""}, timeout=0.000001)
    T.check("Check with a 1 us deadline -> DEADLINE_EXCEEDED", r.code == grpc.StatusCode.DEADLINE_EXCEEDED, repr(r))
    r = T.unary(ch, T.GET_TASK, {"id": "x"}, metadata=T.bearer(T.token()), timeout=0.000001)
    T.check("GetTask with a 1 us deadline -> DEADLINE_EXCEEDED", r.code == grpc.StatusCode.DEADLINE_EXCEEDED, repr(r))
    # Deadline via raw grpc-timeout header (curl): 1 nanosecond, the server must honour it.
    hd, data, rc = T.curl_grpc(srv.addr, T.HEALTH_WATCH, T.grpc_frame(b""), headers=("grpc-timeout: 1n",))
    T.check("raw Watch with grpc-timeout: 1n -> DEADLINE_EXCEEDED (4)", hd.get("grpc-status") == "4",
            "rc=%s headers=%s" % (rc, hd))
    hd, data, rc = T.curl_grpc(srv.addr, T.HEALTH_WATCH, T.grpc_frame(b""), headers=("grpc-timeout: 300m",))
    T.check("raw Watch with grpc-timeout: 300m -> DEADLINE_EXCEEDED (4) after a SERVING message",
            hd.get("grpc-status") == "4" and T.grpc_frames(data)[:1] == [(0, b"\x08\x01")],
            "rc=%s headers=%s body=%r" % (rc, hd, data[:40]))
    back_to_zero(srv, "active calls back to 0 after tiny deadlines")

    # One Watch cancelled by the client.
    w = T.stream(ch, T.HEALTH_WATCH, {"service": ""})
    first = next(w)
    T.check("Watch stream open: SERVING", first.status == T.SERVING, repr(first))
    T.check("active calls counts the open stream", T.wait_until(lambda: (active(srv) or 0) >= 1, 3 * T.SLOW),
            "td_rpc_active_calls=%r" % active(srv))
    w.cancel()
    T.check("cancelled Watch reports CANCELLED on the client", w.code() == grpc.StatusCode.CANCELLED, repr(w.code()))
    back_to_zero(srv, "active calls back to 0 after client cancel")

    # 50 Watch streams (on several channels), then cancel them all.
    chans = [srv.channel() for _ in range(5)]
    streams = []
    for i in range(50):
        s = T.stream(chans[i % 5], T.HEALTH_WATCH, {"service": T.SERVICES[i % 4] if i % 2 else ""})
        streams.append(s)
    firsts = [next(s, None) for s in streams]
    T.check("50 Watch streams all got SERVING", all(f is not None and f.status == T.SERVING for f in firsts),
            "%d ok" % sum(1 for f in firsts if f is not None and f.status == T.SERVING))
    n = T.wait_until(lambda: (active(srv) or 0) >= 50, 5 * T.SLOW)
    T.check("active calls reaches 50", n, "td_rpc_active_calls=%r" % active(srv))
    for s in streams:
        s.cancel()
    back_to_zero(srv, "active calls back to 0 after cancelling 50 streams", 10.0)

    # 50 streams on a channel that is closed (connection loss) instead of cancelled.
    lost = srv.channel()
    streams = [T.stream(lost, T.HEALTH_WATCH, {"service": ""}) for _ in range(50)]
    for s in streams:
        next(s, None)
    T.wait_until(lambda: (active(srv) or 0) >= 50, 5 * T.SLOW)
    lost.close()
    back_to_zero(srv, "active calls back to 0 after the client connection closes", 10.0)

    # Mixed: unary calls with short deadlines while streams come and go.
    futs = [T.unary_future(ch, T.GET_TASK, {"id": "x"}, metadata=T.bearer(T.token()), timeout=0.05)
            for _ in range(100)]
    codes = {T.future_result(f).code for f in futs}
    T.check("100 short-deadline unary calls end with good-path or DEADLINE_EXCEEDED",
            codes <= set(T.GOOD_PATH_CODES) | {grpc.StatusCode.DEADLINE_EXCEEDED}, repr(codes))
    back_to_zero(srv, "active calls back to 0 after short-deadline unary calls")

    r, st = T.health_check(ch, "")
    T.check("server still serving", st == T.SERVING, repr(r))
    srv.stop()


T.main(run)
