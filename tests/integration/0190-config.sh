#!/usr/bin/env bash
# 0190-config: configuration errors stop start-up with exit 2 and ONE stderr line naming
# the variable; --help lists the variables; mint-token prints a token the server accepts.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="${TD_SOURCE_DIR:-$(dirname "$(dirname "$HERE")")}"
BUILD="${TD_BUILD_DIR:-$SRC/build}"
BIN="${TD_SERVER_BIN:-$BUILD/server/todo-server}"
case "${TD_SANITIZE:-}" in 1|ON|on|TRUE|true) SLOW=3 ;; *) SLOW=1 ;; esac

fails=0; passes=0
ok()  { echo "ok - $1"; passes=$((passes + 1)); }
nok() { echo "not ok - $1: $2"; fails=$((fails + 1)); }

TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
SECRET="integration-test-secret-0123456789abcdef"
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Base environment: everything valid, ports free, so only the variable under test is bad.
base_env=(env -u TODO_JWT_PUBLIC_KEY_FILE -u TODO_TLS_CERT_FILE -u TODO_TLS_KEY_FILE -u TODO_TLS_CLIENT_CA_FILE
          -u TODO_JWT_ISSUER -u TODO_JWT_AUDIENCE
          TODO_GRPC_ADDR="127.0.0.1:$(free_port)" TODO_METRICS_ADDR="127.0.0.1:$(free_port)"
          TODO_DATABASE_URL="${TODO_DATABASE_URL:-postgresql://todo@127.0.0.1:5433/todo}"
          TODO_REDIS_URL="${TODO_REDIS_URL:-redis://127.0.0.1:6380/0}"
          TODO_JWT_SECRET="$SECRET")

# bad VAR=value [VAR2=value2 ...]: the first VAR is the one that must be named.
bad() {
  local var="${1%%=*}" label="$*"
  timeout $((20 * SLOW)) "${base_env[@]}" "$@" "$BIN" serve >"$TMP/out" 2>"$TMP/err" </dev/null
  local rc=$?
  # Sanitizer builds may add nothing on a clean exit; ignore blank lines only.
  local lines; lines="$(grep -cv '^[[:space:]]*$' "$TMP/err")"
  if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && grep -qF "$var" "$TMP/err"; then
    ok "$label -> exit 2, one line naming $var"
  else
    nok "$label -> exit 2, one line naming $var" "rc=$rc, $lines stderr lines: $(head -c 400 "$TMP/err")"
  fi
}

bad TODO_GRPC_ADDR=nonsense
bad TODO_GRPC_ADDR=127.0.0.1:99999
bad TODO_GRPC_ADDR=127.0.0.1:
bad TODO_METRICS_ADDR=not-an-addr
bad TODO_MAX_MESSAGE_BYTES=abc
bad TODO_MAX_MESSAGE_BYTES=-1
bad TODO_MAX_MESSAGE_BYTES=12abc
bad TODO_MAX_MESSAGE_BYTES=99999999999999999999999
bad TODO_JWT_SECRET=short
bad TODO_RATE_LIMIT_RPS=fast
bad TODO_RATE_LIMIT_RPS=-5
bad TODO_SHUTDOWN_GRACE_MS=soon
bad TODO_HEALTH_INTERVAL_MS=0
bad TODO_GRPC_THREADS=many
bad TODO_LOG_LEVEL=chatty
bad TODO_DATABASE_URL=mysql://nope
bad TODO_REDIS_URL=http://nope
bad TODO_JWT_PUBLIC_KEY_FILE="$TMP/does-not-exist.pem"
echo "not a pem" >"$TMP/junk.pem"
bad TODO_JWT_PUBLIC_KEY_FILE="$TMP/junk.pem"
bad TODO_TLS_CERT_FILE="$TMP/does-not-exist.pem" TODO_TLS_KEY_FILE="$TMP/does-not-exist.key"
bad TODO_TLS_CLIENT_CA_FILE="$TMP/junk.pem"

# No key at all: one line naming the variables to set.
timeout $((20 * SLOW)) "${base_env[@]}" TODO_JWT_SECRET= "$BIN" serve >"$TMP/out" 2>"$TMP/err" </dev/null; rc=$?
if [ $rc -eq 2 ] && [ "$(grep -cv '^[[:space:]]*$' "$TMP/err")" -eq 1 ] && grep -q 'TODO_JWT_SECRET' "$TMP/err"; then
  ok "no JWT key configured -> exit 2 naming TODO_JWT_SECRET"
else nok "no JWT key configured -> exit 2 naming TODO_JWT_SECRET" "rc=$rc: $(head -c 400 "$TMP/err")"; fi

# Unknown subcommand / flag.
timeout 10 "${base_env[@]}" "$BIN" frobnicate >"$TMP/out" 2>"$TMP/err" </dev/null; rc=$?
if [ $rc -eq 2 ]; then ok "unknown subcommand -> exit 2"; else nok "unknown subcommand -> exit 2" "rc=$rc"; fi

# --help
"$BIN" --help >"$TMP/help" 2>&1; rc=$?
if [ $rc -eq 0 ]; then ok "--help exits 0"; else nok "--help exits 0" "rc=$rc"; fi
for v in TODO_GRPC_ADDR TODO_METRICS_ADDR TODO_DATABASE_URL TODO_REDIS_URL TODO_JWT_SECRET TODO_JWT_PUBLIC_KEY_FILE \
         TODO_JWT_ISSUER TODO_JWT_AUDIENCE TODO_TLS_CERT_FILE TODO_TLS_KEY_FILE TODO_TLS_CLIENT_CA_FILE \
         TODO_MAX_MESSAGE_BYTES TODO_RATE_LIMIT_RPS TODO_SHUTDOWN_GRACE_MS TODO_HEALTH_INTERVAL_MS \
         TODO_LOG_LEVEL TODO_GRPC_THREADS; do
  if grep -q "$v" "$TMP/help"; then ok "--help lists $v"; else nok "--help lists $v" "missing"; fi
done

# mint-token: a three-part HS256 JWT with the right sub, verified here with openssl.
tok="$(TODO_JWT_SECRET="$SECRET" "$BIN" mint-token --sub alice --ttl 120 2>"$TMP/err")"; rc=$?
if [ $rc -eq 0 ] && [[ "$tok" =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]]; then ok "mint-token prints a JWT"
else nok "mint-token prints a JWT" "rc=$rc out='$tok' err=$(head -c 300 "$TMP/err")"; fi
b64d() { local s="${1//-/+}"; s="${s//_//}"; while [ $(( ${#s} % 4 )) -ne 0 ]; do s="$s="; done; printf '%s' "$s" | base64 -d 2>/dev/null; }
payload="$(b64d "$(cut -d. -f2 <<<"$tok")")"
header="$(b64d "$(cut -d. -f1 <<<"$tok")")"
if jq -e '.sub == "alice" and (.exp - .iat) == 120' >/dev/null 2>&1 <<<"$payload" && jq -e '.alg == "HS256"' >/dev/null 2>&1 <<<"$header"; then
  ok "mint-token claims: sub=alice, exp-iat=120, alg HS256"
else nok "mint-token claims" "header=$header payload=$payload"; fi
want="$(printf '%s' "$(cut -d. -f1,2 <<<"$tok")" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64 | tr '+/' '-_' | tr -d '=')"
if [ "$want" = "$(cut -d. -f3 <<<"$tok")" ]; then ok "mint-token signature verifies with openssl HMAC"
else nok "mint-token signature verifies with openssl HMAC" "mismatch"; fi

TODO_JWT_SECRET="$SECRET" "$BIN" mint-token >"$TMP/out" 2>"$TMP/err"; rc=$?
if [ $rc -ne 0 ]; then ok "mint-token without --sub fails"; else nok "mint-token without --sub fails" "rc=0: $(cat "$TMP/out")"; fi
TODO_JWT_SECRET="$SECRET" "$BIN" mint-token --sub alice --ttl abc >"$TMP/out" 2>"$TMP/err"; rc=$?
if [ $rc -ne 0 ]; then ok "mint-token --ttl abc fails"; else nok "mint-token --ttl abc fails" "rc=0"; fi
env -u TODO_JWT_SECRET "$BIN" mint-token --sub alice >"$TMP/out" 2>"$TMP/err"; rc=$?
if [ $rc -ne 0 ] && grep -q TODO_JWT_SECRET "$TMP/err"; then ok "mint-token without TODO_JWT_SECRET fails naming it"
else nok "mint-token without TODO_JWT_SECRET fails naming it" "rc=$rc: $(head -c 300 "$TMP/err")"; fi

# migrate applies (idempotently) and exits 0.
for i in 1 2; do
  timeout $((60 * SLOW)) "${base_env[@]}" "$BIN" migrate >"$TMP/out" 2>"$TMP/err"; rc=$?
  if [ $rc -eq 0 ]; then ok "migrate run $i exits 0"; else nok "migrate run $i exits 0" "rc=$rc: $(tail -c 400 "$TMP/err")"; fi
done

if grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$TMP/err" "$TMP/out"; then
  nok "no sanitizer report" "$(cat "$TMP/err")"; fi

echo "# 0190-config: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
