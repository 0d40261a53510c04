#!/usr/bin/python3
"""Helper for tests/bench/run.sh (Debian python3-grpcio + python3-protobuf).

  encode  turn a JSON request into a gRPC-framed body for h2load (-d FILE):
          grpccheck.py encode --descset D [--descset D2] --method /pkg.Svc/M
                              --json '{}' --out FILE
  check   make N real gRPC calls and verify the gRPC status (h2load only sees
          HTTP 200, never grpc-status), optionally checking the response:
          grpccheck.py check --addr 127.0.0.1:P --method /pkg.Svc/M
                             --body FILE [-H 'k: v']... [-n 200]
                             [--descset D]... [--expect-json SUBSTR]
                             [--expect-status NAME]
          Exit 0 when every call returned NAME (default OK; and matched), 1 otherwise.
  wait    poll until a Health/Check answers (any status) or timeout.
"""
import argparse
import struct
import sys
import time

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format
from google.protobuf import message_factory


def load_pool(paths):
    pool = descriptor_pool.DescriptorPool()
    seen = set()
    for p in paths or []:
        fds = descriptor_pb2.FileDescriptorSet()
        with open(p, "rb") as f:
            fds.ParseFromString(f.read())
        for fd in fds.file:
            if fd.name in seen:
                continue
            seen.add(fd.name)
            pool.Add(fd)
    return pool


def method_types(pool, method):
    # method: /pkg.Service/Method
    parts = method.strip("/").split("/")
    if len(parts) != 2:
        raise SystemExit(f"bad method {method!r}: want /pkg.Service/Method")
    svc = pool.FindServiceByName(parts[0])
    m = svc.FindMethodByName(parts[1])
    if m is None:
        raise SystemExit(f"method {parts[1]} not in {parts[0]}")
    return m.input_type, m.output_type


def proto_class(pool, desc):
    fac = message_factory.MessageFactory(pool)
    return fac.GetPrototype(desc)


def frame(raw):
    return struct.pack(">BI", 0, len(raw)) + raw


def unframe(body):
    if len(body) >= 5 and body[0] == 0 and struct.unpack(">I", body[1:5])[0] == len(body) - 5:
        return body[5:]
    return body


def cmd_encode(a):
    pool = load_pool(a.descset)
    try:
        in_desc, _ = method_types(pool, a.method)
    except KeyError as e:
        raise SystemExit(f"encode: {a.method} not found in {a.descset}: {e}")
    msg = proto_class(pool, in_desc)()
    json_format.Parse(a.json, msg)
    with open(a.out, "wb") as f:
        f.write(frame(msg.SerializeToString()))
    return 0


def parse_md(hs):
    md = []
    for h in hs or []:
        k, sep, v = h.partition(":")
        if not sep:
            raise SystemExit(f"bad header {h!r}: want 'key: value'")
        md.append((k.strip().lower(), v.strip()))
    return md


def cmd_check(a):
    with open(a.body, "rb") as f:
        req = unframe(f.read())
    out_cls = None
    if a.descset:
        try:
            pool = load_pool(a.descset)
            _, out_desc = method_types(pool, a.method)
            out_cls = proto_class(pool, out_desc)
        except (KeyError, SystemExit):
            out_cls = None
    md = parse_md(a.header)
    ch = grpc.insecure_channel(a.addr)
    call = ch.unary_unary(a.method)  # raw bytes in, raw bytes out
    hist = {}
    first_ok = None
    first_err = None
    for _ in range(a.n):
        try:
            resp = call(req, metadata=md, timeout=a.timeout)
            hist["OK"] = hist.get("OK", 0) + 1
            if first_ok is None:
                first_ok = resp
        except grpc.RpcError as e:
            name = e.code().name
            hist[name] = hist.get(name, 0) + 1
            if first_err is None:
                first_err = f"{name}: {e.details()}"
    ch.close()
    shown = ""
    if first_ok is not None:
        if out_cls is not None:
            m = out_cls()
            m.ParseFromString(first_ok)
            shown = json_format.MessageToJson(m, indent=None)
        else:
            shown = f"<{len(first_ok)} bytes>"
    dist = " ".join(f"{k}={v}" for k, v in sorted(hist.items()))
    ok = hist.get(a.expect_status, 0) == a.n
    if ok and a.expect_status == "OK" and a.expect_json and a.expect_json not in shown:
        ok = False
        first_err = f"response {shown} lacks {a.expect_json!r}"
    print(f"status {dist}; response {shown}" + ("" if ok else f"; FIRST ERROR {first_err}"))
    return 0 if ok else 1


def cmd_wait(a):
    deadline = time.time() + a.timeout
    ch = grpc.insecure_channel(a.addr)
    call = ch.unary_unary("/grpc.health.v1.Health/Check")
    while time.time() < deadline:
        try:
            call(b"", timeout=1.0)
            return 0
        except grpc.RpcError as e:
            if e.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                return 0  # it answered (e.g. UNAUTHENTICATED/NOT_FOUND): it is up
        time.sleep(0.1)
    return 1


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("encode")
    e.add_argument("--descset", action="append", required=True)
    e.add_argument("--method", required=True)
    e.add_argument("--json", default="{}")
    e.add_argument("--out", required=True)
    c = sub.add_parser("check")
    c.add_argument("--addr", required=True)
    c.add_argument("--method", required=True)
    c.add_argument("--body", required=True)
    c.add_argument("-H", "--header", action="append")
    c.add_argument("-n", type=int, default=200)
    c.add_argument("--timeout", type=float, default=5.0)
    c.add_argument("--descset", action="append")
    c.add_argument("--expect-json")
    c.add_argument("--expect-status", default="OK", help="gRPC code name every call must return")
    w = sub.add_parser("wait")
    w.add_argument("--addr", required=True)
    w.add_argument("--timeout", type=float, default=15.0)
    a = p.parse_args()
    return {"encode": cmd_encode, "check": cmd_check, "wait": cmd_wait}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
