#!/usr/bin/env bash
# 0200-valgrind: todo-server under valgrind memcheck through a run of bad inputs (bad
# JWTs, malformed bytes, oversized and gzip messages, unknown methods, cancels, deadlines,
# Watch streams left open), then SIGTERM: exit 0, no memcheck errors, no definite leaks.
# Skipped for sanitizer builds (ASan and valgrind don't mix).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
case "${TD_SANITIZE:-}" in
  1|ON|on|On|TRUE|true|True|YES|yes)
    echo "ok - valgrind # SKIP sanitizer build (TD_SANITIZE=${TD_SANITIZE}); valgrind runs on the plain build"
    exit 0 ;;
esac
command -v valgrind >/dev/null || { echo "not ok - valgrind installed: missing (ci/deps.sh installs it)"; exit 1; }

exec /usr/bin/python3 - "$@" <<'PYEOF'
import os, re, sys, time
sys.path.insert(0, os.environ.get("TD_SOURCE_DIR", os.getcwd()) + "/tests/integration")
import tdtest as T
T._name = "0200-valgrind.sh"
import grpc

C = grpc.StatusCode


def run():
    T.require_services("postgres", "redis")
    vlog = os.path.join(T.tempfile.mkdtemp(prefix="td-vg-"), "valgrind.log")
    prefix = ["valgrind", "--tool=memcheck", "--leak-check=full", "--show-leak-kinds=definite",
              "--errors-for-leak-kinds=definite", "--error-exitcode=99", "--track-fds=no",
              "--num-callers=30", "--log-file=" + vlog]
    srv = T.Server(prefix=prefix, name="valgrind-server",
                   env={"TODO_GRPC_THREADS": "4", "TODO_RATE_LIMIT_RPS": "50", "TODO_DB_LIST_CONNECTIONS": "1",
                        "TODO_MAX_MESSAGE_BYTES": "262144", "TODO_SHUTDOWN_GRACE_MS": "3000"})
    srv.start(timeout=60)
    ch = srv.channel()
    tok = T.bearer(T.token("vg-user"))
    cl = T.claims
    jwts = [(), T.bearer("garbage"), T.bearer("a.b.c"), T.bearer(T.jwt_none(cl())),
            T.bearer(T.jwt_hs(cl(), alg="HS384")), T.bearer(T.jwt_hs(cl())[:-3] + "xyz"),
            T.bearer(T.jwt_hs(cl(ttl=-3600))), T.bearer(T.jwt_hs(cl(sub=None))),
            T.bearer(T.jwt_hs(cl(sub=""))), (("authorization", "Basic Zm9vOmJhcg=="),),
            T.bearer(T.jwt_hs(cl(), secret="x" * 40)), T.bearer(T.jwt_hs([1, 2]))]
    codes = [T.unary(ch, T.GET_TASK, {"id": "x"}, metadata=m, timeout=30).code for m in jwts]
    T.check("bad JWTs -> UNAUTHENTICATED", all(c == C.UNAUTHENTICATED for c in codes), [c.name for c in codes])
    r = T.unary(ch, T.GET_TASK, {"id": "x"}, metadata=tok, timeout=30)
    T.check("good JWT passes auth", r.code in T.GOOD_PATH_CODES, repr(r))

    # GetTask on the pipelined read sessions: found, missing, and calls the client abandons
    # (short deadlines) while their query is in flight.
    r = T.unary(ch, "/todo.v1.TaskService/CreateTask", {"task": {"title": "valgrind task"}},
                metadata=tok, timeout=30)
    T.check("CreateTask OK", r.code == C.OK, repr(r))
    tid = r.response.id if r.code == C.OK else "00000000-0000-4000-8000-000000000000"
    r = T.unary(ch, T.GET_TASK, {"id": tid}, metadata=tok, timeout=30)
    T.check("GetTask OK (pipelined read)", r.code == C.OK, repr(r))
    r = T.unary(ch, T.GET_TASK, {"id": "00000000-0000-4000-8000-000000000000"}, metadata=tok, timeout=30)
    T.check("GetTask of a missing id -> NOT_FOUND", r.code == C.NOT_FOUND, repr(r))
    # ListTasks tag/search pages: prepared per session and kept in an LRU of 32 per
    # list connection (one here), so 36 shapes fill and evict it; repeats run generic plans.
    bad, calls = [], 0
    listers = [T.bearer(T.token("vg-list-%d" % i)) for i in range(3)]  # 16 calls each: < 50 rps
    for order in ("DUE", "PRIORITY", "CREATED", "UPDATED", "TITLE", "RELEVANCE"):
        for completion in ("", "COMPLETION_FILTER_OPEN", "COMPLETION_FILTER_COMPLETED"):
            for prio in ([], ["PRIORITY_HIGH"]):
                req = {"order_by": "TASK_ORDER_BY_" + order, "priorities": prio}
                req.update({"search": "valgrind"} if order == "RELEVANCE" else {"tags_any": ["vg"]})
                if completion:
                    req["completion"] = completion
                for _ in range(2 if prio else 1):
                    calls += 1
                    r = T.unary(ch, "/todo.v1.TaskService/ListTasks", req,
                                metadata=listers[calls % 3], timeout=30)
                    if r.code != C.OK:
                        bad.append("%s: %s" % (req, r.code))
    T.check("36 prepared ListTasks shapes OK", not bad, "; ".join(bad[:3]))
    futs = [T.unary_future(ch, T.GET_TASK, {"id": tid}, metadata=tok, timeout=0.002 * (i % 5 + 1))
            for i in range(40)]
    codes = {T.future_result(f).code for f in futs}
    T.check("abandoned GetTasks end OK or DEADLINE_EXCEEDED",
            codes <= {C.OK, C.DEADLINE_EXCEEDED}, sorted(c.name for c in codes))

    for raw in (b"\x0a\xff\xff\xff\xff\x0f", b"\x08\x80", b"\x0a\x10abc", b"\x0f\x01", b"\x0a\x02\xff\xfe"):
        r = T.unary(ch, T.HEALTH_CHECK, raw, timeout=30)
        T.check("malformed %r -> INVALID_ARGUMENT" % raw, r.code == C.INVALID_ARGUMENT, repr(r))
        T.unary(ch, T.GET_TASK, raw, metadata=tok, timeout=30)
    r = T.unary(ch, T.GET_TASK, {"id": "x" * 300000}, metadata=tok, timeout=30)
    T.check("oversized -> RESOURCE_EXHAUSTED", r.code == C.RESOURCE_EXHAUSTED, repr(r))
    r = T.unary(ch, T.GET_TASK, {"id": "x" * 300000}, metadata=tok, timeout=30, compression=grpc.Compression.Gzip)
    T.check("gzip inflating past the limit -> RESOURCE_EXHAUSTED", r.code == C.RESOURCE_EXHAUSTED, repr(r))
    r = T.unary(ch, T.HEALTH_CHECK, {"service": "todo.v1.TaskService"}, timeout=30, compression=grpc.Compression.Gzip)
    T.check("gzip request OK", r.code == C.OK, repr(r))
    r = T.unary(ch, "/no.such.Service/Method", b"", timeout=30)
    T.check("unknown method -> UNIMPLEMENTED", r.code == C.UNIMPLEMENTED, repr(r))
    r = T.unary(ch, T.HEALTH_CHECK, {"service": "nope"}, timeout=30)
    T.check("unknown health service -> NOT_FOUND", r.code == C.NOT_FOUND, repr(r))
    T.curl_grpc(srv.addr, T.HEALTH_CHECK, b"\x00\x00", timeout=30)
    T.curl_grpc(srv.addr, T.HEALTH_CHECK, b"", timeout=30)
    T.curl_grpc(srv.addr, T.HEALTH_CHECK, T.grpc_frame(b"\x00\x01", compressed=True),
                headers=("grpc-encoding: gzip",), timeout=30)

    # Rate limit: a burst past 50 rps.
    futs = [T.unary_future(ch, T.GET_TASK, {"id": "x"}, metadata=T.bearer(T.token("vg-burst")), timeout=60)
            for _ in range(120)]
    codes = {T.future_result(f).code for f in futs}
    T.check("burst ends in good-path codes or RESOURCE_EXHAUSTED",
            codes <= set(T.GOOD_PATH_CODES) | {C.RESOURCE_EXHAUSTED}, sorted(c.name for c in codes))

    # Deadlines and cancels.
    w = T.stream(ch, T.HEALTH_WATCH, {"service": ""}, timeout=2.0)
    try:
        list(w)
    except grpc.RpcError:
        pass
    T.check("Watch with deadline -> DEADLINE_EXCEEDED", w.code() == C.DEADLINE_EXCEEDED, repr(w.code()))
    T.unary(ch, T.HEALTH_CHECK, {"service": ""}, timeout=0.000001)
    for i in range(10):
        s = T.stream(ch, T.HEALTH_WATCH, {"service": "" if i % 2 else "no.such"})
        next(s, None)
        s.cancel()
    w = T.stream(ch, "/todo.v1.TaskService/WatchTasks", None, metadata=tok, timeout=10)
    try:
        next(w, None)
    except grpc.RpcError:
        pass
    w.cancel()
    # Streams left open for shutdown to end, and a closed connection with open streams.
    open_streams = [T.stream(ch, T.HEALTH_WATCH, {"service": ""}) for _ in range(5)]
    for s in open_streams:
        next(s, None)
    lost = srv.channel()
    ls = [T.stream(lost, T.HEALTH_WATCH, {"service": ""}) for _ in range(5)]
    for s in ls:
        next(s, None)
    lost.close()
    cp = T.grpcurl("-plaintext", "-max-time", "60", srv.addr, "describe", "todo.v1.TaskService", timeout=90)
    T.check("reflection describe under valgrind", cp.returncode == 0, cp.stderr[-500:])
    T.check("still serving", T.health_check(ch, "", timeout=30)[1] == T.SERVING, srv.log_tail())

    srv.stop(timeout=60)
    with open(vlog, errors="replace") as f:
        text = f.read()
    m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    T.check("valgrind: ERROR SUMMARY 0 errors", m and m.group(1) == "0",
            (m.group(0) if m else "no summary") + "\n" + text[-6000:])
    dl = re.search(r"definitely lost: ([\d,]+) bytes", text)
    no_leaks = "All heap blocks were freed" in text
    T.check("valgrind: definitely lost 0 bytes", no_leaks or (dl and dl.group(1) == "0"),
            (dl.group(0) if dl else "no leak summary") + "\n" + text[-6000:])
    T.log("valgrind summary:\n" + "\n".join(l for l in text.splitlines() if "lost:" in l or "SUMMARY" in l))


T.main(run)
PYEOF
