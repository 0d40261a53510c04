#!/usr/bin/env bash
# tests/bench/tasks_write_read.sh - issue 3 benchmarks 1 and 2 (hand-run, never part of the
# test command):
#   1. CreateTask through todo-server (ghz) vs pgbench running the SAME SQL one CreateTask
#      runs (same statements, same round-trip/pipeline shape), synchronous_commit on.
#   2. GetTask through todo-server (ghz) vs pgbench SELECT by primary key of the same columns.
# Per concurrency (8/16/32): median of BENCH_RUNS alternating runs (ours, ref, ours, ref...)
# of ours TPS, pgbench TPS, ratio, and p99 of both. At the end: rows in tasks for the bench
# user == OK responses ghz reported for CreateTask (gRPC status checked from ghz's status
# distribution, not from HTTP).
#
# Server on CPU BENCH_SERVER_CPU (0), ghz and pgbench on CPU BENCH_LOAD_CPU (1); PostgreSQL is
# not pinned (it serves both sides the same way). Uses its own database todo_bench_rw (dropped
# and re-created, migrated with `todo-server migrate`). Knobs: see tests/bench/README.md
# ("Tasks: CreateTask / GetTask").
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3
TD_SERVER_BIN=${TD_SERVER_BIN:-$ROOT/build/server/todo-server}
GHZ=${GHZ:-$(command -v ghz || echo /root/go/bin/ghz)}
PG_URL_BASE=${BENCH_PG_URL_BASE:-postgresql://todo@127.0.0.1:5433}
DB=${BENCH_DB:-todo_bench_rw}
DB_URL="$PG_URL_BASE/$DB"
DURATION=${BENCH_DURATION:-10}          # seconds per measured run
WARMUP=${BENCH_WARMUP:-3}               # seconds of warm-up per side and benchmark (once)
RUNS=${BENCH_RUNS:-3}
CONCS=${BENCH_CONCS:-"8 16 32"}
CONNS=${BENCH_CONNS:-4}                 # ghz --connections
SERVER_CPU=${BENCH_SERVER_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}
PGBENCH_JOBS=${BENCH_PGBENCH_JOBS:-2}
GET_IDS=${BENCH_GET_IDS:-1000}          # distinct task ids GetTask / the PK select cycle over
WHICH=${1:-all}                         # create | get | all
SECRET=${TODO_JWT_SECRET:-bench-secret-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}
BENCH_USER=bench-rw-user                # ghz's user (writers: $BENCH_USER-1..N)
REF_USER=bench-rw-pgbench               # the only user pgbench writes as

die() { echo "tasks_write_read.sh: ERROR: $*" >&2; exit 1; }
note() { echo "== $*" >&2; }

[[ -x $TD_SERVER_BIN ]] || die "todo-server not found at $TD_SERVER_BIN (set TD_SERVER_BIN; use a Release build)"
[[ -x $GHZ ]] || die "ghz not found (go install github.com/bojand/ghz/cmd/ghz@v0.93.0)"
command -v pgbench >/dev/null || die "pgbench not found (postgresql-15 client)"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
"$ROOT/ci/services.sh" status postgres >/dev/null 2>&1 || "$ROOT/ci/services.sh" start postgres >/dev/null

TMP=$(mktemp -d /tmp/td-bench-rw.XXXXXX)
SRV_PID=""
cleanup() {
  if [[ -n $SRV_PID ]] && kill -0 "$SRV_PID" 2>/dev/null; then
    kill -TERM "$SRV_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SRV_PID" 2>/dev/null || true
  fi
  [[ -n ${BENCH_KEEP_TMP:-} ]] || rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

psql_db() { psql "$DB_URL" -X -At -v ON_ERROR_STOP=1 "$@"; }

# ------------------------------------------------------------------ database
note "database $DB: drop, create, migrate (todo-server migrate)"
psql "$PG_URL_BASE/postgres" -X -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
  -c "CREATE DATABASE $DB" >/dev/null
TODO_DATABASE_URL=$DB_URL TODO_JWT_SECRET=$SECRET "$TD_SERVER_BIN" migrate >/dev/null \
  || die "todo-server migrate failed"
psql_db -q -c "ALTER DATABASE $DB SET synchronous_commit = on" >/dev/null
SYNC=$(psql_db -c "SHOW synchronous_commit")
FSYNC=$(psql_db -c "SHOW fsync")
[[ $SYNC == on && $FSYNC == on ]] || die "synchronous_commit=$SYNC fsync=$FSYNC (both must be on)"

# ------------------------------------------------------------------ the reference SQL
# The columns the server selects for a task: TD_TASK_COLUMNS from server/store/task_row.h,
# expanded here (string literals concatenated, TD__TASK_US inlined) so they cannot drift.
TASK_COLUMNS=$($PY - "$ROOT/server/store/task_row.h" <<'EOF'
import re, sys
src = open(sys.argv[1]).read()
us = re.search(r'#define TD__TASK_US\(x\)\s+"([^"]*)" x "([^"]*)"', src)
body = re.search(r'#define TD_TASK_COLUMNS\s+((?:.*\\\n)*.*)', src).group(1)
body = body.replace("\\\n", " ")
body = re.sub(r'TD__TASK_US\("([^"]*)"\)', lambda m: '"%s%s%s"' % (us.group(1), m.group(1), us.group(2)), body)
print("".join(re.findall(r'"((?:[^"\\]|\\.)*)"', body)))
EOF
) || die "cannot extract TD_TASK_COLUMNS from server/store/task_row.h"
[[ -n $TASK_COLUMNS ]] || die "empty TD_TASK_COLUMNS"

CREATE_SQL_SRC="$HERE/sql/create_task.sql"
if [[ -f $CREATE_SQL_SRC ]]; then
  note "CreateTask reference SQL: $CREATE_SQL_SRC (written with the write path)"
  # The file may use the :user variable (pgbench -D user=...; a bind parameter in -M prepared).
  cp "$CREATE_SQL_SRC" "$TMP/create.sql"
  CREATE_SQL_ORIGIN="tests/bench/sql/create_task.sql"
else
  note "tests/bench/sql/create_task.sql absent: using the shape derived from server/store/task_store.h + changes.c"
  CREATE_SQL_ORIGIN="derived in tasks_write_read.sh from task_store.h/changes.c (create_task.sql absent)"
  # Two round trips, as task_store.h documents for create without tags:
  #   [BEGIN, bump, now] | [INSERT task, INSERT change, COMMIT]
  # pgbench cannot \gset inside a pipeline, so the 2nd trip reads the bumped revision with a
  # scalar subquery on users_revisions (the row this transaction just locked) instead of a
  # client-side parameter: same round trips, one extra PK lookup per statement.
  PAYLOAD=$(head -c 300 /dev/urandom | od -An -tx1 | tr -d ' \n')  # ~ a TaskCreated CloudEvent
  cat >"$TMP/create.sql" <<EOF
\\startpipeline
BEGIN;
INSERT INTO users_revisions (user_id, revision) VALUES (:user, 1) ON CONFLICT (user_id) DO UPDATE SET revision = users_revisions.revision + 1, updated_at = now() RETURNING revision;
SELECT now();
\\endpipeline
\\startpipeline
INSERT INTO tasks (id, user_id, title, description, time_zone, priority, tags, request_id, revision, created_at, updated_at) VALUES (gen_random_uuid(), :user, 'Bench task', '', 'UTC', 3, '{}', gen_random_uuid()::text, (SELECT revision FROM users_revisions WHERE user_id = :user), now(), now());
INSERT INTO changes (user_id, revision, event_id, event_type, aggregate_type, aggregate_id, topic, partition_key, payload, traceparent) VALUES (:user, (SELECT revision FROM users_revisions WHERE user_id = :user), gen_random_uuid(), 'todo.v1.TaskCreated', 'task', gen_random_uuid()::text, 'task.events', :user, '\\x$PAYLOAD'::bytea, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
COMMIT;
\\endpipeline
EOF
fi
cat >"$TMP/get.sql" <<EOF
\\set k random(1, $GET_IDS)
SELECT $TASK_COLUMNS FROM tasks t WHERE t.user_id = :user AND t.id = md5(:k::text)::uuid;
EOF

# ------------------------------------------------------------------ the server
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ADDR=127.0.0.1:$PORT
note "todo-server on $ADDR pinned to CPU $SERVER_CPU (log $TMP/server.log)"
TODO_GRPC_ADDR=$ADDR TODO_METRICS_ADDR=off TODO_DATABASE_URL=$DB_URL TODO_JWT_SECRET=$SECRET \
TODO_RATE_LIMIT_RPS=0 TODO_LOG_LEVEL=${TODO_LOG_LEVEL:-warn} TODO_MIGRATE_ON_START=false \
  taskset -c "$SERVER_CPU" "$TD_SERVER_BIN" serve >"$TMP/server.log" 2>&1 &
SRV_PID=$!
TOKEN=$(TODO_JWT_SECRET=$SECRET "$TD_SERVER_BIN" mint-token --sub "$BENCH_USER" --ttl 86400)
for _ in $(seq 100); do
  kill -0 "$SRV_PID" 2>/dev/null || { tail -20 "$TMP/server.log" >&2; die "server exited"; }
  /root/go/bin/grpcurl -plaintext -max-time 1 "$ADDR" grpc.health.v1.Health/Check >/dev/null 2>&1 && break
  sleep 0.1
done
echo "{\"authorization\":\"Bearer $TOKEN\"}" >"$TMP/md.json"
# Writers: one user's writes serialise on its revision row (per-user order is the design),
# and pgbench spreads its writes over many users, so the gRPC side does too: up to
# WRITE_USERS ghz processes, each with its own user's token.
WRITE_USERS=${BENCH_WRITE_USERS:-8}
for k in $(seq "$WRITE_USERS"); do
  t=$(TODO_JWT_SECRET=$SECRET "$TD_SERVER_BIN" mint-token --sub "$BENCH_USER-$k" --ttl 86400)
  echo "{\"authorization\":\"Bearer $t\"}" >"$TMP/md-$k.json"
done

# ghz_run NAME METHOD C DURATION DATAFILE -> prints "ok_count tps p99_ms errors_json"
# CreateTask runs as min(C, WRITE_USERS) processes with C split between them (one user
# each); the figures are summed, and p99 is the worst of the processes' p99s.
ghz_run() {
  local name=$1 method=$2 c=$3 dur=$4 data=$5 k procs=1 per
  [[ $method == *CreateTask ]] && procs=$(( c < WRITE_USERS ? c : WRITE_USERS ))
  per=$(( c / procs ))
  for k in $(seq "$procs"); do
    local md="$TMP/md.json" conns=$CONNS
    (( procs > 1 )) && { md="$TMP/md-$k.json"; conns=1; }
    taskset -c "$LOAD_CPU" "$GHZ" --insecure --protoset "${TD_PROTOSET:-$(dirname "$(dirname "$TD_SERVER_BIN")")/proto/todo.protoset}" \
      --call "$method" -D "$data" --metadata-file "$md" -c "$per" --connections "$conns" \
      -z "${dur}s" --duration-stop=wait -O json -o "$TMP/$name.$k.json" "$ADDR" >/dev/null 2>"$TMP/$name.$k.err" &
  done
  wait || true
  $PY - "$TMP/$name" "$procs" <<'EOF'
import json, sys
ok = 0; tps = 0.0; p99 = 0.0; bad = {}
for k in range(1, int(sys.argv[2]) + 1):
    try:
        j = json.load(open("%s.%d.json" % (sys.argv[1], k)))
    except Exception:
        bad["ghz-failed"] = bad.get("ghz-failed", 0) + 1
        continue
    codes = j.get("statusCodeDistribution") or {}
    n = codes.get("OK", 0)
    ok += n
    tps += n / (j["total"] / 1e9)
    p = next((x["latency"] for x in (j.get("latencyDistribution") or []) if x["percentage"] == 99), 0) / 1e6
    p99 = max(p99, p)
    for c, v in codes.items():
        if c != "OK":
            bad[c] = bad.get(c, 0) + v
print(ok, round(tps, 1), round(p99, 3), json.dumps(bad, separators=(",", ":")) or "{}")
EOF
}

# pgb_run NAME SCRIPT C DURATION -> prints "tx tps p99_ms failed"
pgb_run() {
  local name=$1 script=$2 c=$3 dur=$4 j=$PGBENCH_JOBS
  (( j > c )) && j=$c
  mkdir -p "$TMP/$name.log"
  (cd "$TMP/$name.log" && taskset -c "$LOAD_CPU" pgbench -n -M prepared -c "$c" -j "$j" -T "$dur" \
     -D user="$REF_USER" -f "$script" --log --log-prefix=pgb "$DB_URL" >"$TMP/$name.out" 2>&1) \
    || { tail -20 "$TMP/$name.out" >&2; die "pgbench failed ($name)"; }
  $PY - "$TMP/$name.out" "$TMP/$name.log" <<'EOF'
import glob, re, sys
out = open(sys.argv[1]).read()
tps = float(re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out).group(1))
tx = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))
m = re.search(r"number of failed transactions: (\d+)", out)
failed = int(m.group(1)) if m else 0
lat = []
for f in glob.glob(sys.argv[2] + "/pgb*"):
    for line in open(f):
        p = line.split()
        if len(p) >= 3 and p[2].isdigit():
            lat.append(int(p[2]))
lat.sort()
p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1000.0 if lat else 0
print(tx, tps, round(p99, 3), failed)
EOF
  rm -rf "$TMP/$name.log"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

TOTAL_CREATE_OK=0
declare -a REPORT=()

bench() { # KIND(create|get) METHOD DATAFILE SQLFILE
  local kind=$1 method=$2 data=$3 sql=$4
  note "$kind: warm-up ${WARMUP}s each side (c=8)"
  read -r okc _ _ bad < <(ghz_run "$kind-warm" "$method" 8 "$WARMUP" "$data")
  [[ $bad == "{}" ]] || die "$kind warm-up: non-OK gRPC statuses $bad (see $TMP/server.log)"
  [[ $kind == create ]] && TOTAL_CREATE_OK=$((TOTAL_CREATE_OK + okc))
  pgb_run "$kind-warm-ref" "$sql" 8 "$WARMUP" >/dev/null
  for c in $CONCS; do
    local -a o_tps=() o_p99=() r_tps=() r_p99=()
    for run in $(seq "$RUNS"); do
      read -r okc tps p99 bad < <(ghz_run "$kind-c$c-r$run" "$method" "$c" "$DURATION" "$data")
      [[ $bad == "{}" ]] || die "$kind c=$c run $run: non-OK gRPC statuses $bad"
      [[ $kind == create ]] && TOTAL_CREATE_OK=$((TOTAL_CREATE_OK + okc))
      o_tps+=("$tps"); o_p99+=("$p99")
      read -r tx rtps rp99 failed < <(pgb_run "$kind-ref-c$c-r$run" "$sql" "$c" "$DURATION")
      [[ $failed == 0 ]] || die "pgbench $kind c=$c run $run: $failed failed transactions"
      r_tps+=("$rtps"); r_p99+=("$rp99")
      note "$kind c=$c run $run: ours $tps/s p99 ${p99}ms | pgbench $rtps/s p99 ${rp99}ms"
    done
    local mo mr mop mrp
    mo=$(median "${o_tps[@]}"); mr=$(median "${r_tps[@]}")
    mop=$(median "${o_p99[@]}"); mrp=$(median "${r_p99[@]}")
    REPORT+=("$(printf '%-7s %4s %12.0f %12.0f %7.2f %10.2f %10.2f %7.2f' "$kind" "$c" "$mo" "$mr" \
      "$(echo "$mo / $mr" | bc -l)" "$mop" "$mrp" "$(echo "$mop / $mrp" | bc -l)")")
  done
}

if [[ $WHICH == create || $WHICH == all ]]; then
  echo '{"task":{"title":"Bench task {{.RequestNumber}}","priority":"PRIORITY_HIGH"},"request_id":"{{newUUID}}"}' >"$TMP/create.json"
  bench create todo.v1.TaskService.CreateTask "$TMP/create.json" "$TMP/create.sql"
fi

if [[ $WHICH == get || $WHICH == all ]]; then
  # Targets: GET_IDS tasks of the bench user created through the server (beyond what the
  # create benchmark wrote), and GET_IDS reference rows with ids md5(k) for pgbench.
  note "get: seeding $GET_IDS tasks per side"
  echo '{"task":{"title":"Get target {{.RequestNumber}}","priority":"PRIORITY_LOW","tags":["bench"],"due":{"due_time":"2030-01-01T10:00:00Z","time_zone":"Europe/Paris"}},"request_id":"{{newUUID}}"}' >"$TMP/seed.json"
  taskset -c "$LOAD_CPU" "$GHZ" --insecure --protoset "${TD_PROTOSET:-$(dirname "$(dirname "$TD_SERVER_BIN")")/proto/todo.protoset}" \
    --call todo.v1.TaskService.CreateTask -D "$TMP/seed.json" --metadata-file "$TMP/md.json" \
    -c 4 -n "$GET_IDS" -O json -o "$TMP/seed-out.json" "$ADDR" >/dev/null 2>&1 || die "seeding via ghz failed"
  SEED_OK=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1])).get("statusCodeDistribution",{}).get("OK",0))' "$TMP/seed-out.json")
  TOTAL_CREATE_OK=$((TOTAL_CREATE_OK + SEED_OK))
  psql_db -c "SELECT json_agg(json_build_object('id', id::text)) FROM (SELECT id FROM tasks WHERE user_id = '$BENCH_USER' AND title LIKE 'Get target%' ORDER BY random() LIMIT $GET_IDS) s" >"$TMP/get.json"
  psql_db -q -c "INSERT INTO users_revisions (user_id, revision) VALUES ('$REF_USER', 0) ON CONFLICT DO NOTHING;
    INSERT INTO tasks (id, user_id, title, priority, tags, due_at, time_zone, revision)
    SELECT md5(k::text)::uuid, '$REF_USER', 'Get target ' || k, 1, '{bench}', '2030-01-01T10:00:00Z', 'Europe/Paris', k
    FROM generate_series(1, $GET_IDS) k ON CONFLICT (id) DO NOTHING; ANALYZE tasks;" >/dev/null
  bench get todo.v1.TaskService.GetTask "$TMP/get.json" "$TMP/get.sql"
fi

# ------------------------------------------------------------------ report
echo
echo "todo-server $TD_SERVER_BIN (CPU $SERVER_CPU) vs pgbench (CPU $LOAD_CPU, -M prepared -j $PGBENCH_JOBS), ghz/pgbench on CPU $LOAD_CPU"
echo "PostgreSQL $(psql_db -c 'SHOW server_version'), synchronous_commit=$SYNC, ${DURATION}s runs, median of $RUNS alternating runs"
echo "CreateTask reference SQL: $CREATE_SQL_ORIGIN"
echo "GetTask reference SQL: SELECT <TD_TASK_COLUMNS> FROM tasks t WHERE t.user_id = \$user AND t.id = md5(k)::uuid"
printf '%-7s %4s %12s %12s %7s %10s %10s %7s\n' bench c "ours/s" "pgbench/s" ratio "p99 ours" "p99 ref" "p99 x"
printf '%s\n' "${REPORT[@]}"
if [[ $WHICH == create || $WHICH == all || $WHICH == get ]]; then
  ROWS=$(psql_db -c "SELECT count(*) FROM tasks WHERE user_id = '$BENCH_USER' OR user_id LIKE '$BENCH_USER-%'")
  CH=$(psql_db -c "SELECT count(*) FROM changes WHERE user_id = '$BENCH_USER' OR user_id LIKE '$BENCH_USER-%'")
  REV=$(psql_db -c "SELECT COALESCE(sum(revision), 0) FROM users_revisions WHERE user_id = '$BENCH_USER' OR user_id LIKE '$BENCH_USER-%'")
  if [[ $ROWS == "$TOTAL_CREATE_OK" && $CH == "$TOTAL_CREATE_OK" && $REV == "$TOTAL_CREATE_OK" ]]; then
    echo "row check: OK - tasks=$ROWS changes=$CH revisions=$REV == OK CreateTask responses $TOTAL_CREATE_OK"
  else
    echo "row check: FAILED - tasks=$ROWS changes=$CH revisions=$REV, OK CreateTask responses $TOTAL_CREATE_OK"
    exit 1
  fi
fi
