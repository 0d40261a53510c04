#!/usr/bin/env bash
# tests/bench/run.sh — hand-run benchmarks for todo (never part of the test command).
#
#   tests/bench/run.sh build      build/cache reference servers + load tools in build-bench/
#   tests/bench/run.sh grpc       Health/Check throughput: todo-server vs C++ and grpc-go refs
#   tests/bench/run.sh refs       same as grpc, reference servers only (no todo-server needed)
#   tests/bench/run.sh auth       authenticated no-DB call vs unauthenticated call (todo-server)
#   tests/bench/run.sh rss        idle RSS (VmRSS after start + 2 s idle) of every server
#   tests/bench/run.sh buildtime  fresh cmake configure + build (-j2) of the project in a temp dir
#   tests/bench/run.sh all        grpc + auth + rss + buildtime
#
# Knobs (environment) are listed in tests/bench/README.md; `run.sh help` prints them.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=${BENCH_BUILD_DIR:-$ROOT/build-bench}
PY=/usr/bin/python3                       # Debian python3-grpcio lives here
CHECK="$PY $HERE/grpccheck.py"

TD_SERVER_BIN=${TD_SERVER_BIN:-$ROOT/build/server/todo-server}
BENCH_TOOL=${BENCH_TOOL:-h2load}          # h2load | ghz
BENCH_DURATION=${BENCH_DURATION:-10}      # seconds per measured run
BENCH_WARMUP=${BENCH_WARMUP:-3}           # seconds of warm-up per target (once)
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_CONNS=${BENCH_CONNS:-4}             # TCP connections (h2load -c / ghz --connections)
BENCH_STREAMS=${BENCH_STREAMS:-64}        # h2load -m: concurrent streams per connection
BENCH_GHZ_CONC=${BENCH_GHZ_CONC:-50}      # ghz -c: concurrent workers
BENCH_SERVER_CPU=${BENCH_SERVER_CPU:-0}
BENCH_LOAD_CPU=${BENCH_LOAD_CPU:-1}
BENCH_PORT_BASE=${BENCH_PORT_BASE:-50151}
BENCH_METHOD=${BENCH_METHOD:-/grpc.health.v1.Health/Check}
BENCH_DATA=${BENCH_DATA:-'{}'}
BENCH_HEADERS=${BENCH_HEADERS:-}          # newline-separated "key: value" sent on every call
BENCH_EXPECT=${BENCH_EXPECT:-}            # substring the decoded response must contain
BENCH_CHECK_N=${BENCH_CHECK_N:-200}       # calls in each gRPC-status check
BENCH_EXPECT_STATUS=${BENCH_EXPECT_STATUS:-OK}  # gRPC code every checked call must return
# GetTask on a malformed id is answered NOT_FOUND by the handler without touching the
# database: the full authenticated path (JWT, decode, handler, status details) and no SQL.
AUTH_METHOD=${AUTH_METHOD:-/todo.v1.TaskService/GetTask}
AUTH_DATA=${AUTH_DATA:-'{"id":"no-db"}'}
AUTH_HEADERS=${AUTH_HEADERS:-}            # default: "authorization: Bearer <minted token>"
AUTH_BASE_METHOD=${AUTH_BASE_METHOD:-/grpc.health.v1.Health/Check}
# The baseline ends the same way (NOT_FOUND with a google.rpc.Status trailer) on a public
# method, so the ratio isolates authentication rather than C-core's error path.
AUTH_BASE_DATA=${AUTH_BASE_DATA:-'{"service":"no-such-service"}'}
AUTH_BASE_EXPECT_STATUS=${AUTH_BASE_EXPECT_STATUS:-NOT_FOUND}
AUTH_BASE_HEADERS=${AUTH_BASE_HEADERS:-}
AUTH_EXPECT_STATUS=${AUTH_EXPECT_STATUS:-NOT_FOUND}
AUTH_BASE_ENV=${AUTH_BASE_ENV:-}          # extra env for the unauthenticated server, e.g. "TODO_AUTH=off"
GHZ_VERSION=${GHZ_VERSION:-v0.93.0}
PROTOC_GEN_GO_VERSION=${PROTOC_GEN_GO_VERSION:-v1.36.12}
PROTOC_GEN_GO_GRPC_VERSION=${PROTOC_GEN_GO_GRPC_VERSION:-v1.6.2}

die() { echo "run.sh: ERROR: $*" >&2; exit 1; }
note() { echo "== $*" >&2; }
warn() { echo "run.sh: WARNING: $*" >&2; }

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  cat <<EOF

Current settings:
  TD_SERVER_BIN=$TD_SERVER_BIN
  BENCH_TOOL=$BENCH_TOOL  BENCH_DURATION=${BENCH_DURATION}s  BENCH_WARMUP=${BENCH_WARMUP}s  BENCH_RUNS=$BENCH_RUNS
  BENCH_CONNS=$BENCH_CONNS  BENCH_STREAMS=$BENCH_STREAMS (h2load)  BENCH_GHZ_CONC=$BENCH_GHZ_CONC (ghz)
  BENCH_SERVER_CPU=$BENCH_SERVER_CPU  BENCH_LOAD_CPU=$BENCH_LOAD_CPU  BENCH_PORT_BASE=$BENCH_PORT_BASE
  BENCH_METHOD=$BENCH_METHOD  BENCH_DATA=$BENCH_DATA  BENCH_HEADERS=<${BENCH_HEADERS:+set}>
  AUTH_METHOD=$AUTH_METHOD  AUTH_DATA=$AUTH_DATA  AUTH_BASE_METHOD=$AUTH_BASE_METHOD
EOF
}

# ---------------------------------------------------------------- build step
need_go() { command -v go >/dev/null || die "go not found (needed to build grpc-go ref / ghz)"; }

gobin_install() { # name pkg@version
  local name=$1 pkg=$2
  if [[ ! -x $B/bin/$name ]]; then
    need_go
    note "go install $pkg -> $B/bin"
    (cd /tmp && GOBIN=$B/bin GOFLAGS=-mod=mod go install "$pkg") || die "go install $pkg failed"
  fi
}

ensure_h2load() {
  command -v h2load >/dev/null && return
  note "installing nghttp2-client (h2load) with apt-get"
  [[ $(id -u) == 0 ]] || die "h2load missing: apt-get install nghttp2-client (needs root)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client >/dev/null; } ||
    die "cannot install nghttp2-client"
}

ensure_ghz() { gobin_install ghz "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION"; GHZ=$B/bin/ghz; }

# newer FILE... : true if $1 is missing or older than any of the others
stale() { local out=$1; shift; [[ ! -e $out ]] && return 0; local f; for f; do [[ $f -nt $out ]] && return 0; done; return 1; }

REF_PROTOS=("$HERE/ref/helloworld.proto" "$HERE/ref/grpc/health/v1/health.proto")

build_ref_protoset() {
  if stale "$B/ref.protoset" "${REF_PROTOS[@]}"; then
    protoc -I "$HERE/ref" --include_imports --descriptor_set_out="$B/ref.protoset" \
      helloworld.proto grpc/health/v1/health.proto || die "protoc (ref protoset) failed"
  fi
}

build_cpp() {
  local out=$B/bin/greeter_cpp gen=$B/cpp/gen
  if stale "$out" "$HERE/ref/greeter_cpp.cc" "${REF_PROTOS[@]}"; then
    note "building C++ greeter (libgrpc++ $(pkg-config --modversion grpc++ 2>/dev/null || echo '?'))"
    command -v grpc_cpp_plugin >/dev/null || die "grpc_cpp_plugin missing: apt-get install protobuf-compiler-grpc"
    pkg-config --exists grpc++ protobuf || die "libgrpc++-dev / libprotobuf-dev missing"
    rm -rf "$gen"; mkdir -p "$gen"
    protoc -I "$HERE/ref" --cpp_out="$gen" --grpc_out="$gen" \
      --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" \
      helloworld.proto grpc/health/v1/health.proto || die "protoc (C++) failed"
    # shellcheck disable=SC2046
    g++ -O2 -std=c++17 -pthread -I "$gen" -o "$out.tmp" "$HERE/ref/greeter_cpp.cc" \
      "$gen"/helloworld.pb.cc "$gen"/helloworld.grpc.pb.cc \
      "$gen"/grpc/health/v1/health.pb.cc "$gen"/grpc/health/v1/health.grpc.pb.cc \
      $(pkg-config --cflags --libs grpc++ protobuf) || die "g++ (C++ greeter) failed"
    mv "$out.tmp" "$out"
  fi
}

build_go() {
  local out=$B/bin/greeter_go src=$B/go/greeter_go
  if stale "$out" "$HERE"/ref/greeter_go/* "$HERE/ref/helloworld.proto"; then
    need_go
    gobin_install protoc-gen-go "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
    gobin_install protoc-gen-go-grpc "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
    note "building grpc-go greeter"
    rm -rf "$src"; mkdir -p "$src/helloworld"
    cp "$HERE"/ref/greeter_go/go.mod "$HERE"/ref/greeter_go/*.go "$src/"
    [[ -f $HERE/ref/greeter_go/go.sum ]] && cp "$HERE/ref/greeter_go/go.sum" "$src/"
    PATH=$B/bin:$PATH protoc -I "$HERE/ref" \
      --go_out="$src" --go_opt=module=todo.bench/greeter_go \
      --go-grpc_out="$src" --go-grpc_opt=module=todo.bench/greeter_go \
      helloworld.proto || die "protoc (Go) failed"
    (cd "$src" && GOFLAGS=-mod=mod go build -trimpath -o "$out.tmp" .) || die "go build (grpc-go greeter) failed"
    mv "$out.tmp" "$out"
    [[ -f $HERE/ref/greeter_go/go.sum ]] || warn "no tests/bench/ref/greeter_go/go.sum; generated one is $src/go.sum"
  fi
}

ours_protoset() { # prints a protoset path for todo-server, or nothing
  local p=${TD_PROTOSET:-$(dirname "$(dirname "$TD_SERVER_BIN")")/proto/todo.protoset}
  if [[ -f $p ]]; then echo "$p"; return; fi
  local files
  files=$(cd "$ROOT/proto" 2>/dev/null && find . -name '*.proto' | sed 's|^\./||' | sort) || true
  [[ -n $files ]] || return 0
  # shellcheck disable=SC2086
  if (cd "$ROOT/proto" && protoc -I . --include_imports --descriptor_set_out="$B/ours.protoset" $files) 2>"$B/ours.protoset.err"; then
    echo "$B/ours.protoset"
  fi
}

do_build() {
  mkdir -p "$B/bin" "$B/run"
  command -v protoc >/dev/null || die "protoc missing: apt-get install protobuf-compiler"
  command -v taskset >/dev/null || die "taskset missing (util-linux)"
  [[ -x $PY ]] && $PY -c 'import grpc' 2>/dev/null || die "$PY lacks grpc: apt-get install python3-grpcio python3-protobuf"
  build_ref_protoset
  build_cpp
  build_go
  case $BENCH_TOOL in
    h2load) ensure_h2load ;;
    ghz) ensure_ghz ;;
    *) die "BENCH_TOOL must be h2load or ghz, not '$BENCH_TOOL'" ;;
  esac
}

# ------------------------------------------------------------ server handling
declare -a T_STATUS=() T_NAME=() T_KIND=() T_ENV=() T_METHOD=() T_DATA=() T_HDRS=() T_PORT=() T_PID=() T_BODY=() T_DESC=() T_EXPECT=()
declare -a STARTED_PIDS=()

cleanup() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]}"; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  STARTED_PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# one secret per run, fixed here (not lazily: $(...) subshells would each make their own)
JWT_SECRET=${TODO_JWT_SECRET:-$(head -c 64 /dev/urandom | base64 | tr -d '/+=\n' | head -c 48)}
jwt_secret() { echo "$JWT_SECRET"; }

check_ours_bin() {
  [[ -x $TD_SERVER_BIN ]] || die "todo-server not found at $TD_SERVER_BIN (build it, or set TD_SERVER_BIN; 'run.sh refs' benchmarks the references only)"
}

# add_target NAME KIND METHOD DATA HEADERS [EXTRA_ENV]
add_target() {
  local i=${#T_NAME[@]}
  T_NAME[i]=$1; T_KIND[i]=$2; T_METHOD[i]=$3; T_DATA[i]=$4; T_HDRS[i]=$5; T_ENV[i]=${6:-}
  T_PORT[i]=$((BENCH_PORT_BASE + i)); T_PID[i]=""
  if [[ $2 == ours ]]; then T_DESC[i]=$(ours_protoset); else T_DESC[i]=$B/ref.protoset; fi
  T_EXPECT[i]=$BENCH_EXPECT; T_STATUS[i]=${TARGET_STATUS:-$BENCH_EXPECT_STATUS}
  if [[ -z ${T_EXPECT[i]} && $3 == /grpc.health.v1.Health/Check && ${T_STATUS[i]} == OK ]]; then T_EXPECT[i]='"SERVING"'; fi
  T_BODY[i]=$B/run/body.$i
  if [[ $4 == '{}' || -z $4 ]]; then
    printf '\0\0\0\0\0' >"${T_BODY[i]}"        # empty message: no descriptor needed
  else
    local ds=() d
    for d in ${T_DESC[i]} "$B/ref.protoset"; do [[ -f $d ]] && ds+=(--descset "$d"); done
    $CHECK encode "${ds[@]}" --method "$3" --json "$4" --out "${T_BODY[i]}" ||
      die "cannot encode request for ${T_NAME[i]} ($3 $4)"
  fi
}

start_target() { # index
  local i=$1 port=${T_PORT[$1]} log=$B/run/${T_NAME[$1]}.log pid
  port_busy "$port" && die "port $port already in use (set BENCH_PORT_BASE)"
  case ${T_KIND[i]} in
    cpp) taskset -c "$BENCH_SERVER_CPU" "$B/bin/greeter_cpp" "127.0.0.1:$port" >"$log" 2>&1 & pid=$! ;;
    go) taskset -c "$BENCH_SERVER_CPU" "$B/bin/greeter_go" "127.0.0.1:$port" >"$log" 2>&1 & pid=$! ;;
    ours)
      check_ours_bin
      # shellcheck disable=SC2086
      env TODO_GRPC_ADDR="127.0.0.1:$port" TODO_JWT_SECRET="$(jwt_secret)" \
        TODO_RATE_LIMIT_RPS=0 TODO_METRICS_ADDR=off ${T_ENV[i]} \
        taskset -c "$BENCH_SERVER_CPU" "$TD_SERVER_BIN" >"$log" 2>&1 &
      pid=$! ;;
    *) die "unknown kind ${T_KIND[i]}" ;;
  esac
  STARTED_PIDS+=("$pid"); T_PID[i]=$pid
  if ! $CHECK wait --addr "127.0.0.1:$port" --timeout 20; then
    tail -n 20 "$log" >&2 || true
    die "${T_NAME[i]} did not come up on 127.0.0.1:$port (log: $log)"
  fi
  kill -0 "$pid" 2>/dev/null || die "${T_NAME[i]} exited (log: $log)"
}

hdr_args() { # index -> prints one -H per line for grpccheck
  local line
  while IFS= read -r line; do [[ -n $line ]] && printf '%s\n' "$line"; done <<<"${T_HDRS[$1]}"
}

status_check() { # index n -> prints result line, returns grpccheck's status
  local i=$1 n=$2 a=() d line
  while IFS= read -r line; do a+=(-H "$line"); done < <(hdr_args "$i")
  for d in ${T_DESC[i]}; do [[ -f $d ]] && a+=(--descset "$d"); done
  [[ -n ${T_EXPECT[i]} ]] && a+=(--expect-json "${T_EXPECT[i]}")
  a+=(--expect-status "${T_STATUS[i]}")
  $CHECK check --addr "127.0.0.1:${T_PORT[i]}" --method "${T_METHOD[i]}" --body "${T_BODY[i]}" -n "$n" "${a[@]}"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

proc_ticks() { # pid -> utime+stime in clock ticks (all threads)
  awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat" 2>/dev/null || echo 0
}
child_secs() { # VAR: cumulative user+sys s of this shell's waited-for children (bash `times`, no subshell)
  times >"$B/run/times"
  printf -v "$1" '%s' "$(awk 'NR==2 {s=0; for (i=1;i<=2;i++) {split($i,a,"m"); sub("s","",a[2]); s+=a[1]*60+a[2]}; printf "%.3f", s}' "$B/run/times")"
}
CLK_TCK=$(getconf CLK_TCK)

cpu_ticks() { # cpu -> "busy total"
  awk -v c="cpu$1" '$1==c {t=0; for(i=2;i<=NF;i++) t+=$i; print t-$5-$6, t}' /proc/stat
}

# ----------------------------------------------------------------- load runs
# run_load INDEX SECONDS -> sets R_RPS R_NOTE R_CPU0 R_CPU1
run_load() {
  local i=$1 secs=$2 url out b0 b1 a0 a1
  url="http://127.0.0.1:${T_PORT[i]}${T_METHOD[i]}"
  out=$B/run/load.${T_NAME[i]}.out
  read -r b0 t0 < <(cpu_ticks "$BENCH_SERVER_CPU"); read -r b1 t1 < <(cpu_ticks "$BENCH_LOAD_CPU")
  local sp0 sp1 gc0 gc1 w0 w1
  sp0=$(proc_ticks "${T_PID[i]}"); w0=$(date +%s.%N); child_secs gc0
  if [[ $BENCH_TOOL == h2load ]]; then
    local h=(-H 'content-type: application/grpc' -H 'te: trailers' -H 'user-agent: todo-bench/h2load') line
    while IFS= read -r line; do h+=(-H "$line"); done < <(hdr_args "$i")
    taskset -c "$BENCH_LOAD_CPU" h2load -t 1 -c "$BENCH_CONNS" -m "$BENCH_STREAMS" -D "$secs" \
      -d "${T_BODY[i]}" "${h[@]}" "$url" >"$out" 2>&1 || { cat "$out" >&2; die "h2load failed"; }
  else
    local md='{}' call line
    call=${T_METHOD[i]#/}; call=${call/\//.}
    md=$($PY -c 'import json,sys
d={}
for l in sys.stdin.read().splitlines():
    if l.strip():
        k,_,v=l.partition(":"); d[k.strip().lower()]=v.strip()
print(json.dumps(d))' <<<"${T_HDRS[i]}")
    local src=()
    for d in ${T_DESC[i]}; do [[ -f $d ]] && src=(--protoset "$d"); done
    taskset -c "$BENCH_LOAD_CPU" "$GHZ" --insecure "${src[@]}" --call "$call" -d "${T_DATA[i]:-"{}"}" \
      -m "$md" -c "$BENCH_GHZ_CONC" --connections "$BENCH_CONNS" -z "${secs}s" --duration-stop=ignore --format json \
      "127.0.0.1:${T_PORT[i]}" >"$out" 2>"$out.err" || { cat "$out.err" >&2; die "ghz failed"; }
  fi
  child_secs gc1; w1=$(date +%s.%N); sp1=$(proc_ticks "${T_PID[i]}")
  read -r a0 u0 < <(cpu_ticks "$BENCH_SERVER_CPU"); read -r a1 u1 < <(cpu_ticks "$BENCH_LOAD_CPU")
  # server / load-generator process CPU as % of one core; OTHER = what else kept the two pinned cores busy
  read -r R_CPU0 R_CPU1 R_OTHER < <(awk -v s0="$sp0" -v s1="$sp1" -v hz="$CLK_TCK" -v g0="$gc0" -v g1="$gc1" \
    -v w0="$w0" -v w1="$w1" -v cb="$(( (a0 - b0) + (a1 - b1) ))" -v ct="$(( (u0 - t0) + (u1 - t1) ))" 'BEGIN {
      w = w1 - w0; if (w <= 0) w = 1
      srv = (s1 - s0) / hz / w * 100; gen = (g1 - g0) / w * 100
      tot = (ct > 0) ? cb / ct * 200 : 0; oth = tot - srv - gen; if (oth < 0) oth = 0
      printf "%d %d %d\n", srv, gen, oth }')
  R_NOTE=""
  if [[ $BENCH_TOOL == h2load ]]; then
    R_RPS=$(awk '/^finished in/ {gsub(",","",$4); printf "%.0f", $4}' "$out")
    local ok fail err data
    ok=$(awk '/^requests:/ {print $8}' "$out"); fail=$(awk '/^requests:/ {print $10}' "$out")
    err=$(awk '/^requests:/ {print $12}' "$out")
    data=$(sed -n 's/^traffic:.*(\([0-9]*\)) data$/\1/p' "$out")
    R_MEAN=$(awk '/^time for request:/ {print $6}' "$out")
    [[ ${fail:-0} == 0 && ${err:-0} == 0 ]] || R_NOTE="h2load: $fail failed, $err errored"
    if [[ -n ${ok:-} && ${ok:-0} -gt 0 && -n $data ]]; then
      R_BPR=$(( data / ok ))
    else R_BPR="?"; fi
  else
    read -r R_RPS R_MEAN R_NOTE < <($PY -c 'import json,sys
r=json.load(open(sys.argv[1]))
d=r.get("statusCodeDistribution") or {}
bad={k:v for k,v in d.items() if k!="OK"}
print("%.0f" % r["rps"], "%.2fms" % (r["average"]/1e6), ("ghz-non-OK:"+",".join("%s=%d"%kv for kv in bad.items())) if bad else "")' "$out")
    R_BPR="-"
  fi
  [[ -n ${R_RPS:-} ]] || { cat "$out" >&2; die "could not parse load tool output ($out)"; }
  # CPU microseconds per request: robust to other load on the machine (throughput is not)
  R_SUS=$(awk -v c="$R_CPU0" -v r="$R_RPS" 'BEGIN {printf "%.1f", (r > 0) ? c * 1e4 / r : 0}')
  R_GUS=$(awk -v c="$R_CPU1" -v r="$R_RPS" 'BEGIN {printf "%.1f", (r > 0) ? c * 1e4 / r : 0}')
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

# bench_targets: warm-up, status check, BENCH_RUNS alternating rounds, table. Sets MED[i].
declare -a MED=() SUSM=()
fmedian() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
bench_targets() {
  local n=${#T_NAME[@]} i r
  note "tool=$BENCH_TOOL ($(tool_desc)); server on CPU $BENCH_SERVER_CPU, load on CPU $BENCH_LOAD_CPU; ${BENCH_RUNS}x${BENCH_DURATION}s per target, alternating"
  for ((i = 0; i < n; i++)); do start_target "$i"; done
  for ((i = 0; i < n; i++)); do
    local res
    res=$(status_check "$i" "$BENCH_CHECK_N") || die "${T_NAME[i]}: gRPC status check failed before load: $res"
    note "${T_NAME[i]} (pid ${T_PID[i]}, :${T_PORT[i]}) ${T_METHOD[i]} pre-check: $res"
  done
  for ((i = 0; i < n; i++)); do
    note "warm-up ${T_NAME[i]} ${BENCH_WARMUP}s"; run_load "$i" "$BENCH_WARMUP"
  done
  declare -gA RUN=() C0=() C1=() OT=() SUS=() GUS=() BPR=() NOTE=() MEAN=()
  for ((r = 1; r <= BENCH_RUNS; r++)); do
    # alternate the order each round so no target always runs first
    local order=()
    if ((r % 2)); then for ((i = 0; i < n; i++)); do order+=("$i"); done
    else for ((i = n - 1; i >= 0; i--)); do order+=("$i"); done; fi
    for i in "${order[@]}"; do
      run_load "$i" "$BENCH_DURATION"
      RUN[$i,$r]=$R_RPS; C0[$i,$r]=$R_CPU0; C1[$i,$r]=$R_CPU1; OT[$i,$r]=$R_OTHER; SUS[$i,$r]=$R_SUS; GUS[$i,$r]=$R_GUS; BPR[$i,$r]=$R_BPR; MEAN[$i,$r]=${R_MEAN:-?}
      NOTE[$i,$r]=$R_NOTE
      note "round $r ${T_NAME[i]}: $R_RPS req/s  server-cpu=${R_CPU0}% loadgen-cpu=${R_CPU1}% other=${R_OTHER}% (${R_SUS}/${R_GUS} cpu-us/req)  resp-bytes/req=$R_BPR mean=${R_MEAN:-?} $R_NOTE"
      kill -0 "${T_PID[i]}" 2>/dev/null || die "${T_NAME[i]} died during the run (log: $B/run/${T_NAME[i]}.log)"
    done
  done
  local post=()
  for ((i = 0; i < n; i++)); do
    post[i]=$(status_check "$i" 50) || post[i]="FAILED: ${post[i]}"
  done
  echo
  printf '%-14s' server; for ((r = 1; r <= BENCH_RUNS; r++)); do printf '%10s' "run$r"; done
  printf '%11s %9s %9s %7s %8s %8s %8s %9s %7s  %s\n' "median/s" "srv-cpu%" "gen-cpu%" "other%" "srv-us" "gen-us" "B/resp" "mean-lat" "RSS-MB" "gRPC status after"
  for ((i = 0; i < n; i++)); do
    local vals=() c0s=() c1s=() ots=() sus=() gus=() r
    for ((r = 1; r <= BENCH_RUNS; r++)); do
      vals+=("${RUN[$i,$r]}"); c0s+=("${C0[$i,$r]}"); c1s+=("${C1[$i,$r]}"); ots+=("${OT[$i,$r]}")
      sus+=("${SUS[$i,$r]}"); gus+=("${GUS[$i,$r]}")
    done
    SUSM[i]=$(fmedian "${sus[@]}")
    MED[i]=$(median "${vals[@]}")
    printf '%-14s' "${T_NAME[i]}"; for v in "${vals[@]}"; do printf '%10s' "$v"; done
    printf '%11s %9s %9s %7s %8s %8s %8s %9s %7s  %s\n' "${MED[i]}" "$(median "${c0s[@]}")" "$(median "${c1s[@]}")" "$(median "${ots[@]}")" \
      "${SUSM[i]}" "$(fmedian "${gus[@]}")" \
      "${BPR[$i,1]}" "${MEAN[$i,1]}" "$(awk -v k="$(rss_kb "${T_PID[i]}")" 'BEGIN{printf "%.1f", k/1024}')" "${post[i]}"
    for ((r = 1; r <= BENCH_RUNS; r++)); do
      [[ -z ${NOTE[$i,$r]} ]] || echo "   !! ${T_NAME[i]} run$r: ${NOTE[$i,$r]}"
    done
  done
  local sat=0 noisy=0
  for ((i = 0; i < n; i++)); do
    for ((r = 1; r <= BENCH_RUNS; r++)); do
      if ((${C1[$i,$r]} >= 90 && ${C0[$i,$r]} < 85)); then sat=1; fi
      if ((${OT[$i,$r]} > 15)); then noisy=1; fi
    done
  done
  if ((sat)); then
    echo "NOTE: in some runs the load generator used >=90% of its core while the server used <85% of its own:"
    echo "      those figures are limited by the load generator (lower bounds; ratios are compressed towards 1)."
  fi
  if ((noisy)); then
    echo "NOTE: other processes took >15% of the two pinned cores during some runs (column other%): the"
    echo "      machine was not quiet; rerun when it is, or compare only runs with low other%."
  fi
  echo "(srv-cpu%/gen-cpu% = CPU time of the server / load-generator process as % of one core; other% = remaining"
  echo " busy time of the two pinned cores (other processes, softirq); srv-us/gen-us = CPU microseconds per request of"
  echo " server / load generator (median; robust to a busy machine); B/resp = response DATA bytes per request, h2load only)"
  for ((i = 0; i < n; i++)); do
    [[ ${post[i]} != FAILED* ]] || die "${T_NAME[i]}: gRPC status check after load failed: ${post[i]}"
  done
}

tool_desc() {
  if [[ $BENCH_TOOL == h2load ]]; then echo "h2load -c$BENCH_CONNS -m$BENCH_STREAMS"
  else echo "ghz -c$BENCH_GHZ_CONC --connections $BENCH_CONNS"; fi
}

ratio_line() { # label ours ref target
  awk -v l="$1" -v a="$2" -v b="$3" -v t="$4" 'BEGIN {
    if (b <= 0) { printf "%-34s n/a\n", l; exit }
    r = a / b
    if (t <= 0) { printf "%-34s %8d / %8d = %.2fx\n", l, a, b, r; exit }
    printf "%-34s %8d / %8d = %.2fx  (target >= %.1fx)  %s\n", l, a, b, r, t, (r >= t ? "PASS" : "FAIL") }'
}

cost_line() { # label a_us b_us : a/b, i.e. throughput-equivalent ratio from CPU cost (info only)
  awk -v l="$1" -v a="$2" -v b="$3" 'BEGIN {
    if (b <= 0) { printf "%-34s n/a\n", l; exit }
    printf "%-38s %6.1f / %6.1f us = %.2fx  (CPU-cost view of the same ratio; info)\n", l, a, b, a / b }'
}

# ------------------------------------------------------------------- modes
mode_grpc() { # with_ours(0/1)
  do_build
  local m=$BENCH_METHOD d=$BENCH_DATA h=$BENCH_HEADERS
  if [[ $1 == 1 ]]; then check_ours_bin; add_target ours ours "$m" "$d" "$h"; fi
  add_target cpp-libgrpc++ cpp "$m" "$d" "$h"
  add_target grpc-go go "$m" "$d" "$h"
  echo "### gRPC unary throughput: $m"
  bench_targets
  if [[ $1 == 1 ]]; then
    echo
    ratio_line "ours / C++ libgrpc++ (same C-core)" "${MED[0]}" "${MED[1]}" 1.0
    ratio_line "ours / grpc-go" "${MED[0]}" "${MED[2]}" 0.9
    cost_line "server CPU per request, C++ / ours" "${SUSM[1]}" "${SUSM[0]}"
    cost_line "server CPU per request, grpc-go / ours" "${SUSM[2]}" "${SUSM[0]}"
  else
    echo
    ratio_line "grpc-go / C++ libgrpc++" "${MED[1]}" "${MED[0]}" 0.0
    cost_line "server CPU per request, C++ / grpc-go" "${SUSM[0]}" "${SUSM[1]}"
  fi
  cleanup
}

mint_token() {
  "$TD_SERVER_BIN" mint-token --help >/dev/null 2>&1 || true
  local tok
  tok=$(TODO_JWT_SECRET="$(jwt_secret)" "$TD_SERVER_BIN" mint-token --sub bench 2>"$B/run/mint.err" | tail -n 1) ||
    die "'todo-server mint-token --sub bench' failed: $(cat "$B/run/mint.err")"
  [[ -n $tok ]] || die "'todo-server mint-token --sub bench' printed nothing"
  echo "$tok"
}

mode_auth() {
  do_build; check_ours_bin
  local ah=$AUTH_HEADERS
  [[ -n $ah ]] || ah="authorization: Bearer $(mint_token)"
  TARGET_STATUS=$AUTH_EXPECT_STATUS add_target ours-auth ours "$AUTH_METHOD" "$AUTH_DATA" "$ah"
  [[ $AUTH_EXPECT_STATUS == OK ]] || warn "ours-auth is expected to answer $AUTH_EXPECT_STATUS, not OK"
  TARGET_STATUS=$AUTH_BASE_EXPECT_STATUS add_target ours-noauth ours "$AUTH_BASE_METHOD" "$AUTH_BASE_DATA" "$AUTH_BASE_HEADERS" "$AUTH_BASE_ENV"
  echo "### authenticated $AUTH_METHOD vs unauthenticated $AUTH_BASE_METHOD${AUTH_BASE_ENV:+ [$AUTH_BASE_ENV]}"
  bench_targets
  echo
  ratio_line "authenticated / unauthenticated" "${MED[0]}" "${MED[1]}" 0.8
  cost_line "server CPU per request, unauth / auth" "${SUSM[1]}" "${SUSM[0]}"
  cleanup
}

mode_rss() {
  do_build
  local kinds=(cpp go) names=(cpp-libgrpc++ grpc-go)
  if [[ -x $TD_SERVER_BIN ]]; then kinds=(ours "${kinds[@]}"); names=(ours "${names[@]}")
  else warn "no todo-server at $TD_SERVER_BIN: RSS of references only"; fi
  echo "### idle RSS (VmRSS 2 s after the server answers its first Health/Check)"
  printf '%-14s %10s %10s\n' server VmRSS-MB VmHWM-MB
  local k
  for k in "${!kinds[@]}"; do
    add_target "${names[k]}" "${kinds[k]}" /grpc.health.v1.Health/Check '{}' ''
    start_target "$k"
    sleep 2
    printf '%-14s %10s %10s\n' "${names[k]}" \
      "$(awk '/^VmRSS:/ {printf "%.1f", $2/1024}' "/proc/${T_PID[k]}/status")" \
      "$(awk '/^VmHWM:/ {printf "%.1f", $2/1024}' "/proc/${T_PID[k]}/status")"
  done
  cleanup
}

mode_buildtime() {
  command -v cmake >/dev/null || die "cmake missing"
  local tmp; tmp=$(mktemp -d /tmp/todo-buildtime.XXXXXX)
  echo "### build time from scratch (cmake configure + build -j2, ${BENCH_BUILD_TYPE:-project default} build type, no ccache) in $tmp"
  local t0 t1 t2 bt=()
  [[ -n ${BENCH_BUILD_TYPE:-} ]] && bt=(-DCMAKE_BUILD_TYPE="$BENCH_BUILD_TYPE")
  t0=$(date +%s.%N)
  cmake -S "$ROOT" -B "$tmp" "${bt[@]}" -DCMAKE_C_COMPILER_LAUNCHER= -DCMAKE_CXX_COMPILER_LAUNCHER= >"$tmp.configure.log" 2>&1 ||
    { tail -n 30 "$tmp.configure.log" >&2; die "cmake configure failed (log $tmp.configure.log)"; }
  t1=$(date +%s.%N)
  cmake --build "$tmp" -j2 >"$tmp.build.log" 2>&1 || { tail -n 30 "$tmp.build.log" >&2; die "build failed (log $tmp.build.log)"; }
  t2=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {printf "configure %.1f s, build %.1f s, total %.1f s\n", b-a, c-b, c-a}'
  rm -rf "$tmp" "$tmp.configure.log" "$tmp.build.log"
}

cmd=${1:-help}
case $cmd in
  build) do_build; note "built: $(ls "$B/bin" | tr '\n' ' ')" ;;
  grpc) mode_grpc 1 ;;
  refs) mode_grpc 0 ;;
  auth) mode_auth ;;
  rss) mode_rss ;;
  buildtime) mode_buildtime ;;
  all) mode_grpc 1; echo; mode_auth; echo; mode_rss; echo; mode_buildtime ;;
  help | -h | --help) usage ;;
  *) usage >&2; die "unknown mode '$cmd'" ;;
esac
