"""0130-tls: TLS and mutual TLS handshakes with certificates made here by the openssl
CLI: a CA, a server cert (SAN localhost + 127.0.0.1), a client cert from the CA and a
client cert from ANOTHER CA."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tdtest as T  # noqa: E402
import grpc  # noqa: E402


def sh(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_ca(d, name):
    key, pem = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", pem,
       "-days", "2", "-subj", "/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE",
       "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return key, pem


def make_leaf(d, name, ca_key, ca_pem, ext):
    key, csr, pem = (os.path.join(d, name + s) for s in (".key", ".csr", ".pem"))
    extf = os.path.join(d, name + ".ext")
    with open(extf, "w") as f:
        f.write(ext)
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
       "-subj", "/CN=" + name)
    sh("openssl", "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-CAcreateserial",
       "-out", pem, "-days", "2", "-extfile", extf)
    return key, pem


def rd(p):
    with open(p, "rb") as f:
        return f.read()


def call_ok(ch):
    r = T.unary(ch, T.HEALTH_CHECK, {"service": ""}, timeout=5)
    return r.code == grpc.StatusCode.OK and r.response.status == T.SERVING, r


def run():
    T.require_services("postgres", "redis")
    d = T.tempfile.mkdtemp(prefix="td-tls-")
    ca_key, ca_pem = make_ca(d, "td-test-ca")
    other_key, other_pem = make_ca(d, "td-other-ca")
    srv_key, srv_pem = make_leaf(d, "server", ca_key, ca_pem,
                                 "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                 "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    cli_ext = "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n"
    cli_key, cli_pem = make_leaf(d, "client", ca_key, ca_pem, cli_ext)
    bad_key, bad_pem = make_leaf(d, "client-other", other_key, other_pem, cli_ext)
    T.ok("certificates generated with openssl")

    # ---- TLS (server auth only)
    srv = T.Server(name="tls-server", env={"TODO_TLS_CERT_FILE": srv_pem, "TODO_TLS_KEY_FILE": srv_key},
                   tls={"root_certificates": rd(ca_pem)}).start()
    good, r = call_ok(srv.channel())
    T.check("TLS: client trusting the CA -> OK", good, repr(r))
    r = T.unary(srv.channel(), T.GET_TASK, {"id": "x"}, metadata=T.bearer(T.token()))
    T.check("TLS: authenticated call over TLS passes auth", r.code in T.GOOD_PATH_CODES, repr(r))
    good, r = call_ok(srv.channel(plaintext=True))
    T.check("TLS: plaintext client fails", not good and r.code == grpc.StatusCode.UNAVAILABLE, repr(r))
    good, r = call_ok(srv.channel(creds=grpc.ssl_channel_credentials(root_certificates=rd(other_pem))))
    T.check("TLS: client trusting another CA fails", not good and r.code == grpc.StatusCode.UNAVAILABLE, repr(r))
    cp = T.grpcurl("-cacert", ca_pem, "-max-time", "10", srv.addr, "list")
    T.check("TLS: grpcurl -cacert list works", cp.returncode == 0 and "todo.v1.TaskService" in cp.stdout,
            cp.stdout + cp.stderr)
    T.check("TLS: server still alive", srv.alive(), srv.log_tail())
    srv.stop()

    # ---- mutual TLS
    good_tls = {"root_certificates": rd(ca_pem), "private_key": rd(cli_key), "certificate_chain": rd(cli_pem)}
    srv = T.Server(name="mtls-server", env={"TODO_TLS_CERT_FILE": srv_pem, "TODO_TLS_KEY_FILE": srv_key,
                                            "TODO_TLS_CLIENT_CA_FILE": ca_pem},
                   tls=good_tls).start()
    good, r = call_ok(srv.channel())
    T.check("mTLS: client cert from the CA -> OK", good, repr(r))
    good, r = call_ok(srv.channel(creds=grpc.ssl_channel_credentials(root_certificates=rd(ca_pem))))
    T.check("mTLS: no client cert fails", not good and r.code == grpc.StatusCode.UNAVAILABLE, repr(r))
    good, r = call_ok(srv.channel(creds=grpc.ssl_channel_credentials(
        root_certificates=rd(ca_pem), private_key=rd(bad_key), certificate_chain=rd(bad_pem))))
    T.check("mTLS: client cert from another CA fails", not good and r.code == grpc.StatusCode.UNAVAILABLE, repr(r))
    good, r = call_ok(srv.channel(plaintext=True))
    T.check("mTLS: plaintext client fails", not good and r.code == grpc.StatusCode.UNAVAILABLE, repr(r))
    cp = T.grpcurl("-cacert", ca_pem, "-cert", cli_pem, "-key", cli_key, "-max-time", "10",
                   srv.addr, "grpc.health.v1.Health/Check")
    T.check("mTLS: grpcurl with client cert works", cp.returncode == 0 and "SERVING" in cp.stdout, cp.stdout + cp.stderr)
    cp = T.grpcurl("-cacert", ca_pem, "-max-time", "10", srv.addr, "grpc.health.v1.Health/Check")
    T.check("mTLS: grpcurl without client cert fails", cp.returncode != 0, cp.stdout + cp.stderr)
    good, r = call_ok(srv.channel())
    T.check("mTLS: still serving after rejected handshakes", good, repr(r))
    srv.stop()
    T.shutil.rmtree(d, ignore_errors=True)


T.main(run)
