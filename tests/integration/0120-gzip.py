"""0120-gzip: gzip both ways. Requests: python-grpcio with Compression.Gzip and a
hand-gzipped curl body. Responses: curl --http2-prior-knowledge with
grpc-accept-encoding: gzip -> grpc-encoding: gzip, and a large (reflection) response
arrives with the compressed flag set and inflates to a valid message."""
import gzip
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tdtest as T  # noqa: E402
import grpc  # noqa: E402


def run():
    T.require_services("postgres", "redis")
    srv = T.Server().start()
    P = T.protos()

    # --- requests compressed by grpcio (call-level and channel-level)
    ch = srv.channel()
    r = T.unary(ch, T.HEALTH_CHECK, {"service": "todo.v1.TaskService"}, compression=grpc.Compression.Gzip)
    T.check("grpcio gzip request: Health/Check OK", r.code == grpc.StatusCode.OK and r.response.status == T.SERVING, repr(r))
    big_id = "a" * 20000  # compressible: the core keeps gzip only when it is smaller
    r = T.unary(ch, T.GET_TASK, {"id": big_id}, metadata=T.bearer(T.token()), compression=grpc.Compression.Gzip)
    T.check("grpcio gzip request (20 KB, compressed on the wire): GetTask past auth and decode",
            r.code in T.GOOD_PATH_CODES, repr(r))
    chz = srv.channel(compression=grpc.Compression.Gzip)
    r = T.unary(chz, T.HEALTH_CHECK, {"service": ""})
    T.check("grpcio gzip channel: Health/Check OK", r.code == grpc.StatusCode.OK and r.response.status == T.SERVING, repr(r))
    w = T.stream(chz, T.HEALTH_WATCH, {"service": ""}, timeout=10 * T.SLOW)
    first = next(iter(w), None)
    T.check("grpcio gzip channel: Watch first message SERVING", first is not None and first.status == T.SERVING, repr(first))
    w.cancel()

    # --- a gzip-compressed request by hand (flag 1 + gzip), via curl
    req = P.msg("grpc.health.v1.HealthCheckRequest", service="todo.v1.TaskService").SerializeToString()
    body = T.grpc_frame(gzip.compress(req), compressed=True)
    hd, data, rc = T.curl_grpc(srv.addr, T.HEALTH_CHECK, body,
                               headers=("grpc-encoding: gzip", "grpc-accept-encoding: identity"))
    frames = T.grpc_frames(data)
    T.check("curl gzip request: grpc-status 0", rc == 0 and hd.get("grpc-status") == "0", "rc=%s headers=%s" % (rc, hd))
    resp = P.cls("grpc.health.v1.HealthCheckResponse")
    okmsg = len(frames) == 1 and frames[0][0] == 0 and resp.FromString(frames[0][1]).status == T.SERVING
    T.check("curl gzip request: identity response SERVING", okmsg, "frames=%r" % (frames,))

    # --- response compression: header on a small unary response
    body = T.grpc_frame(req)
    hd, data, rc = T.curl_grpc(srv.addr, T.HEALTH_CHECK, body, headers=("grpc-accept-encoding: gzip",))
    T.check("curl accept gzip: response has grpc-encoding: gzip", hd.get("grpc-encoding") == "gzip",
            "rc=%s headers=%s" % (rc, hd))
    frames = T.grpc_frames(data)
    good = False
    if len(frames) == 1:
        flag, payload = frames[0]
        payload = gzip.decompress(payload) if flag == 1 else payload
        good = resp.FromString(payload).status == T.SERVING
    T.check("curl accept gzip: Health/Check answer decodes (flag 0 or gzip)", good and hd.get("grpc-status") == "0",
            "frames=%r headers=%s" % (frames, hd))

    # --- no accept-encoding -> no gzip
    hd, data, rc = T.curl_grpc(srv.addr, T.HEALTH_CHECK, body, headers=("grpc-accept-encoding: identity",))
    frames = T.grpc_frames(data)
    T.check("curl identity only: response not gzip", hd.get("grpc-encoding", "identity") == "identity"
            and all(f == 0 for f, _ in frames) and hd.get("grpc-status") == "0", "headers=%s frames=%r" % (hd, frames))

    # --- a large response (reflection: the descriptor of todo/v1/task.proto) is compressed
    rreq = P.msg("grpc.reflection.v1.ServerReflectionRequest",
                 file_containing_symbol="todo.v1.TaskService").SerializeToString()
    hd, data, rc = T.curl_grpc(srv.addr, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                               T.grpc_frame(rreq), headers=("grpc-accept-encoding: gzip",))
    frames = T.grpc_frames(data)
    T.check("large response: grpc-encoding gzip and status 0", hd.get("grpc-encoding") == "gzip" and hd.get("grpc-status") == "0",
            "rc=%s headers=%s" % (rc, hd))
    if frames:
        flag, payload = frames[0]
        T.check("large response: compressed flag set", flag == 1, "flag=%d len=%d" % (flag, len(payload)))
        try:
            raw = gzip.decompress(payload) if flag == 1 else payload
            rr = P.cls("grpc.reflection.v1.ServerReflectionResponse").FromString(raw)
            files = list(rr.file_descriptor_response.file_descriptor_proto)
            T.check("large response: inflates to a ServerReflectionResponse with task.proto",
                    any(b"todo/v1/task.proto" in f for f in files) and len(raw) > len(payload),
                    "files=%d raw=%d wire=%d" % (len(files), len(raw), len(payload)))
        except Exception as e:  # noqa: BLE001
            T.fail("large response: inflates to a ServerReflectionResponse", repr(e))
    else:
        T.fail("large response: one message", "no frames; headers=%s" % hd)

    # --- an error with gzip accepted still carries status + details
    hd, data, rc = T.curl_grpc(srv.addr, T.HEALTH_CHECK,
                               T.grpc_frame(P.msg("grpc.health.v1.HealthCheckRequest", service="nope").SerializeToString()),
                               headers=("grpc-accept-encoding: gzip",))
    T.check("curl accept gzip: unknown service -> grpc-status 5 (NOT_FOUND)", hd.get("grpc-status") == "5", "headers=%s" % hd)

    T.check("server still alive", srv.alive(), srv.log_tail())
    srv.stop()


T.main(run)
