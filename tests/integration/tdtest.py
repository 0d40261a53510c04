"""tdtest - a small harness for the integration tests (plain /usr/bin/python3).

Owns: locating the binaries of this build, starting todo-server subprocesses on free
ports (each with its own temp dir and stderr log), generic gRPC calls built from the
descriptor set (no generated stubs), JWT minting independent of the server's C code,
and TAP-like reporting ("ok - name" / "not ok - name: why"; exit 1 if any failed).

Environment (set by ctest; defaults suit a manual run from the repo root):
  TD_SOURCE_DIR  repo root                  TD_BUILD_DIR   <repo>/build
  TD_SERVER_BIN  <build>/server/todo-server TD_PROTOSET    <build>/proto/todo.protoset
  TD_SANITIZE    1/ON/TRUE for an ASan/UBSan build (longer timeouts; no valgrind)
  TODO_DATABASE_URL / TODO_REDIS_URL        passed through to the servers

Every server started here is stopped with SIGTERM by stop(); stop() asserts exit code 0
and a log free of sanitizer reports. Servers still alive at exit are killed (atexit).
"""
import atexit
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

# ------------------------------------------------------------------ locations
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("TD_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.environ.get("TD_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
SERVER_BIN = os.environ.get("TD_SERVER_BIN") or os.path.join(BUILD_DIR, "server", "todo-server")
PROTOSET = os.environ.get("TD_PROTOSET") or os.path.join(BUILD_DIR, "proto", "todo.protoset")
SANITIZE = os.environ.get("TD_SANITIZE", "").strip().upper() in ("1", "ON", "TRUE", "YES")
SERVICES_SH = os.path.join(SOURCE_DIR, "ci", "services.sh")

# Timeouts scale up under sanitizers (ASan start-up and calls are several times slower).
SLOW = 3.0 if SANITIZE else 1.0
DATABASE_URL = os.environ.get("TODO_DATABASE_URL", "postgresql://todo@127.0.0.1:5433/todo")
REDIS_URL = os.environ.get("TODO_REDIS_URL", "redis://127.0.0.1:6380/0")
JWT_SECRET = "integration-test-secret-0123456789abcdef"  # >= 32 bytes

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
                     "ERROR: ThreadSanitizer", "WARNING: ThreadSanitizer")

SERVICES = ["todo.v1.TaskService", "todo.v1.TagService", "todo.v1.ReminderService",
            "todo.v1.ActivityService"]

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
HEALTH_WATCH = "/grpc.health.v1.Health/Watch"
GET_TASK = "/todo.v1.TaskService/GetTask"
# Good-token path of a todo.v1 method: anything but an auth/limit failure.
GOOD_PATH_CODES = (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.OK,
                   grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)

# ------------------------------------------------------------------ reporting
_results = {"pass": 0, "fail": 0}
_name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "test"


def log(msg):
    print("# " + str(msg).replace("\n", "\n# "), flush=True)


def ok(name):
    _results["pass"] += 1
    print("ok - " + name, flush=True)


def fail(name, why=""):
    _results["fail"] += 1
    print("not ok - %s: %s" % (name, why), flush=True)


def check(name, cond, why=""):
    if cond:
        ok(name)
    else:
        fail(name, why)
    return bool(cond)


def skip(name, why):
    print("ok - %s # SKIP %s" % (name, why), flush=True)


def failed():
    return _results["fail"]


def main(fn):
    """Runs fn(), turns an uncaught exception into a failure, exits 1 on any failure."""
    t0 = time.monotonic()
    try:
        fn()
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - report everything, then fail
        fail("%s (unexpected exception)" % _name, "%s: %s" % (type(e).__name__, e))
        traceback.print_exc(file=sys.stdout)
    finally:
        _kill_leftovers()
    log("%s: %d passed, %d failed in %.1fs" % (_name, _results["pass"], _results["fail"],
                                               time.monotonic() - t0))
    sys.exit(1 if _results["fail"] or not _results["pass"] else 0)


# ------------------------------------------------------------------ small utilities
def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port, host="127.0.0.1", timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(fn, timeout, interval=0.1):
    """Polls fn() until it returns a truthy value (returned) or timeout (returns last)."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def services(action, *names, check_rc=True):
    """ci/services.sh start|stop|status NAME..."""
    r = subprocess.run([SERVICES_SH, action] + list(names), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=300)
    if check_rc and r.returncode != 0:
        raise RuntimeError("ci/services.sh %s %s failed (%d): %s" %
                           (action, " ".join(names), r.returncode, r.stdout[-2000:]))
    return r


def require_services(*names):
    """Fails loudly (not a skip) when a needed backing service is down."""
    r = services("status", *names, check_rc=False)
    if r.returncode != 0:
        log(r.stdout)
        log("starting: ci/services.sh start " + " ".join(names))
        services("start", *names)


def _go_env():
    env = dict(os.environ)
    env["PATH"] = env.get("PATH", "") + ":/usr/local/go/bin:/usr/lib/go/bin"
    return env


def _go():
    return shutil.which("go", path=_go_env()["PATH"])


def go_bin(name):
    """$(go env GOPATH)/bin/<name> (GOPATH defaults to ~/go)."""
    gopath = ""
    if _go():
        gopath = subprocess.run([_go(), "env", "GOPATH"], stdout=subprocess.PIPE, text=True,
                                env=_go_env()).stdout.strip().split(":")[0]
    return os.path.join(gopath or os.path.expanduser("~/go"), "bin", name)


def grpcurl_path():
    """$(go env GOPATH)/bin/grpcurl, installed with go install when missing."""
    path = go_bin("grpcurl")
    if not os.access(path, os.X_OK):
        log("grpcurl missing, installing with go install")
        subprocess.run([_go() or "go", "install", "github.com/fullstorydev/grpcurl/cmd/grpcurl@latest"],
                       check=True, env=_go_env(), timeout=600)
    return path


def grpcurl(*args, timeout=30, stdin=None):
    """Runs grpcurl with args; returns CompletedProcess (text, stdout+stderr separate)."""
    return subprocess.run([grpcurl_path()] + list(args), input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout * SLOW)


# ------------------------------------------------------------------ JWT (independent of the server)
def b64url(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def claims(sub="user-1", ttl=300, **extra):
    now = int(time.time())
    c = {"iat": now, "exp": now + ttl}
    if sub is not None:
        c["sub"] = sub
    c.update(extra)
    return c


def _signing_input(header, payload):
    return b64url(json.dumps(header, separators=(",", ":"))) + "." + \
        b64url(json.dumps(payload, separators=(",", ":")))


def jwt_hs(payload, secret=JWT_SECRET, alg="HS256", header=None):
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    h = header if header is not None else {"alg": alg, "typ": "JWT"}
    si = _signing_input(h, payload)
    key = secret.encode() if isinstance(secret, str) else secret
    return si + "." + b64url(hmac.new(key, si.encode(), digest).digest())


def jwt_none(payload):
    return _signing_input({"alg": "none", "typ": "JWT"}, payload) + "."


def jwt_rs256(payload, private_key_pem_file, header=None):
    h = header if header is not None else {"alg": "RS256", "typ": "JWT"}
    si = _signing_input(h, payload)
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", private_key_pem_file],
                         input=si.encode(), stdout=subprocess.PIPE, check=True).stdout
    return si + "." + b64url(sig)


def token(sub="user-1", ttl=300, **extra):
    """A valid HS256 token for the default test secret."""
    return jwt_hs(claims(sub, ttl, **extra))


def bearer(tok):
    return (("authorization", "Bearer " + tok),)


# ------------------------------------------------------------------ protobuf from the descriptor set
class Protos:
    """Message classes and method signatures from TD_PROTOSET, built at run time."""

    def __init__(self, path=PROTOSET):
        self.fds = descriptor_pb2.FileDescriptorSet()
        with open(path, "rb") as f:
            self.fds.ParseFromString(f.read())
        self.pool = descriptor_pool.DescriptorPool()
        for fd in self.fds.file:
            self.pool.Add(fd)
        # protobuf >= 4.22 has message_factory.GetMessageClass; Debian 12 ships 4.21
        # (MessageFactory.GetPrototype).
        self._get_class = getattr(message_factory, "GetMessageClass", None)
        self._factory = None if self._get_class else message_factory.MessageFactory(self.pool)
        self._methods = {}
        for fd in self.fds.file:
            for svc in fd.service:
                full = (fd.package + "." if fd.package else "") + svc.name
                for m in svc.method:
                    self._methods["/%s/%s" % (full, m.name)] = (
                        m.input_type.lstrip("."), m.output_type.lstrip("."),
                        m.client_streaming, m.server_streaming)

    def cls(self, full_name):
        d = self.pool.FindMessageTypeByName(full_name)
        return self._get_class(d) if self._get_class else self._factory.GetPrototype(d)

    def msg(self, full_name, **fields):
        return self.cls(full_name)(**fields)

    def method(self, path):
        """(input class, output class, client_streaming, server_streaming)."""
        i, o, cs, ss = self._methods[path]
        return self.cls(i), self.cls(o), cs, ss

    def services(self):
        return sorted({p.split("/")[1] for p in self._methods})


_protos = None


def protos():
    global _protos
    if _protos is None:
        _protos = Protos()
    return _protos


def _serialize(x):
    return x if isinstance(x, (bytes, bytearray)) else x.SerializeToString()


class Result:
    """Outcome of a unary call: code, details, response (or None), trailing metadata."""

    def __init__(self, code, details="", response=None, trailing=(), initial=()):
        self.code, self.details, self.response = code, details or "", response
        self.trailing, self.initial = tuple(trailing or ()), tuple(initial or ())

    def trailer(self, key):
        for k, v in self.trailing:
            if k == key:
                return v
        return None

    def __repr__(self):
        return "Result(%s, %r)" % (self.code.name if self.code else None, self.details)


def _request(path, request):
    inp, out, _cs, ss = protos().method(path) if path in protos()._methods else (None, None, False, False)
    if isinstance(request, dict):
        request = inp(**request)
    if request is None:
        request = inp() if inp else b""
    return request, out, ss


def unary(channel, path, request=None, metadata=(), timeout=10.0, compression=None,
          raw_response=False):
    """Generic unary call. request: message, dict of fields, raw bytes or None (empty).
    Unknown paths (not in the descriptor set) send raw bytes and return raw bytes."""
    req, out, _ = _request(path, request)
    deser = (lambda b: b) if raw_response or out is None else out.FromString
    fn = channel.unary_unary(path, request_serializer=_serialize, response_deserializer=deser)
    try:
        resp, call = fn.with_call(req, metadata=metadata, timeout=timeout * SLOW if timeout else None,
                                  compression=compression)
        return Result(call.code(), call.details(), resp, call.trailing_metadata(),
                      call.initial_metadata())
    except grpc.RpcError as e:
        return Result(e.code(), e.details(), None, e.trailing_metadata() or (),
                      e.initial_metadata() or ())


def unary_future(channel, path, request=None, metadata=(), timeout=10.0):
    req, out, _ = _request(path, request)
    deser = out.FromString if out is not None else (lambda b: b)
    fn = channel.unary_unary(path, request_serializer=_serialize, response_deserializer=deser)
    return fn.future(req, metadata=metadata, timeout=timeout * SLOW if timeout else None)


def future_result(fut):
    try:
        resp = fut.result()
        return Result(fut.code(), fut.details(), resp, fut.trailing_metadata())
    except grpc.RpcError as e:
        return Result(e.code(), e.details(), None, e.trailing_metadata() or ())


def stream(channel, path, request=None, metadata=(), timeout=None, compression=None):
    """Server-streaming call; returns grpc's call object (iterate it; .cancel(), .code())."""
    req, out, _ = _request(path, request)
    deser = out.FromString if out is not None else (lambda b: b)
    fn = channel.unary_stream(path, request_serializer=_serialize, response_deserializer=deser)
    return fn(req, metadata=metadata, timeout=timeout, compression=compression)


def status_details(result):
    """Parses grpc-status-details-bin into google.rpc.Status (None when absent)."""
    raw = result.trailer("grpc-status-details-bin")
    if raw is None:
        return None
    st = protos().msg("google.rpc.Status")
    st.ParseFromString(raw)
    return st


def bad_request_fields(status):
    """Field names of google.rpc.BadRequest violations inside a google.rpc.Status."""
    fields = []
    for any_ in status.details:
        if any_.type_url.endswith("/google.rpc.BadRequest"):
            br = protos().msg("google.rpc.BadRequest")
            br.ParseFromString(any_.value)
            fields += [v.field for v in br.field_violations]
    return fields


def health_check(channel, service="", timeout=5.0):
    r = unary(channel, HEALTH_CHECK, {"service": service}, timeout=timeout)
    if r.code == grpc.StatusCode.OK:
        return r, r.response.status
    return r, None


SERVING, NOT_SERVING, SERVICE_UNKNOWN = 1, 2, 3


# ------------------------------------------------------------------ metrics
def metrics_text(port, timeout=5):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=timeout) as r:
        return r.read().decode()


def metric_value(text, name, labels=None):
    """Sum of all samples of metric `name` whose labels include `labels` (dict); None if none."""
    total, seen = 0.0, False
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)', line)
        if not m or m.group(1) != name:
            continue
        lab = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if labels and any(lab.get(k) != str(v) for k, v in labels.items()):
            continue
        total += float(m.group(3))
        seen = True
    return total if seen else None


# ------------------------------------------------------------------ the server under test
_live = []


def _kill_leftovers():
    for s in list(_live):
        if s.proc and s.proc.poll() is None:
            log("killing leftover server pid %d" % s.proc.pid)
            s.proc.kill()
            s.proc.wait()
        _live.remove(s)


atexit.register(_kill_leftovers)


class Server:
    """A todo-server subprocess on free ports.

    env: overrides on top of a sane test environment (values None remove a variable).
    prefix: command prefix (e.g. valgrind). tls: dict(root=PEM bytes, cert_chain=...,
    private_key=...) for channel() when the server runs TLS."""

    def __init__(self, env=None, prefix=(), args=("serve",), name="server", tls=None,
                 metrics=True):
        self.tmp = tempfile.mkdtemp(prefix="td-it-")
        self.port = free_port()
        self.metrics_port = free_port() if metrics else None
        self.addr = "127.0.0.1:%d" % self.port
        self.logfile = os.path.join(self.tmp, name + ".log")
        self.name, self.prefix, self.args, self.tls = name, list(prefix), list(args), tls
        self.env = dict(os.environ)
        self.env.update({
            "TODO_GRPC_ADDR": self.addr,
            "TODO_METRICS_ADDR": "127.0.0.1:%d" % self.metrics_port if metrics else "off",
            "TODO_DATABASE_URL": DATABASE_URL,
            "TODO_REDIS_URL": REDIS_URL,
            "TODO_JWT_SECRET": JWT_SECRET,
            "TODO_HEALTH_INTERVAL_MS": "300",
            "TODO_SHUTDOWN_GRACE_MS": "5000",
            "TODO_LOG_LEVEL": "debug",
        })
        for k in ("TODO_JWT_PUBLIC_KEY_FILE", "TODO_JWT_ISSUER", "TODO_JWT_AUDIENCE",
                  "TODO_TLS_CERT_FILE", "TODO_TLS_KEY_FILE", "TODO_TLS_CLIENT_CA_FILE",
                  "TODO_MAX_MESSAGE_BYTES", "TODO_RATE_LIMIT_RPS"):
            self.env.pop(k, None)
        for k, v in (env or {}).items():
            if v is None:
                self.env.pop(k, None)
            else:
                self.env[k] = str(v)
        self.proc = None
        self._channels = []
        self.exit_code = None

    # -- lifecycle
    def start(self, timeout=30.0, wait_health=True):
        self._log_fh = open(self.logfile, "wb")
        cmd = self.prefix + [SERVER_BIN] + self.args
        log("start %s: %s (log %s)" % (self.name, " ".join(cmd), self.logfile))
        self.proc = subprocess.Popen(cmd, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self._log_fh, stderr=subprocess.STDOUT)
        _live.append(self)
        if wait_health:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=30.0):
        timeout *= SLOW * (4 if self.prefix else 1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited early with %s\n%s" %
                                   (self.name, self.proc.returncode, self.log_tail()))
            if port_open(self.port):
                ch = self.channel()
                r = unary(ch, HEALTH_CHECK, {"service": ""}, timeout=2.0)
                if r.code in (grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND):
                    return
            time.sleep(0.1)
        raise RuntimeError("%s did not become ready within %.0fs\n%s" %
                           (self.name, timeout, self.log_tail()))

    def channel(self, options=(), creds=None, plaintext=None, compression=None):
        """A new channel (closed by stop()). For a TLS server uses self.tls unless
        plaintext=True; creds overrides."""
        opts = [("grpc.max_send_message_length", 64 << 20),
                ("grpc.max_receive_message_length", 64 << 20),
                ("grpc.enable_retries", 0)] + list(options)
        if creds is None and self.tls and not plaintext:
            creds = grpc.ssl_channel_credentials(**self.tls)
        if creds is not None:
            ch = grpc.secure_channel(self.addr, creds, options=opts, compression=compression)
        else:
            ch = grpc.insecure_channel(self.addr, options=opts, compression=compression)
        self._channels.append(ch)
        return ch

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            self.exit_code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.exit_code

    def stop(self, timeout=20.0, expect_rc=0, report=True):
        """SIGTERM, wait, then report "<name> exits <rc>" and "<name> log clean".
        Returns True when both held."""
        for ch in self._channels:
            ch.close()
        self._channels = []
        good = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.wait(timeout * SLOW * (4 if self.prefix else 1))
        if rc is None:
            self.proc.kill()
            self.proc.wait()
            good &= bool(check("%s stops on SIGTERM" % self.name, False,
                               "still running after %.0fs; killed\n%s" % (timeout, self.log_tail())))
        elif report:
            good &= check("%s exits %s on SIGTERM" % (self.name, expect_rc), rc == expect_rc,
                          "exit code %s\n%s" % (rc, self.log_tail()))
        self._log_fh.close()
        if self in _live:
            _live.remove(self)
        if report:
            good &= self.check_log_clean()
        return good

    def check_log_clean(self):
        text = self.log()
        bad = [m for m in SANITIZER_MARKERS if m in text]
        return check("%s log has no sanitizer report" % self.name, not bad,
                     "found %s\n%s" % (bad, self.log_tail(80)))

    def log(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        lines = self.log().splitlines()
        return "--- %s log tail (%s) ---\n%s\n--- end ---" % (self.name, self.logfile,
                                                            "\n".join(lines[-n:]))

    def metrics(self):
        return metrics_text(self.metrics_port)

    def metric(self, name, labels=None):
        try:
            return metric_value(self.metrics(), name, labels)
        except OSError:
            return None

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        if self.proc is not None and self.exit_code is None and self in _live:
            self.stop()
        return False


def run_server_cmd(args, env=None, timeout=30, input=None):
    """Runs todo-server with args (not serving); returns CompletedProcess (text)."""
    e = dict(os.environ)
    e.update({"TODO_DATABASE_URL": DATABASE_URL, "TODO_REDIS_URL": REDIS_URL,
              "TODO_JWT_SECRET": JWT_SECRET})
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = str(v)
    return subprocess.run([SERVER_BIN] + list(args), env=e, input=input, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout * SLOW)


def in_thread(fn, *args):
    t = threading.Thread(target=fn, args=args, daemon=True)
    t.start()
    return t


# ------------------------------------------------------------------ raw gRPC over curl (HTTP/2)
def grpc_frame(payload, compressed=False):
    return bytes([1 if compressed else 0]) + len(payload).to_bytes(4, "big") + payload


def grpc_frames(body):
    """[(flag, payload)] from a gRPC response body."""
    out, i = [], 0
    while i + 5 <= len(body):
        n = int.from_bytes(body[i + 1:i + 5], "big")
        out.append((body[i], body[i + 5:i + 5 + n]))
        i += 5 + n
    return out


def curl_grpc(addr, path, body, headers=(), timeout=20, scheme="http"):
    """POSTs a raw gRPC body with curl --http2-prior-knowledge.
    Returns (headers: dict lowercased, last value wins; includes trailers, body bytes, rc)."""
    tmp = tempfile.mkdtemp(prefix="td-curl-")
    try:
        req, hdr, resp = (os.path.join(tmp, n) for n in ("req.bin", "hdr.txt", "resp.bin"))
        with open(req, "wb") as f:
            f.write(body)
        cmd = ["curl", "-sS", "--http2-prior-knowledge", "-X", "POST", "--max-time",
               str(int(timeout * SLOW)), "-H", "content-type: application/grpc",
               "-H", "te: trailers"]
        for h in headers:
            cmd += ["-H", h]
        cmd += ["--data-binary", "@" + req, "-D", hdr, "-o", resp,
                "%s://%s%s" % (scheme, addr, path)]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        hd = {}
        if os.path.exists(hdr):
            for line in open(hdr, encoding="latin-1"):
                if ":" in line and not line.startswith("HTTP/"):
                    k, v = line.split(":", 1)
                    hd[k.strip().lower()] = v.strip()
        data = open(resp, "rb").read() if os.path.exists(resp) else b""
        return hd, data, r.returncode
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
