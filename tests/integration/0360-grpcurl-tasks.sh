#!/usr/bin/env bash
# 0360-grpcurl-tasks: TaskService / TagService through grpcurl (an independent Go client)
# using server reflection only (no .proto files), JSON in and out, with a token from
# `todo-server mint-token --sub ...`: create tasks (due, priority, tags), list/filter/search
# them, a field-mask update, a validation error, and another user's view.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="${TD_SOURCE_DIR:-$(dirname "$(dirname "$HERE")")}"
BUILD="${TD_BUILD_DIR:-$SRC/build}"
BIN="${TD_SERVER_BIN:-$BUILD/server/todo-server}"
case "${TD_SANITIZE:-}" in 1|ON|on|TRUE|true) SLOW=3 ;; *) SLOW=1 ;; esac
PY=/usr/bin/python3

fails=0; passes=0
ok()  { echo "ok - $1"; passes=$((passes + 1)); }
nok() { echo "not ok - $1: $2"; fails=$((fails + 1)); }

PATH="$PATH:/usr/local/go/bin"
GOBIN_DIR="$(go env GOPATH 2>/dev/null | cut -d: -f1)/bin"
[ "$GOBIN_DIR" = "/bin" ] && GOBIN_DIR="$HOME/go/bin"
GRPCURL="$GOBIN_DIR/grpcurl"
if [ ! -x "$GRPCURL" ]; then
  echo "# installing grpcurl"
  go install github.com/fullstorydev/grpcurl/cmd/grpcurl@latest || { nok "install grpcurl" "go install failed"; exit 1; }
fi

"$SRC/ci/services.sh" status postgres redis >/dev/null 2>&1 || "$SRC/ci/services.sh" start postgres redis >/dev/null

export TODO_JWT_SECRET="integration-test-secret-0123456789abcdef"
export TODO_DATABASE_URL="${TODO_DATABASE_URL:-postgresql://todo@127.0.0.1:5433/todo}"
export TODO_REDIS_URL="${TODO_REDIS_URL:-redis://127.0.0.1:6380/0}"
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
TMP="$(mktemp -d)"
PORT="$(free_port)"; ADDR="127.0.0.1:$PORT"
LOG="$TMP/server.log"
SRV_PID=""
cleanup() {
  if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then kill -KILL "$SRV_PID" 2>/dev/null; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

TODO_GRPC_ADDR="$ADDR" TODO_METRICS_ADDR=off TODO_RATE_LIMIT_RPS=0 "$BIN" serve >"$LOG" 2>&1 &
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

SUB_A="it-grpcurl-a-$$-$RANDOM$RANDOM"
SUB_B="it-grpcurl-b-$$-$RANDOM$RANDOM"
TOK_A="$("$BIN" mint-token --sub "$SUB_A" --ttl 600)" || { nok "mint-token" "failed"; exit 1; }
TOK_B="$("$BIN" mint-token --sub "$SUB_B" --ttl 600)" || { nok "mint-token" "failed"; exit 1; }
ok "mint-token for two users"

# call TOKEN METHOD JSON -> stdout (JSON); stderr in $TMP/err; rc
call() {
  local tok="$1" method="$2" data="$3"
  "$GRPCURL" -plaintext -max-time $((10 * SLOW)) -format json -emit-defaults \
    -H "authorization: Bearer $tok" -d "$data" "$ADDR" "$method" 2>"$TMP/err"
}
# jq-free JSON assertions with python: jcheck NAME PYTHON-EXPR (on variable j) < json
jcheck() {
  local name="$1" expr="$2" input
  input="$(cat)"
  if printf '%s' "$input" | $PY -c "import json,sys; j=json.load(sys.stdin); sys.exit(0 if ($expr) else 1)" 2>/dev/null; then
    ok "$name"
  else
    nok "$name" "expression [$expr] false on: $(printf '%s' "$input" | head -c 1500) $(head -c 500 "$TMP/err")"
  fi
}

DUE="$($PY -c 'import datetime as d; print((d.datetime.now(d.timezone.utc)+d.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))')"
PAST="$($PY -c 'import datetime as d; print((d.datetime.now(d.timezone.utc)-d.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))')"

out="$(call "$TOK_A" todo.v1.TaskService/CreateTask \
  "{\"task\":{\"title\":\"Groceries 🛒\",\"priority\":\"PRIORITY_HIGH\",\"tags\":[\"Errands\"],\"due\":{\"dueTime\":\"$DUE\",\"timeZone\":\"Europe/Paris\"}},\"requestId\":\"grpcurl-$SUB_A\"}")"
echo "$out" | jcheck "CreateTask via grpcurl (JSON): title, priority, tags, due echoed" \
  "j['title']=='Groceries 🛒' and j['priority']=='PRIORITY_HIGH' and j['tags']==['Errands'] and j['due']['dueTime'].startswith('$DUE'[:19]) and j['due']['timeZone']=='Europe/Paris' and j['id'] and j['overdue'] is False"
ID1="$(echo "$out" | $PY -c 'import json,sys; print(json.load(sys.stdin).get("id",""))' 2>/dev/null)"

out="$(call "$TOK_A" todo.v1.TaskService/CreateTask \
  "{\"task\":{\"title\":\"Groceries 🛒\",\"priority\":\"PRIORITY_HIGH\",\"tags\":[\"Errands\"],\"due\":{\"dueTime\":\"$DUE\",\"timeZone\":\"Europe/Paris\"}},\"requestId\":\"grpcurl-$SUB_A\"}")"
echo "$out" | jcheck "CreateTask retried with the same requestId returns the same id" "j.get('id')=='$ID1' and '$ID1'!=''"

out="$(call "$TOK_A" todo.v1.TaskService/CreateTask \
  "{\"task\":{\"title\":\"Old bill\",\"priority\":\"PRIORITY_LOW\",\"due\":{\"dueTime\":\"$PAST\"}}}")"
echo "$out" | jcheck "CreateTask with a past due -> overdue true" "j['overdue'] is True and j['priority']=='PRIORITY_LOW'"
out="$(call "$TOK_A" todo.v1.TaskService/CreateTask '{"task":{"title":"Someday"}}')"
echo "$out" | jcheck "CreateTask with defaults -> MEDIUM, no due" "j['priority']=='PRIORITY_MEDIUM' and not j.get('due')"

out="$(call "$TOK_A" todo.v1.TaskService/ListTasks '{"orderBy":"TASK_ORDER_BY_DUE"}')"
echo "$out" | jcheck "ListTasks by due: 3 tasks, past first, no-due last" \
  "[t['title'] for t in j['tasks']]==['Old bill','Groceries 🛒','Someday'] and j['nextPageToken']==''"
out="$(call "$TOK_A" todo.v1.TaskService/ListTasks '{"priorities":["PRIORITY_HIGH"]}')"
echo "$out" | jcheck "ListTasks priority filter" "[t['title'] for t in j['tasks']]==['Groceries 🛒']"
out="$(call "$TOK_A" todo.v1.TaskService/ListTasks '{"search":"gro"}')"
echo "$out" | jcheck "ListTasks search 'gro' finds Groceries" "[t['title'] for t in j['tasks']]==['Groceries 🛒']"
out="$(call "$TOK_A" todo.v1.TaskService/ListTasks '{"search":"errands"}')"
echo "$out" | jcheck "ListTasks search by tag name" "[t['title'] for t in j['tasks']]==['Groceries 🛒']"
out="$(call "$TOK_A" todo.v1.TaskService/ListTasks '{"overdueOnly":true}')"
echo "$out" | jcheck "ListTasks overdueOnly" "[t['title'] for t in j['tasks']]==['Old bill']"
# UpdateTask as the README shows it (grpcurl takes a FieldMask as {"paths": [...]}).
ETAG="$(call "$TOK_A" todo.v1.TaskService/GetTask "{\"id\":\"$ID1\"}" | $PY -c 'import json,sys; print(json.load(sys.stdin).get("etag",""))' 2>/dev/null)"
out="$(call "$TOK_A" todo.v1.TaskService/UpdateTask "{\"task\":{\"id\":\"$ID1\",\"etag\":\"$ETAG\",\"priority\":\"PRIORITY_URGENT\",\"title\":\"not masked\"},\"update_mask\":{\"paths\":[\"priority\"]}}")"
echo "$out" | jcheck "UpdateTask via grpcurl: only the masked priority changes" \
  "j['priority']=='PRIORITY_URGENT' and j['title']=='Groceries 🛒' and j['etag']!='$ETAG'"
out="$(call "$TOK_A" todo.v1.TagService/ListTags '{}')"
echo "$out" | jcheck "ListTags shows Errands with one open task" \
  "[(t['name'],t['openTaskCount']) for t in j['tags']]==[('Errands',1)]"

# A validation error: grpcurl exits non-zero and prints the code.
call "$TOK_A" todo.v1.TaskService/CreateTask "{\"task\":{\"title\":\"$(printf 'x%.0s' $(seq 1 201))\"}}" >/dev/null
rc=$?
if [ $rc -ne 0 ] && grep -q "InvalidArgument" "$TMP/err"; then ok "201-character title -> InvalidArgument"; else nok "201-character title -> InvalidArgument" "rc=$rc $(head -c 400 "$TMP/err")"; fi

# User B: sees nothing of A's, A's id is NotFound.
out="$(call "$TOK_B" todo.v1.TaskService/ListTasks '{}')"
echo "$out" | jcheck "user B lists no tasks" "j.get('tasks', [])==[]"
call "$TOK_B" todo.v1.TaskService/GetTask "{\"id\":\"$ID1\"}" >/dev/null
rc=$?
if [ $rc -ne 0 ] && grep -q "NotFound" "$TMP/err"; then ok "user B GetTask on A's id -> NotFound"; else nok "user B GetTask on A's id -> NotFound" "rc=$rc $(head -c 400 "$TMP/err")"; fi

# No token -> Unauthenticated
"$GRPCURL" -plaintext -max-time 10 -d '{}' "$ADDR" todo.v1.TaskService/ListTasks >/dev/null 2>"$TMP/err"
if grep -q "Unauthenticated" "$TMP/err"; then ok "no token -> Unauthenticated"; else nok "no token -> Unauthenticated" "$(head -c 400 "$TMP/err")"; fi

kill -TERM "$SRV_PID"; wait "$SRV_PID"; rc=$?; SRV_PID=""
if [ $rc -eq 0 ]; then ok "server exits 0 on SIGTERM"; else nok "server exits 0 on SIGTERM" "rc=$rc"; fi
if grep -qE "ERROR: AddressSanitizer|runtime error:|LeakSanitizer" "$LOG"; then nok "server log clean" "sanitizer report"; else ok "server log clean"; fi

echo "# 0360-grpcurl-tasks: $passes passed, $fails failed"
[ $fails -eq 0 ]
