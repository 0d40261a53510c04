"""0150-limits: bad input gets a clear status and the server keeps serving: oversized
messages (default 4 MiB and TODO_MAX_MESSAGE_BYTES), malformed protobuf, invalid UTF-8,
unknown methods; errors carry grpc-status-details-bin = google.rpc.Status{code}."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tdtest as T  # noqa: E402
import grpc  # noqa: E402

C = grpc.StatusCode


def details_match(name, r, want_code):
    st = T.status_details(r)
    if st is None:
        return T.fail(name + ": grpc-status-details-bin present", "trailers %r" % (r.trailing,))
    T.check(name + ": google.rpc.Status.code == %d" % want_code.value[0], st.code == want_code.value[0],
            "status code %d, message %r" % (st.code, st.message))
    return st


def run():
    T.require_services("postgres", "redis")
    srv = T.Server().start()
    ch = srv.channel()
    tok = T.bearer(T.token())

    # ---- oversized (default limit 4 MiB)
    big = T.protos().msg("todo.v1.GetTaskRequest", id="x" * (5 << 20))
    r = T.unary(ch, T.GET_TASK, big, metadata=tok, timeout=30)
    T.check("5 MiB request -> RESOURCE_EXHAUSTED", r.code == C.RESOURCE_EXHAUSTED, repr(r))
    r = T.unary(ch, T.HEALTH_CHECK, b"\x0a\x80\x80\x40" + b"a" * (1 << 20), timeout=30)  # 1 MiB, fine
    T.check("1 MiB Health/Check request is decoded (NOT_FOUND for that name)", r.code == C.NOT_FOUND, repr(r))
    r = T.unary(ch, T.HEALTH_CHECK, {"service": ""}, compression=grpc.Compression.Gzip)
    T.check("serving after oversized request", r.code == C.OK, repr(r))

    # A compressed request that inflates past the limit (zip bomb-ish): 5 MiB of zeros -> few KB.
    r = T.unary(ch, T.GET_TASK, big, metadata=tok, compression=grpc.Compression.Gzip, timeout=30)
    T.check("gzip request inflating to 5 MiB -> RESOURCE_EXHAUSTED", r.code == C.RESOURCE_EXHAUSTED, repr(r))

    # ---- malformed protobuf bytes
    for label, raw in (("bad varint length", b"\x0a\xff\xff\xff\xff\x0f"),
                       ("truncated varint", b"\x08\x80"),
                       ("length past end", b"\x0a\x10abc"),
                       ("invalid wire type 7", b"\x0f\x01")):
        r = T.unary(ch, T.HEALTH_CHECK, raw)
        T.check("malformed Health/Check (%s) -> INVALID_ARGUMENT" % label, r.code == C.INVALID_ARGUMENT, repr(r))
        T.check("malformed Health/Check (%s): message names the type" % label,
                "HealthCheckRequest" in r.details, repr(r.details))
        if label == "bad varint length":
            details_match("malformed Health/Check", r, C.INVALID_ARGUMENT)
        # GetTask has no handler yet: UNIMPLEMENTED before decoding is acceptable until it lands.
        r = T.unary(ch, T.GET_TASK, raw, metadata=tok)
        T.check("malformed GetTask (%s) -> INVALID_ARGUMENT naming the type (or UNIMPLEMENTED for now)" % label,
                (r.code == C.INVALID_ARGUMENT and "GetTaskRequest" in r.details) or r.code == C.UNIMPLEMENTED, repr(r))
    # Malformed bytes without a token: authentication comes first.
    r = T.unary(ch, T.GET_TASK, b"\x0a\xff\xff\xff\xff\x0f")
    T.check("malformed GetTask without token -> UNAUTHENTICATED", r.code == C.UNAUTHENTICATED, repr(r))

    # ---- invalid UTF-8 in a string field
    r = T.unary(ch, T.HEALTH_CHECK, b"\x0a\x02\xff\xfe")
    T.check("invalid UTF-8 in HealthCheckRequest.service -> INVALID_ARGUMENT", r.code == C.INVALID_ARGUMENT, repr(r))
    T.check("invalid UTF-8: message names the field", "service" in r.details, repr(r.details))
    st = details_match("invalid UTF-8", r, C.INVALID_ARGUMENT)
    if st is not None:
        fields = T.bad_request_fields(st)
        T.check("invalid UTF-8: google.rpc.BadRequest names the field", any("service" in f for f in fields),
                "violations %r, details %r" % (fields, [a.type_url for a in st.details]))
    r = T.unary(ch, T.GET_TASK, b"\x0a\x03a\xc3\x28", metadata=tok)
    T.check("invalid UTF-8 in GetTaskRequest.id -> INVALID_ARGUMENT naming id (or UNIMPLEMENTED for now)",
            (r.code == C.INVALID_ARGUMENT and "id" in r.details) or r.code == C.UNIMPLEMENTED, repr(r))
    w = T.stream(ch, T.HEALTH_WATCH, b"\x0a\x02\xff\xfe", timeout=5)
    try:
        list(w)
        code = w.code()
    except grpc.RpcError as e:
        code = e.code()
    T.check("invalid UTF-8 in Watch request -> INVALID_ARGUMENT", code == C.INVALID_ARGUMENT, repr(code))

    # ---- unknown methods / services
    for path in ("/todo.v1.TaskService/NoSuchMethod", "/no.such.Service/Method", "/grpc.health.v1.Health/Nope"):
        r = T.unary(ch, path, b"", metadata=tok)
        T.check("unknown method %s -> UNIMPLEMENTED" % path, r.code == C.UNIMPLEMENTED, repr(r))
    r = T.unary(ch, "/no.such.Service/Method", b"")
    T.check("unknown method without token -> UNIMPLEMENTED", r.code == C.UNIMPLEMENTED, repr(r))
    details_match("unknown method", r, C.UNIMPLEMENTED)
    details_match("unauthenticated", T.unary(ch, T.GET_TASK, {"id": "x"}), C.UNAUTHENTICATED)
    details_match("NOT_FOUND health check", T.unary(ch, T.HEALTH_CHECK, {"service": "nope"}), C.NOT_FOUND)

    # ---- raw HTTP/2 oddities through curl
    hd, _, rc = T.curl_grpc(srv.addr, T.HEALTH_CHECK, b"\x00\x00\x00")  # truncated frame header
    T.check("truncated gRPC frame -> non-OK grpc-status", hd.get("grpc-status") not in (None, "0"), "headers=%s rc=%s" % (hd, rc))
    hd, _, rc = T.curl_grpc(srv.addr, T.HEALTH_CHECK, b"")  # no message at all
    T.check("no message to a unary method -> non-OK grpc-status", hd.get("grpc-status") not in (None, "0"), "headers=%s" % hd)
    hd, _, rc = T.curl_grpc(srv.addr, T.HEALTH_CHECK, T.grpc_frame(b"\x00\x01", compressed=True),
                            headers=("grpc-encoding: gzip",))  # flag 1, not gzip data
    # The core rejects it (a non-OK grpc-status, or a reset stream: curl rc != 0).
    T.check("corrupt gzip payload -> rejected", hd.get("grpc-status") not in (None, "0") or
            (rc != 0 and hd.get("grpc-status") is None), "headers=%s rc=%s" % (hd, rc))
    srv_ok = T.health_check(ch, "")[1] == T.SERVING
    T.check("server still serving after raw oddities", srv_ok, srv.log_tail())

    # ---- a server with TODO_MAX_MESSAGE_BYTES=65536
    small = T.Server(name="small-limit-server", env={"TODO_MAX_MESSAGE_BYTES": "65536"}).start()
    sch = small.channel()
    r = T.unary(sch, T.GET_TASK, {"id": "x" * (100 << 10)}, metadata=tok)
    T.check("limit 64 KiB: 100 KiB request -> RESOURCE_EXHAUSTED", r.code == C.RESOURCE_EXHAUSTED, repr(r))
    r = T.unary(sch, T.HEALTH_CHECK, {"service": "y" * (60 << 10)})
    T.check("limit 64 KiB: 60 KiB request is accepted (NOT_FOUND)", r.code == C.NOT_FOUND, repr(r))
    T.check("limit 64 KiB: still serving", T.health_check(sch, "")[1] == T.SERVING, small.log_tail())
    small.stop()

    T.check("server still alive", srv.alive(), srv.log_tail())
    T.check("server still serving after all bad input", T.health_check(ch, "")[1] == T.SERVING, srv.log_tail())
    srv.stop()


T.main(run)
