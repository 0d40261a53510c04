#!/usr/bin/env bash
# 0110-reflection: grpcurl (an independent Go client) against server reflection v1/v1alpha,
# with no .proto files at hand: list, describe a service and a message, call Health/Check.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="${TD_SOURCE_DIR:-$(dirname "$(dirname "$HERE")")}"
BUILD="${TD_BUILD_DIR:-$SRC/build}"
BIN="${TD_SERVER_BIN:-$BUILD/server/todo-server}"
case "${TD_SANITIZE:-}" in 1|ON|on|TRUE|true) SLOW=3 ;; *) SLOW=1 ;; esac

fails=0; passes=0
ok()  { echo "ok - $1"; passes=$((passes + 1)); }
nok() { echo "not ok - $1: $2"; fails=$((fails + 1)); }
check() { local name="$1"; shift; if "$@"; then ok "$name"; else nok "$name" "command failed: $*"; fi; }

PATH="$PATH:/usr/local/go/bin"
GOBIN_DIR="$(go env GOPATH 2>/dev/null | cut -d: -f1)/bin"
[ "$GOBIN_DIR" = "/bin" ] && GOBIN_DIR="$HOME/go/bin"
GRPCURL="$GOBIN_DIR/grpcurl"
if [ ! -x "$GRPCURL" ]; then
  echo "# installing grpcurl"
  go install github.com/fullstorydev/grpcurl/cmd/grpcurl@latest || { nok "install grpcurl" "go install failed"; exit 1; }
fi

"$SRC/ci/services.sh" status postgres redis >/dev/null 2>&1 || "$SRC/ci/services.sh" start postgres redis >/dev/null

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
TMP="$(mktemp -d)"
PORT="$(free_port)"; ADDR="127.0.0.1:$PORT"
LOG="$TMP/server.log"
SRV_PID=""
cleanup() {
  if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then kill -KILL "$SRV_PID" 2>/dev/null; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

TODO_GRPC_ADDR="$ADDR" TODO_METRICS_ADDR=off \
TODO_DATABASE_URL="${TODO_DATABASE_URL:-postgresql://todo@127.0.0.1:5433/todo}" \
TODO_REDIS_URL="${TODO_REDIS_URL:-redis://127.0.0.1:6380/0}" \
TODO_JWT_SECRET="integration-test-secret-0123456789abcdef" \
  "$BIN" serve >"$LOG" 2>&1 &
SRV_PID=$!

ready=0
for _ in $(seq 1 $((300 * SLOW))); do
  kill -0 "$SRV_PID" 2>/dev/null || break
  if "$GRPCURL" -plaintext -max-time 2 "$ADDR" grpc.health.v1.Health/Check >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  nok "server starts" "not ready; log tail:"; tail -n 40 "$LOG" | sed 's/^/# /'; exit 1
fi
ok "server starts"


out="$("$GRPCURL" -plaintext -max-time $((10 * SLOW)) "$ADDR" list 2>&1)"; rc=$?
if [ $rc -eq 0 ]; then ok "grpcurl list"; else nok "grpcurl list" "rc=$rc: $out"; fi
for svc in todo.v1.TaskService todo.v1.TagService todo.v1.ReminderService todo.v1.ActivityService \
           grpc.health.v1.Health; do
  if grep -qxF "$svc" <<<"$out"; then ok "list shows $svc"; else nok "list shows $svc" "got: $(tr '\n' ' ' <<<"$out")"; fi
done
if grep -qE '^grpc\.reflection\.v1(alpha)?\.ServerReflection$' <<<"$out"; then ok "list shows ServerReflection"
else nok "list shows ServerReflection" "got: $(tr '\n' ' ' <<<"$out")"; fi

out="$("$GRPCURL" -plaintext -max-time $((10 * SLOW)) "$ADDR" describe todo.v1.TaskService 2>&1)"; rc=$?
if [ $rc -eq 0 ] && grep -q 'rpc GetTask' <<<"$out" && grep -q 'rpc WatchTasks' <<<"$out" \
   && grep -q 'returns ( stream' <<<"$out"; then ok "describe todo.v1.TaskService"
else nok "describe todo.v1.TaskService" "rc=$rc: $(head -c 600 <<<"$out")"; fi

out="$("$GRPCURL" -plaintext -max-time $((10 * SLOW)) "$ADDR" describe todo.v1.Task 2>&1)"; rc=$?
if [ $rc -eq 0 ] && grep -q 'message Task' <<<"$out"; then ok "describe todo.v1.Task"
else nok "describe todo.v1.Task" "rc=$rc: $(head -c 600 <<<"$out")"; fi

out="$("$GRPCURL" -plaintext -max-time $((10 * SLOW)) "$ADDR" describe todo.v1.GetTaskRequest.id 2>&1)"; rc=$?
if [ $rc -eq 0 ]; then ok "describe a field (todo.v1.GetTaskRequest.id)"
else nok "describe a field (todo.v1.GetTaskRequest.id)" "rc=$rc: $(head -c 600 <<<"$out")"; fi

out="$("$GRPCURL" -plaintext -max-time $((10 * SLOW)) "$ADDR" describe grpc.health.v1.Health 2>&1)"; rc=$?
if [ $rc -eq 0 ] && grep -q 'rpc Watch' <<<"$out"; then ok "describe grpc.health.v1.Health"
else nok "describe grpc.health.v1.Health" "rc=$rc: $(head -c 600 <<<"$out")"; fi

out="$("$GRPCURL" -plaintext -max-time $((10 * SLOW)) "$ADDR" describe no.such.Thing 2>&1)"; rc=$?
if [ $rc -ne 0 ] && grep -qi 'not found\|symbol' <<<"$out"; then ok "describe unknown symbol fails cleanly"
else nok "describe unknown symbol fails cleanly" "rc=$rc: $(head -c 600 <<<"$out")"; fi

out="$("$GRPCURL" -plaintext -max-time $((10 * SLOW)) "$ADDR" grpc.health.v1.Health/Check 2>&1)"; rc=$?
if [ $rc -eq 0 ] && grep -q '"status": "SERVING"' <<<"$out"; then ok "grpcurl Health/Check without proto files"
else nok "grpcurl Health/Check without proto files" "rc=$rc: $out"; fi

out="$("$GRPCURL" -plaintext -max-time $((10 * SLOW)) -d '{"service":"todo.v1.TaskService"}' "$ADDR" grpc.health.v1.Health/Check 2>&1)"; rc=$?
if [ $rc -eq 0 ] && grep -q '"status": "SERVING"' <<<"$out"; then ok "grpcurl Health/Check(todo.v1.TaskService)"
else nok "grpcurl Health/Check(todo.v1.TaskService)" "rc=$rc: $out"; fi

# An authenticated method through reflection: the JSON request is encoded from reflected
# descriptors; without a token -> Unauthenticated.
out="$("$GRPCURL" -plaintext -max-time $((10 * SLOW)) -d '{"id":"x"}' "$ADDR" todo.v1.TaskService/GetTask 2>&1)"; rc=$?
if [ $rc -ne 0 ] && grep -q 'Unauthenticated' <<<"$out"; then ok "grpcurl GetTask without token is Unauthenticated"
else nok "grpcurl GetTask without token is Unauthenticated" "rc=$rc: $out"; fi

# v1alpha explicitly (older clients): raw ServerReflectionInfo via grpcurl with the protoset.
PROTOSET="${TD_PROTOSET:-$BUILD/proto/todo.protoset}"
for v in v1 v1alpha; do
  out="$("$GRPCURL" -plaintext -max-time $((10 * SLOW)) -protoset "$PROTOSET" -d '{"list_services":"*"}' \
        "$ADDR" grpc.reflection.$v.ServerReflection/ServerReflectionInfo 2>&1)"; rc=$?
  if [ $rc -eq 0 ] && grep -q 'todo.v1.TaskService' <<<"$out"; then ok "reflection $v list_services"
  else nok "reflection $v list_services" "rc=$rc: $(head -c 600 <<<"$out")"; fi
done

# Stop: exit 0 and no sanitizer report.
kill -TERM "$SRV_PID"
rc=0; for _ in $(seq 1 $((200 * SLOW))); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$SRV_PID" 2>/dev/null; then nok "server stops on SIGTERM" "still running"; kill -KILL "$SRV_PID"; wait "$SRV_PID"
else wait "$SRV_PID"; rc=$?; if [ $rc -eq 0 ]; then ok "server exits 0 on SIGTERM"; else nok "server exits 0 on SIGTERM" "rc=$rc"; tail -n 30 "$LOG" | sed 's/^/# /'; fi; fi
if grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$LOG"; then
  nok "server log has no sanitizer report" "see below"; grep -nE -A30 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$LOG" | head -80 | sed 's/^/# /'
else ok "server log has no sanitizer report"; fi

echo "# 0110-reflection: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
