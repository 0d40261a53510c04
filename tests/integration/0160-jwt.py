"""0160-jwt: every bad JWT -> UNAUTHENTICATED; good HS256/RS256 tokens pass
authentication; health and reflection need no token. Tokens are minted here
(hmac/hashlib/base64, openssl for RS256), independent of the server's code."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tdtest as T  # noqa: E402
import grpc  # noqa: E402

C = grpc.StatusCode
ISSUER = "https://issuer.test"


def call(ch, md):
    return T.unary(ch, T.GET_TASK, {"id": "x"}, metadata=md)


def expect_unauth(ch, name, md):
    r = call(ch, md)
    T.check("bad JWT (%s) -> UNAUTHENTICATED" % name, r.code == C.UNAUTHENTICATED, repr(r))
    return r


def expect_pass(ch, name, md):
    r = call(ch, md)
    T.check("%s -> passes auth (%s)" % (name, r.code.name if r.code else None), r.code in T.GOOD_PATH_CODES, repr(r))
    return r


def run():
    T.require_services("postgres", "redis")
    now = int(time.time())
    S = T.JWT_SECRET
    cl = T.claims
    bad = [
        ("no authorization header", ()),
        ("empty bearer", (("authorization", "Bearer "),)),
        ("garbage", T.bearer("garbage")),
        ("three garbage parts", T.bearer("a.b.c")),
        ("non-base64 parts", T.bearer("@@@.$$$.%%%")),
        ("header not JSON", T.bearer(T.b64url("nope") + "." + T.b64url("{}") + ".sig")),
        ("alg none", T.bearer(T.jwt_none(cl()))),
        ("alg none with HS256 signature", T.bearer(T.jwt_hs(cl(), header={"alg": "none", "typ": "JWT"}))),
        ("alg NONE uppercase", T.bearer(T.jwt_hs(cl(), header={"alg": "NONE"}))),
        ("alg missing", T.bearer(T.jwt_hs(cl(), header={"typ": "JWT"}))),
        ("HS384", T.bearer(T.jwt_hs(cl(), alg="HS384"))),
        ("HS512", T.bearer(T.jwt_hs(cl(), alg="HS512"))),
        ("bad signature", T.bearer(T.jwt_hs(cl())[:-4] + ("AAAA" if not T.jwt_hs(cl()).endswith("AAAA") else "BBBB"))),
        ("signature stripped", T.bearer(T.jwt_hs(cl()).rsplit(".", 1)[0] + ".")),
        ("tampered payload", T.bearer(".".join([T.jwt_hs(cl("alice")).split(".")[0],
                                               T.b64url(json.dumps(cl("mallory"))),
                                               T.jwt_hs(cl("alice")).split(".")[2]]))),
        ("expired", T.bearer(T.jwt_hs(cl(ttl=-3600)))),
        ("expired long ago, iat older", T.bearer(T.jwt_hs({"sub": "u", "iat": now - 7200, "exp": now - 7000}))),
        ("nbf in the future", T.bearer(T.jwt_hs(cl(nbf=now + 3600)))),
        ("exp not a number", T.bearer(T.jwt_hs({"sub": "u", "exp": "tomorrow"}))),
        ("missing sub", T.bearer(T.jwt_hs(cl(sub=None)))),
        ("empty sub", T.bearer(T.jwt_hs(cl(sub="")))),
        ("sub not a string", T.bearer(T.jwt_hs({"sub": 12345, "exp": now + 300}))),
        ("payload not an object", T.bearer(T.jwt_hs([1, 2, 3]))),
        ("Basic scheme", (("authorization", "Basic dXNlcjpwYXNz"),)),
        ("token without scheme", (("authorization", T.token()),)),
        ("other secret", T.bearer(T.jwt_hs(cl(), secret="another-secret-another-secret-0123456789"))),
        ("two tokens", (("authorization", "Bearer %s %s" % (T.token(), T.token())),)),
        ("huge token (6 KB)", T.bearer("a" * 3000 + "." + "b" * 3000 + ".c")),
    ]

    srv = T.Server().start()
    ch = srv.channel()
    for name, md in bad:
        r = expect_unauth(ch, name, md)
    T.check("UNAUTHENTICATED has a message", bool(r.details), repr(r))
    st = T.status_details(r)
    T.check("UNAUTHENTICATED carries google.rpc.Status code 16", st is not None and st.code == 16, repr(st))

    expect_pass(ch, "valid HS256 token", T.bearer(T.token()))
    expect_pass(ch, "valid HS256 token, lowercase 'bearer'", (("authorization", "bearer " + T.token()),))
    expect_pass(ch, "valid HS256 token with nbf in the past", T.bearer(T.jwt_hs(cl(nbf=now - 10))))
    for svc, m in (("TagService", "ListTags"), ("ReminderService", "ListReminders"),
                   ("ActivityService", "ListActivity"), ("TaskService", "ListTasks")):
        path = "/todo.v1.%s/%s" % (svc, m)
        r = T.unary(ch, path, None)
        T.check("%s without token -> UNAUTHENTICATED" % path, r.code == C.UNAUTHENTICATED, repr(r))
        r = T.unary(ch, path, None, metadata=T.bearer(T.token()))
        T.check("%s with token -> passes auth" % path, r.code in T.GOOD_PATH_CODES, repr(r))
    w = T.stream(ch, "/todo.v1.TaskService/WatchTasks", None, timeout=5)
    try:
        list(w)
        code = w.code()
    except grpc.RpcError as e:
        code = e.code()
    T.check("WatchTasks stream without token -> UNAUTHENTICATED", code == C.UNAUTHENTICATED, repr(code))

    # Public services need no token (and ignore a bad one).
    r, st = T.health_check(ch, "")
    T.check("Health/Check without token -> SERVING", st == T.SERVING, repr(r))
    cp = T.grpcurl("-plaintext", "-max-time", "10", srv.addr, "list")
    T.check("reflection (grpcurl list) without token", cp.returncode == 0 and "todo.v1.TaskService" in cp.stdout,
            cp.stdout + cp.stderr)
    cp = T.grpcurl("-plaintext", "-max-time", "10", "-H", "authorization: Bearer junk", srv.addr, "list")
    T.check("reflection with a junk token still works", cp.returncode == 0, cp.stdout + cp.stderr)
    # grpcurl with a good token on an authenticated method.
    cp = T.grpcurl("-plaintext", "-max-time", "10", "-H", "authorization: Bearer " + T.token(), "-d", '{"id":"x"}',
                   srv.addr, "todo.v1.TaskService/GetTask")
    T.check("grpcurl with a valid token passes auth", "Unauthenticated" not in cp.stdout + cp.stderr,
            cp.stdout + cp.stderr)
    T.check("server still serving", T.health_check(ch, "")[1] == T.SERVING, srv.log_tail())
    srv.stop()

    # ---- issuer / audience
    srv = T.Server(name="issuer-server", env={"TODO_JWT_ISSUER": ISSUER, "TODO_JWT_AUDIENCE": "todo"}).start()
    ch = srv.channel()
    expect_pass(ch, "token with the right iss and aud", T.bearer(T.jwt_hs(cl(iss=ISSUER, aud="todo"))))
    expect_pass(ch, "token with aud as an array containing ours", T.bearer(T.jwt_hs(cl(iss=ISSUER, aud=["x", "todo"]))))
    expect_unauth(ch, "wrong issuer", T.bearer(T.jwt_hs(cl(iss="https://evil.test", aud="todo"))))
    expect_unauth(ch, "missing issuer", T.bearer(T.jwt_hs(cl(aud="todo"))))
    expect_unauth(ch, "wrong audience", T.bearer(T.jwt_hs(cl(iss=ISSUER, aud="other"))))
    expect_unauth(ch, "missing audience", T.bearer(T.jwt_hs(cl(iss=ISSUER))))
    srv.stop()

    # ---- RS256 with a public key file
    d = T.tempfile.mkdtemp(prefix="td-jwt-")
    key, pub = os.path.join(d, "rs.key"), os.path.join(d, "rs.pub")
    other = os.path.join(d, "other.key")
    for k in (key, other):
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", k],
                       check=True, stderr=subprocess.DEVNULL)
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True)
    pub_pem = open(pub, "rb").read()
    srv = T.Server(name="rs256-server", env={"TODO_JWT_PUBLIC_KEY_FILE": pub, "TODO_JWT_SECRET": None}).start()
    ch = srv.channel()
    expect_pass(ch, "valid RS256 token", T.bearer(T.jwt_rs256(cl(), key)))
    expect_unauth(ch, "RS256 signed by another key", T.bearer(T.jwt_rs256(cl(), other)))
    expect_unauth(ch, "RS256 expired", T.bearer(T.jwt_rs256(cl(ttl=-3600), key)))
    expect_unauth(ch, "RS256 missing sub", T.bearer(T.jwt_rs256(cl(sub=None), key)))
    expect_unauth(ch, "HS256 with the public key PEM as HMAC secret (alg confusion)",
                  T.bearer(T.jwt_hs(cl(), secret=pub_pem)))
    expect_unauth(ch, "HS256 token when only RS256 is configured", T.bearer(T.token()))
    expect_unauth(ch, "RS256 header with an HS256 signature",
                  T.bearer(T.jwt_hs(cl(), secret=pub_pem, header={"alg": "RS256", "typ": "JWT"})))
    expect_unauth(ch, "RS384 label on an RS256 signature",
                  T.bearer(T.jwt_rs256(cl(), key, header={"alg": "RS384", "typ": "JWT"})))
    expect_unauth(ch, "RS256 alg none", T.bearer(T.jwt_none(cl())))
    tok = T.jwt_rs256(cl(), key)
    h, p, s = tok.split(".")
    expect_unauth(ch, "RS256 tampered payload", T.bearer(".".join([h, T.b64url(json.dumps(cl("mallory"))), s])))
    srv.stop()

    # ---- both keys configured: each alg uses its own key
    srv = T.Server(name="both-keys-server", env={"TODO_JWT_PUBLIC_KEY_FILE": pub}).start()
    ch = srv.channel()
    expect_pass(ch, "both keys: valid RS256", T.bearer(T.jwt_rs256(cl(), key)))
    expect_pass(ch, "both keys: valid HS256", T.bearer(T.token()))
    expect_unauth(ch, "both keys: HS256 with the public key PEM as secret", T.bearer(T.jwt_hs(cl(), secret=pub_pem)))
    srv.stop()
    T.shutil.rmtree(d, ignore_errors=True)


T.main(run)
