#!/usr/bin/env bash
# tests/bench/list_tasks.sh - benchmark 3 of issue 3: ListTasks latency per filter/sort
# combination, on a 10,000-task user and on a 1,000,000-task user of a >= 2M-row
# database built by tests/bench/gen_tasks.sql. Hand-run; never part of the test command.
#
#   tests/bench/list_tasks.sh gen       create + migrate + fill the bench database (~5 min)
#   tests/bench/list_tasks.sh pgbench   every combination via pgbench (the exact SQL the
#                                       server sends, from tests/bench/list_sql.c)
#   tests/bench/list_tasks.sh explain   EXPLAIN (ANALYZE, BUFFERS) of every combination
#   tests/bench/list_tasks.sh grpc      every combination through todo-server (h2load, 8
#                                       connections; page 2 after page 1's token; needs
#                                       nghttp2-client), one run each
#   tests/bench/list_tasks.sh compare   the issue's method: server and load on separate
#                                       cores, LIST_RUNS (3) alternating runs of grpc and
#                                       pgbench per combination, medians, ratio
#
# Before timing, every combination runs once (warm-up: shared_buffers after a restart).
# Method: pgbench -n -M as the server sends the combination (list_sql writes <combo>.mode):
# extended = bind parameters + a custom plan per call (the server's PQexecParams), or
# prepared = once per session, then generic plans (GIN plans: td_pg_exec_cached);
# -c 8 -j 2, --log; p50/p99 from the per-transaction latencies.
# Targets: 10k user p99 <= 25 ms for every combination; 1M user p99 <= 25 ms for
# index-backed filter/sort pages and <= 100 ms for ranked search (search_*_rank).
# Knobs: LIST_DB_URL, LIST_BUILD (build dir with lib/libtd.a), LIST_T (seconds per combo,
# default 5), LIST_USERS ("user42 userbig"), LIST_ONLY (regex on combo names),
# LIST_PGBENCH_MODE (force pgbench -M), LIST_RUNS / LIST_SERVER_CPU / LIST_LOAD_CPU
# (compare: 3 / 0 / 1), LIST_KEEP (grpc: keep each h2load log and output
# as $LIST_KEEP.<user>.<combo>.{log,out}); grpc also takes TD_SERVER_BIN, H2LOAD, GRPCURL and
# the server's TODO_* settings from the environment.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
URL=${LIST_DB_URL:-postgresql://todo@127.0.0.1:5433/todo_bench}
B=${LIST_BUILD:-$ROOT/build-list}
T=${LIST_T:-5}
USERS=${LIST_USERS:-"user42 userbig"}
ONLY=${LIST_ONLY:-.}
MODE=${LIST_PGBENCH_MODE:-} # force pgbench -M for every combination (extended | prepared)
RUNS=${LIST_RUNS:-3}        # compare: alternating runs per side and combination
LOAD_PIN=""                 # compare: taskset prefix of the load tools
WORK=$(mktemp -d /tmp/list_tasks.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

gen_sql() { # gen_sql USER DIR
  mkdir -p "$2"
  if [ ! -x "$WORK/list_sql" ]; then
    # shellcheck disable=SC2046
    gcc -std=c11 -D_GNU_SOURCE -O1 -I"$ROOT/lib" -I"$ROOT/server" -I"$B/proto/gen" \
      $(pkg-config --cflags libpq) "$HERE/list_sql.c" -o "$WORK/list_sql" \
      "$B/lib/libtd.a" "$B/proto/libtd_proto.a" $(pkg-config --libs libprotobuf-c libpq)
  fi
  # Same rule as server/task_read.c (big_user): the plan the server would pick.
  local big
  big=$(psql -X -At "$URL" -v u="$1" <<'EOF'
SELECT 'big' FROM pg_stats s CROSS JOIN LATERAL
  unnest(s.most_common_vals::text::text[], s.most_common_freqs) AS m(v, f)
  JOIN pg_class c ON c.oid = 'tasks'::regclass
WHERE s.schemaname = current_schema() AND s.tablename = 'tasks' AND s.attname = 'user_id'
  AND m.v = :'u' AND m.f * c.reltuples >= 20000;
EOF
)
  # shellcheck disable=SC2086
  "$WORK/list_sql" "$2" "$1" $big
  # A PROBE page is its walk, then the fallback when the walk's verdict (the last column)
  # says so, as the server runs it; both custom-planned (extended), as the server sends
  # them.
  local fb c
  for fb in "$2"/*.fallback.sql; do
    [[ -e $fb ]] || continue
    c=$(basename "$fb" .fallback.sql)
    if [[ $(psql_vars "$2/$c" -At -F'|' | awk -F'|' 'NR == 1 {print $NF}') == t ]]; then
      cat "$fb" >>"$2/$c.sql"
      echo extended >"$2/$c.mode"
    fi
  done
}

# psql_vars DIR/COMBO [psql args]: runs the combination's SQL with its values
psql_vars() {
  local -a vargs
  mapfile -t vargs < <(while IFS= read -r line; do printf -- '-v\n%s\n' "$line"; done <"$1.vars")
  sed -E "s/:(p[0-9]+)/:'\\1'/g" "$1.sql" | psql -X -q "${vargs[@]}" "${@:2}" "$URL"
}

vars_args() { # prints -D args, one per line, for a .vars file
  while IFS= read -r line; do printf -- '-D\n%s\n' "$line"; done <"$1"
}

# verdict USER COMBO P99_MS -> "target_ms PASS|FAIL"
verdict() {
  local target=25
  if [ "$1" != user42 ] && [[ $2 == search_*_rank ]]; then target=100; fi
  awk -v p="$3" -v t="$target" 'BEGIN {print t, (p > t ? "FAIL" : "PASS")}'
}

# p50/p99 (ms) of latencies in microseconds, one a line on stdin
percentiles() {
  sort -n | awk '{a[NR] = $1} END {i50 = int(NR * 0.50); i99 = int(NR * 0.99)
    if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1; printf "%.2f %.2f\n", a[i50] / 1000, a[i99] / 1000}'
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }

pgb_mode() { echo "${MODE:-$(cat "$WORK/$1/$2.mode")}"; }

# pgb_once USER COMBO -> "tps p50_ms p99_ms": the combination's SQL, 8 clients, T seconds
pgb_once() {
  local mode out
  local -a dargs
  mode=$(pgb_mode "$1" "$2")
  mapfile -t dargs < <(vars_args "$WORK/$1/$2.vars")
  $LOAD_PIN pgbench -n -M "$mode" -c 1 -t 3 "${dargs[@]}" -f "$WORK/$1/$2.sql" "$URL" >/dev/null 2>&1 || true
  rm -f "$WORK"/pgbench_log.*
  out=$(cd "$WORK" && $LOAD_PIN pgbench -n -M "$mode" -c 8 -j 2 -T "$T" --log \
          --log-prefix=pgbench_log "${dargs[@]}" -f "$WORK/$1/$2.sql" "$URL" 2>&1) || {
    echo "$out" | tail -5 >&2; return 1; }
  printf '%s %s\n' "$(awk '/^tps/ {printf "%.0f", $3; exit}' <<<"$out")" \
    "$(cat "$WORK"/pgbench_log.* | awk '{print $3}' | percentiles)"
}

# grpc_setup MODE: starts todo-server on the bench database (pinned for compare)
grpc_setup() {
  local srv_pin=""
  SERVER=${TD_SERVER_BIN:-$B/server/todo-server}
  H2LOAD=${H2LOAD:-h2load}
  GRPCURL=${GRPCURL:-$(command -v grpcurl || echo /root/go/bin/grpcurl)}
  command -v "$H2LOAD" >/dev/null || { echo "h2load not found (apt-get install nghttp2-client)" >&2; exit 2; }
  if [[ $1 == compare ]]; then
    srv_pin="taskset -c ${LIST_SERVER_CPU:-0}"
    LOAD_PIN="taskset -c ${LIST_LOAD_CPU:-1}"
  fi
  SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
  read -r PORT MPORT < <(python3 -c 'import socket
a = socket.socket(); a.bind(("127.0.0.1", 0)); b = socket.socket(); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
  METHOD=/todo.v1.TaskService/ListTasks
  TODO_GRPC_ADDR=127.0.0.1:$PORT TODO_METRICS_ADDR=127.0.0.1:$MPORT TODO_DATABASE_URL=$URL \
  TODO_JWT_SECRET=$SECRET TODO_RATE_LIMIT_RPS=0 TODO_LOG_LEVEL=warn TODO_MIGRATE_ON_START=false \
    $srv_pin "$SERVER" serve >"$WORK/server.log" 2>&1 &
  SRV=$!
  trap 'kill $SRV 2>/dev/null; wait $SRV 2>/dev/null; rm -rf "$WORK"' EXIT
  for _ in $(seq 100); do
    "$GRPCURL" -plaintext -max-time 1 "127.0.0.1:$PORT" grpc.health.v1.Health/Check >/dev/null 2>&1 && return 0
    kill -0 $SRV 2>/dev/null || { tail "$WORK/server.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "todo-server did not become healthy" >&2
  exit 1
}

# ok_calls: the server's count of OK (code 0) ListTasks calls, once no call is active
ok_calls() {
  local text
  for _ in $(seq 100); do
    text=$(curl -s "http://127.0.0.1:$MPORT/metrics")
    grep -q '^td_rpc_active_calls 0$' <<<"$text" && break
    sleep 0.05
  done
  awk -v m="method=\"$METHOD\"" 'index($0, m) && index($0, "code=\"0\"") {s += $2}
                                   END {print s + 0}' <<<"$text"
}

# grpc_user USER: mints USER's token (TOK) and writes its page-2 requests: page 1's request
# plus the page token the server returns for it
grpc_user() {
  local f
  TOK=$(TODO_JWT_SECRET=$SECRET "$SERVER" mint-token --sub "$1" --ttl 86400)
  for f in "$WORK/$1"/*.page1.bin; do
    [[ -e $f ]] || continue
    TD_SOURCE_DIR=$ROOT TD_PROTOSET=${TD_PROTOSET:-$B/proto/todo.protoset} /usr/bin/python3 - "$f" \
      "${f%.page1.bin}.bin" "127.0.0.1:$PORT" "$TOK" <<'PY' || { echo "page 2 request for $f failed" >&2; exit 1; }
import os, sys, grpc
sys.path.insert(0, os.environ["TD_SOURCE_DIR"] + "/tests/integration")
import tdtest as T
src, dst, addr, tok = sys.argv[1:]
raw = open(src, "rb").read()[5:]
r = T.unary(grpc.insecure_channel(addr), "/todo.v1.TaskService/ListTasks", raw,
            metadata=(("authorization", "Bearer " + tok),), timeout=30)
token = r.response.next_page_token.encode() if r.code == grpc.StatusCode.OK else b""
if not token:
    sys.exit("no next_page_token: %s" % r)
n, body = len(token), raw + b"\x12"  # ListTasksRequest.page_token = 2 (length-delimited)
while n >= 0x80:
    body, n = body + bytes([n & 0x7F | 0x80]), n >> 7
body += bytes([n]) + token
open(dst, "wb").write(b"\0" + len(body).to_bytes(4, "big") + body)
PY
  done
}

# grpc_once USER COMBO -> "pages_per_s p50_ms p99_ms status" (status "ok" when the server
# counted at least h2load's successes as gRPC OK)
grpc_once() {
  local out before after succ rps
  local -a h=(-d "$WORK/$1/$2.bin" -H 'content-type: application/grpc' -H 'te: trailers'
              -H "authorization: Bearer $TOK")
  $LOAD_PIN "$H2LOAD" -t 1 -c 8 -m 1 -n 24 "${h[@]}" "http://127.0.0.1:$PORT$METHOD" >/dev/null 2>&1 # warm-up
  before=$(ok_calls)
  rm -f "$WORK/h2.log" # h2load appends
  out=$($LOAD_PIN "$H2LOAD" -t 2 -c 8 -m 1 -D "$T" "${h[@]}" --log-file="$WORK/h2.log" \
          "http://127.0.0.1:$PORT$METHOD" 2>&1) || { echo "0 0 0 h2load-failed"; return 0; }
  after=$(ok_calls)
  if [[ -n ${LIST_KEEP:-} ]]; then
    cp "$WORK/h2.log" "$LIST_KEEP.$1.$2.log"
    echo "$out" >"$LIST_KEEP.$1.$2.out"
  fi
  succ=$(awk '/^requests:/ {for (i = 1; i < NF; i++) if ($(i + 1) ~ /^succeeded/) print $i}' <<<"$out")
  rps=$(awk '/^finished in/ {gsub(",", ""); print int($4)}' <<<"$out")
  printf '%s %s %s\n' "$rps" "$(awk '{print $3}' "$WORK/h2.log" | percentiles)" \
    "$( ((after - before >= ${succ:-0} && ${succ:-0} > 0)) && echo ok || echo "server-OK-$((after - before))<h2load-${succ:-0}")"
}

case "${1:-pgbench}" in
gen)
  createdb -h 127.0.0.1 -p 5433 -U todo todo_bench 2>/dev/null || true
  TODO_DATABASE_URL=$URL "${TD_SERVER_BIN:-$B/server/todo-server}" migrate
  time psql -X -q -v ON_ERROR_STOP=1 "$URL" -f "$HERE/gen_tasks.sql"
  ;;
explain)
  for u in $USERS; do
    gen_sql "$u" "$WORK/$u"
    while read -r c; do
      [[ $c =~ $ONLY ]] || continue
      echo "=== $u $c"
      # psql quotes each value itself (:'pN'); EXPLAIN of literals = the custom plan.
      sed -i 's/^/EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) /' "$WORK/$u/$c.sql"
      psql_vars "$WORK/$u/$c" | grep -v '^$'
    done <"$WORK/$u/combos.txt"
  done
  ;;
pgbench)
  printf '%-6s %-28s %-9s %9s %9s %9s %8s %s\n' user combo mode tps p50_ms p99_ms target verdict
  fail=0
  for u in $USERS; do
    gen_sql "$u" "$WORK/$u"
    while read -r c; do
      [[ $c =~ $ONLY ]] || continue
      read -r tps p50 p99 < <(pgb_once "$u" "$c") || { echo "$u $c: pgbench failed"; fail=1; continue; }
      read -r target verdict < <(verdict "$u" "$c" "$p99")
      [[ $verdict == PASS ]] || fail=1
      printf '%-6s %-28s %-9s %9s %9s %9s %8s %s\n' "${u:0:6}" "$c" "$(pgb_mode "$u" "$c")" "$tps" \
        "$p50" "$p99" "$target" "$verdict"
    done <"$WORK/$u/combos.txt"
  done
  exit $fail
  ;;
grpc | compare)
  # grpc: the combinations through todo-server (h2load, 8 connections of one stream each
  # = 8 concurrent clients, one fixed request per combination as that user), one run each.
  # compare: the issue's method: todo-server on CPU LIST_SERVER_CPU (0), h2load and pgbench
  # on CPU LIST_LOAD_CPU (1), PostgreSQL unpinned; per combination LIST_RUNS (3) alternating
  # runs of ours (grpc) and the reference (pgbench, the same SQL), medians, ratio.
  # gRPC statuses come from the server's td_rpc_calls_total (h2load sees only HTTP 200).
  grpc_setup "$1"
  if [[ $1 == grpc ]]; then
    printf '%-6s %-28s %9s %9s %9s %9s %8s %s\n' user combo pages/s p50_ms p99_ms target verdict status
  else
    printf '%-6s %-28s %9s %9s %9s %9s %6s %8s %s\n' user combo ours/s ref/s "p99 ours" "p99 ref" ratio \
      verdict status
  fi
  fail=0
  for u in $USERS; do
    gen_sql "$u" "$WORK/$u"
    grpc_user "$u"
    while read -r c; do
      [[ $c =~ $ONLY && -f $WORK/$u/$c.bin ]] || continue
      if [[ $1 == grpc ]]; then
        read -r rps p50 p99 status < <(grpc_once "$u" "$c")
        [[ $status == ok ]] || fail=1
        read -r target verdict < <(verdict "$u" "$c" "$p99")
        [[ $verdict == PASS ]] || fail=1
        printf '%-6s %-28s %9s %9s %9s %9s %8s %s\n' "${u:0:6}" "$c" "$rps" "$p50" "$p99" "$target" \
          "$verdict" "$status"
        continue
      fi
      o_r=() o_p=() r_r=() r_p=() status=ok
      for _ in $(seq "$RUNS"); do
        read -r rps p50 p99 st < <(grpc_once "$u" "$c")
        [[ $st == ok ]] || status=$st
        o_r+=("$rps") o_p+=("$p99")
        read -r tps p50 p99 < <(pgb_once "$u" "$c") || status="pgbench failed"
        r_r+=("$tps") r_p+=("${p99:-0}")
      done
      [[ $status == ok ]] || fail=1
      om=$(median "${o_r[@]}") op=$(median "${o_p[@]}") rm_=$(median "${r_r[@]}") rp=$(median "${r_p[@]}")
      read -r target verdict < <(verdict "$u" "$c" "$op")
      [[ $verdict == PASS ]] || fail=1
      printf '%-6s %-28s %9s %9s %9s %9s %6s %8s %s\n' "${u:0:6}" "$c" "$om" "$rm_" "$op" "$rp" \
        "$(awk -v a="$om" -v b="$rm_" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')" "$verdict" "$status"
    done <"$WORK/$u/combos.txt"
  done
  exit $fail
  ;;
*) sed -n '2,29p' "$0"; exit 2 ;;
esac
