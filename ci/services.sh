#!/usr/bin/env bash
# Local, real backing services for "todo" (no Docker), all on 127.0.0.1:
#   PostgreSQL 15 (Debian binaries), Redis, Apache Kafka (KRaft, from Maven Central jars).
#
#   ci/services.sh start  [postgres|redis|kafka ...]   idempotent; default: all
#   ci/services.sh stop   [postgres|redis|kafka ...]
#   ci/services.sh restart [postgres|redis|kafka ...]
#   ci/services.sh status [postgres|redis|kafka ...]   exit 0 only if all named are up
#   ci/services.sh env                                  export lines for TODO_* URLs
#
# Environment (all optional):
#   TODO_DATA_DIR (<repo>/data)  TODO_PG_PORT (5433)  TODO_REDIS_PORT (6380)
#   TODO_KAFKA_PORT (9092)  TODO_KAFKA_CONTROLLER_PORT (9093)
#   TODO_KAFKA_HEAP (512m)  TODO_KAFKA_START_TIMEOUT (90, seconds)
#
# Layout under the data folder:
#   pg/data (PGDATA, owned by postgres)  pg/run (unix socket)  pg/postgres.log
#   redis/{redis.pid,redis.log}
#   kafka/{libs/,data/,server.properties,kafka.pid,server.log,kafka.out}
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$SCRIPT_DIR")"

DATA="$(realpath -m "${TODO_DATA_DIR:-$REPO/data}")"
PG_PORT="${TODO_PG_PORT:-5433}"
REDIS_PORT="${TODO_REDIS_PORT:-6380}"
KAFKA_PORT="${TODO_KAFKA_PORT:-9092}"
KAFKA_CTRL_PORT="${TODO_KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP="${TODO_KAFKA_HEAP:-512m}"
KAFKA_START_TIMEOUT="${TODO_KAFKA_START_TIMEOUT:-90}"
HOST=127.0.0.1

PGBIN=/usr/lib/postgresql/15/bin
# Memory settings (ListTasks benchmark: the 2M-task bench table + indexes are ~1.4 GB; at
# 256MB every big-user page re-reads the OS cache). Applied at initdb and, for clusters
# made before, by pg_tune via ALTER SYSTEM (postgresql.auto.conf) + one restart.
# jit = off: OLTP pages of a few ms; a big user's plan costs cross jit_above_cost and LLVM
# compilation alone took 40-90 ms of a 5 ms ListTasks page (EXPLAIN ANALYZE, JIT section).
# max_parallel_workers_per_gather = 0: 2 cores serve 8+ concurrent clients; launching
# workers cost 5-8 ms per big-user page (even for a branch a one-time filter skips).
PG_SHARED_BUFFERS=1GB
PG_EFFECTIVE_CACHE=8GB
PGROOT="$DATA/pg"; PGDATA="$PGROOT/data"; PGSOCK="$PGROOT/run"; PGLOG="$PGROOT/postgres.log"
RDIR="$DATA/redis"; RPID="$RDIR/redis.pid"; RLOG="$RDIR/redis.log"
KDIR="$DATA/kafka"; KLIBS="$KDIR/libs"; KLOGDIRS="$KDIR/data"; KPID="$KDIR/kafka.pid"
KPROPS="$KDIR/server.properties"; KOUT="$KDIR/kafka.out"; KLOG="$KDIR/server.log"
KPOM="$SCRIPT_DIR/kafka/pom.xml"; KLOG4J="$SCRIPT_DIR/kafka/log4j2.properties"
TOPICS=(task.events reminder.due notification.send notification.dlq)
TOPIC_PARTITIONS=3

ALL_SERVICES=(postgres redis kafka)

say()  { echo "$*"; }
die()  { echo "services: $*" >&2; exit 1; }

# ---------------------------------------------------------------- helpers
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }
pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pid_from()  { [ -s "$1" ] && head -n1 "$1" | tr -dc '0-9' || true; }
# pid alive and its command line contains $2 (guards against pid reuse)
pid_is() { pid_alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"; }

is_root() { [ "$(id -u)" -eq 0 ]; }
# Run as the postgres user (initdb/pg_ctl refuse root); as ourselves when not root.
as_pg() { if is_root; then runuser -u postgres -- "$@"; else "$@"; fi; }

ensure_deps() {
  local missing=0 b
  for b in java mvn kcat jq redis-server redis-cli runuser flock timeout realpath; do
    command -v "$b" >/dev/null 2>&1 || { missing=1; break; }
  done
  for b in initdb pg_ctl postgres psql; do [ -x "$PGBIN/$b" ] || missing=1; done
  [ -d /usr/share/postgresql/15/extension ] && [ -f /usr/share/postgresql/15/extension/pg_trgm.control ] || missing=1
  if [ "$missing" -eq 1 ]; then
    say "services: some binaries are missing, running ci/deps.sh"
    "$SCRIPT_DIR/deps.sh"
  fi
}

lock() {
  mkdir -p "$DATA"
  exec 9>"$DATA/.services.lock"
  flock -w 300 9 || die "another ci/services.sh holds $DATA/.services.lock"
}

# ---------------------------------------------------------------- PostgreSQL
pg_pid()     { pid_from "$PGDATA/postmaster.pid"; }
pg_running() { local p; p="$(pg_pid)"; pid_is "$p" postgres && port_open "$PG_PORT"; }

pg_psql() { # pg_psql DB -c/-f ...  as superuser over the unix socket
  local db="$1"; shift
  as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGSOCK" -p "$PG_PORT" -U postgres -d "$db" "$@"
}

pg_init() {
  [ -s "$PGDATA/PG_VERSION" ] && return 0
  local tmp="$PGDATA.init"
  rm -rf "$tmp"
  as_pg "$PGBIN/initdb" -D "$tmp" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=trust >"$PGROOT/initdb.log" 2>&1 \
    || { tail -n 20 "$PGROOT/initdb.log" >&2; die "postgres: initdb failed (see $PGROOT/initdb.log)"; }
  # Local dev only: trust on the socket and on 127.0.0.1; nothing else.
  as_pg tee "$tmp/pg_hba.conf" >/dev/null <<EOF
# TYPE  DATABASE  USER  ADDRESS        METHOD   (written by ci/services.sh; local dev only)
local   all       all                  trust
host    all       all   127.0.0.1/32   trust
EOF
  as_pg tee -a "$tmp/postgresql.conf" >/dev/null <<EOF

# ---- ci/services.sh (dev box); port/socket/listen are also passed by pg_ctl -o
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = '$PGSOCK'
max_connections = 200
shared_buffers = $PG_SHARED_BUFFERS
effective_cache_size = $PG_EFFECTIVE_CACHE
jit = off
max_parallel_workers_per_gather = 0
synchronous_commit = on
fsync = on
log_line_prefix = '%m [%p] %q%u@%d '
log_min_duration_statement = -1
EOF
  as_pg mv "$tmp" "$PGDATA"
  say "postgres: initialised $PGDATA"
}

pg_setup_db() { # idempotent: role todo, database todo, extension pg_trgm
  pg_psql postgres <<'EOF'
SELECT 'CREATE ROLE todo LOGIN CREATEDB' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'todo')
\gexec
SELECT 'CREATE DATABASE todo OWNER todo' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'todo')
\gexec
EOF
  pg_psql todo -c 'CREATE EXTENSION IF NOT EXISTS pg_trgm' 2>&1 | grep -v 'already exists, skipping' >&2 || true
  pg_psql todo -tAc "SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'" | grep -qx 1 \
    || die "postgres: extension pg_trgm missing in database todo"
}

pg_tune() { # idempotent: bring an existing cluster to the settings above
  local changed
  changed=$(pg_psql postgres -tA <<EOF
SELECT count(*) FROM (VALUES ('shared_buffers', '$PG_SHARED_BUFFERS'),
                             ('effective_cache_size', '$PG_EFFECTIVE_CACHE'),
                             ('jit', 'off'),
                             ('max_parallel_workers_per_gather', '0')) AS w(name, want)
WHERE current_setting(w.name) <> w.want
   OR EXISTS (SELECT FROM pg_settings s WHERE s.name = w.name AND s.pending_restart);
EOF
)
  [ "$changed" = 0 ] && return 0
  pg_psql postgres -c "ALTER SYSTEM SET shared_buffers = '$PG_SHARED_BUFFERS'" \
    -c "ALTER SYSTEM SET effective_cache_size = '$PG_EFFECTIVE_CACHE'" \
    -c "ALTER SYSTEM SET jit = off" -c "ALTER SYSTEM SET max_parallel_workers_per_gather = 0" \
    -c "SELECT pg_reload_conf()" >/dev/null
  if [ "$(pg_psql postgres -tAc "SELECT count(*) FROM pg_settings WHERE pending_restart")" != 0 ]; then
    say "postgres: restarting to apply shared_buffers=$PG_SHARED_BUFFERS (open connections are cut once)"
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGLOG" -m fast -w -t 60 \
        -o "-p $PG_PORT -k $PGSOCK -c listen_addresses=$HOST" restart >"$PGROOT/pg_ctl.log" 2>&1 9>&- \
      || { cat "$PGROOT/pg_ctl.log" >&2; die "postgres: restart failed (see $PGLOG)"; }
  fi
}

pg_clear_stale_pid() {
  # After a crash (kill -9) postmaster.pid may name a pid that is a not-yet-reaped zombie
  # or was reused by another program; postgres then refuses to start. Wait for a zombie
  # to go; drop the lock file if its pid is not a postgres process.
  local p i; p="$(pg_pid)"
  [ -n "$p" ] || return 0
  for i in $(seq 1 50); do
    [ -e "/proc/$p" ] || return 0
    pid_is "$p" postgres && return 0   # alive postgres: let pg_ctl decide
    [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" = Z ] || break
    sleep 0.2
  done
  if [ -e "/proc/$p" ] && ! pid_is "$p" postgres; then
    rm -f "$PGDATA/postmaster.pid"
    say "postgres: removed stale postmaster.pid (pid $p is not postgres)"
  fi
}

pg_start() {
  if pg_running; then
    say "postgres: already running (pid $(pg_pid), $HOST:$PG_PORT)"
  else
    port_open "$PG_PORT" && die "postgres: port $PG_PORT is in use by another process (set TODO_PG_PORT)"
    mkdir -p "$PGROOT"
    if is_root; then
      chown postgres:postgres "$PGROOT"
      runuser -u postgres -- test -x "$PGROOT" -a -w "$PGROOT" \
        || die "postgres: user postgres cannot reach $PGROOT (a parent folder is not searchable); set TODO_DATA_DIR elsewhere"
    fi
    chmod 700 "$PGROOT"
    as_pg mkdir -p "$PGSOCK"
    pg_init
    pg_clear_stale_pid
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGLOG" -w -t 60 \
        -o "-p $PG_PORT -k $PGSOCK -c listen_addresses=$HOST" start >"$PGROOT/pg_ctl.log" 2>&1 9>&- \
      || { cat "$PGROOT/pg_ctl.log" >&2; tail -n 20 "$PGLOG" >&2; die "postgres: failed to start (see $PGLOG)"; }
    say "postgres: started (pid $(pg_pid), $HOST:$PG_PORT)"
  fi
  pg_tune
  pg_setup_db
}

pg_stop() {
  if [ -f "$PGDATA/postmaster.pid" ] && pid_alive "$(pg_pid)"; then
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null \
      || die "postgres: pg_ctl stop failed (see $PGLOG)"
    say "postgres: stopped"
  else
    say "postgres: not running"
  fi
}

pg_status() {
  if pg_running; then say "postgres: running (pid $(pg_pid), $HOST:$PG_PORT, data $PGDATA)"; return 0; fi
  say "postgres: stopped"; return 1
}

# ---------------------------------------------------------------- Redis
redis_pid()     { pid_from "$RPID"; }
redis_ping()    { [ "$(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
redis_running() { pid_is "$(redis_pid)" redis-server && redis_ping; }

redis_start() {
  if redis_running; then say "redis: already running (pid $(redis_pid), $HOST:$REDIS_PORT)"; return 0; fi
  port_open "$REDIS_PORT" && die "redis: port $REDIS_PORT is in use by another process (set TODO_REDIS_PORT)"
  mkdir -p "$RDIR"
  redis-server --bind "$HOST" --port "$REDIS_PORT" --protected-mode yes \
      --daemonize yes --pidfile "$RPID" --logfile "$RLOG" --dir "$RDIR" \
      --save '' --appendonly no 9>&- \
    || die "redis: failed to start (see $RLOG)"
  local i
  for i in $(seq 1 100); do redis_ping && break; sleep 0.1; done
  redis_ping || { tail -n 20 "$RLOG" >&2; die "redis: not answering on $HOST:$REDIS_PORT (see $RLOG)"; }
  for i in $(seq 1 20); do [ -s "$RPID" ] && break; sleep 0.1; done
  say "redis: started (pid $(redis_pid), $HOST:$REDIS_PORT)"
}

redis_stop() {
  local pid; pid="$(redis_pid)"
  if ! pid_is "$pid" redis-server; then rm -f "$RPID"; say "redis: not running"; return 0; fi
  redis-cli -h "$HOST" -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.1; done
  if pid_alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; sleep 1; fi
  pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$RPID"
  say "redis: stopped"
}

redis_status() {
  if redis_running; then say "redis: running (pid $(redis_pid), $HOST:$REDIS_PORT)"; return 0; fi
  say "redis: stopped"; return 1
}

# ---------------------------------------------------------------- Kafka
KAFKA_MAIN=kafka.Kafka
kafka_pid()     { pid_from "$KPID"; }
kafka_alive()   { pid_is "$(kafka_pid)" "$KAFKA_MAIN"; }
kafka_ready()   { kcat -b "$HOST:$KAFKA_PORT" -L -m 3 >/dev/null 2>&1; }
kafka_running() { kafka_alive && port_open "$KAFKA_PORT"; }
kafka_java()    { java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -cp "$KLIBS/*" "$@"; }

kafka_libs() { # resolve the broker + tools jars once (re-resolve when ci/kafka/pom.xml changes)
  local stamp; stamp="$(sha256sum "$KPOM" | cut -c1-16)"
  [ -f "$KLIBS/.stamp" ] && [ "$(cat "$KLIBS/.stamp")" = "$stamp" ] && return 0
  say "kafka: resolving jars from Maven Central (ci/kafka/pom.xml) ..."
  rm -rf "$KLIBS.tmp"
  mvn -B -q -f "$KPOM" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$KLIBS.tmp" >"$KDIR/mvn.log" 2>&1 \
    || { tail -n 30 "$KDIR/mvn.log" >&2; die "kafka: mvn could not resolve the jars (see $KDIR/mvn.log)"; }
  ls "$KLIBS.tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "kafka: kafka_2.13 jar missing after mvn"
  echo "$stamp" >"$KLIBS.tmp/.stamp"
  rm -rf "$KLIBS"; mv "$KLIBS.tmp" "$KLIBS"
  say "kafka: jars in $KLIBS ($(ls "$KLIBS"/kafka_2.13-*.jar | sed 's/.*kafka_2.13-//; s/\.jar$//'))"
}

kafka_write_props() {
  cat >"$KPROPS" <<EOF
# Written by ci/services.sh on each start: single-node KRaft (broker + controller), loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CTRL_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CTRL_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KLOGDIRS
num.network.threads=2
num.io.threads=4
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
log.retention.hours=168
EOF
}

kafka_format() { # once: format the KRaft storage (static quorum => no --standalone)
  [ -f "$KLOGDIRS/meta.properties" ] && return 0
  local id
  if [ -s "$KDIR/cluster.id" ]; then id="$(cat "$KDIR/cluster.id")"; else
    id="$(kafka_java kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
    [ -n "$id" ] || die "kafka: StorageTool random-uuid failed"
    echo "$id" >"$KDIR/cluster.id"
  fi
  kafka_java -Dlog4j2.level=WARN kafka.tools.StorageTool format -t "$id" -c "$KPROPS" --ignore-formatted \
      >"$KDIR/format.log" 2>&1 \
    || { cat "$KDIR/format.log" >&2; die "kafka: storage format failed (see $KDIR/format.log)"; }
  say "kafka: formatted storage $KLOGDIRS (cluster $id)"
}

kafka_wait_ready() {
  local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  while [ "$SECONDS" -lt "$deadline" ]; do
    # The launched pid is a subshell until it has exec'd (cd, setsid, nohup, java): while it
    # is alive but not yet the broker, it is still starting, not gone.
    if pid_alive "$(kafka_pid)" && ! kafka_alive; then sleep 0.1; continue; fi
    if ! kafka_alive; then
      echo "---- tail of $KLOG" >&2; tail -n 30 "$KLOG" 2>/dev/null >&2 || true
      echo "---- tail of $KOUT" >&2; tail -n 30 "$KOUT" 2>/dev/null >&2 || true
      die "kafka: broker process exited during start-up (see $KLOG and $KOUT)"
    fi
    kafka_ready && return 0
    sleep 0.5
  done
  echo "---- tail of $KLOG" >&2; tail -n 30 "$KLOG" 2>/dev/null >&2 || true
  die "kafka: not ready on $HOST:$KAFKA_PORT after ${KAFKA_START_TIMEOUT}s (see $KLOG and $KOUT)"
}

kafka_topics() { # create the project's topics when absent (TopicCommand, explicit partitions)
  local have t failed=0 pids=() made=()
  have="$(kcat -b "$HOST:$KAFKA_PORT" -L -J -m 10 2>/dev/null | jq -r '.topics[].topic')" \
    || die "kafka: cannot list topics"
  for t in "${TOPICS[@]}"; do
    grep -qxF "$t" <<<"$have" && continue
    # one JVM per topic, in parallel (each is ~2.5 s, mostly waiting)
    kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$KAFKA_PORT" \
        --create --if-not-exists --topic "$t" --partitions "$TOPIC_PARTITIONS" --replication-factor 1 \
        >"$KDIR/topic-$t.log" 2>&1 9>&- &
    pids+=($!); made+=("$t")
  done
  for i in "${!pids[@]}"; do
    t="${made[$i]}"
    if wait "${pids[$i]}"; then
      say "kafka: created topic $t ($TOPIC_PARTITIONS partitions)"; rm -f "$KDIR/topic-$t.log"
    else
      cat "$KDIR/topic-$t.log" >&2; echo "kafka: could not create topic $t" >&2; failed=1
    fi
  done
  [ "$failed" -eq 0 ] || die "kafka: topic creation failed"
}

kafka_start() {
  if kafka_running; then
    kafka_wait_ready
    say "kafka: already running (pid $(kafka_pid), $HOST:$KAFKA_PORT)"
  elif kafka_alive; then
    say "kafka: process $(kafka_pid) is starting; waiting"
    kafka_wait_ready
  else
    port_open "$KAFKA_PORT" && die "kafka: port $KAFKA_PORT is in use by another process (set TODO_KAFKA_PORT)"
    port_open "$KAFKA_CTRL_PORT" && die "kafka: port $KAFKA_CTRL_PORT is in use by another process (set TODO_KAFKA_CONTROLLER_PORT)"
    mkdir -p "$KDIR"
    kafka_libs
    kafka_write_props
    kafka_format
    local t0=$SECONDS
    # setsid + nohup: the broker outlives this script and its caller's process group.
    ( cd "$KDIR" && exec setsid nohup java -Xms256m "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -Djava.awt.headless=true -Dkafka.logs.dir="$KDIR" -Dlog4j2.configurationFile="$KLOG4J" \
        -cp "$KLIBS/*" "$KAFKA_MAIN" "$KPROPS" >>"$KOUT" 2>&1 </dev/null 9>&- ) &
    echo $! >"$KPID"
    kafka_wait_ready
    say "kafka: started (pid $(kafka_pid), $HOST:$KAFKA_PORT, ready in $((SECONDS - t0))s)"
  fi
  kafka_topics
}

kafka_stop() {
  local pid; pid="$(kafka_pid)"
  if ! pid_is "$pid" "$KAFKA_MAIN"; then rm -f "$KPID"; say "kafka: not running"; return 0; fi
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 600); do pid_alive "$pid" || break; sleep 0.1; done
  if pid_alive "$pid"; then
    echo "kafka: did not stop within 60s, killing" >&2
    kill -KILL "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
  fi
  rm -f "$KPID"
  say "kafka: stopped"
}

kafka_status() {
  if kafka_running && kafka_ready; then say "kafka: running (pid $(kafka_pid), $HOST:$KAFKA_PORT)"; return 0; fi
  if kafka_alive; then say "kafka: starting (pid $(kafka_pid), not answering yet)"; return 1; fi
  say "kafka: stopped"; return 1
}

# ---------------------------------------------------------------- main
usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

svcs=()
services_from_args() { # validate names into svcs[]; default all
  svcs=()
  [ "$#" -eq 0 ] && { svcs=("${ALL_SERVICES[@]}"); return 0; }
  local s
  for s in "$@"; do
    case "$s" in postgres|redis|kafka) ;; pg|postgresql) s=postgres ;; *) die "unknown service: $s (postgres|redis|kafka)";; esac
    svcs+=("$s")
  done
}

cmd="${1:-}"; [ "$#" -gt 0 ] && shift
case "$cmd" in
  start)
    services_from_args "$@"
    ensure_deps; lock
    for s in "${svcs[@]}"; do "${s/postgres/pg}_start"; done ;;
  stop)
    services_from_args "$@"
    lock
    for ((i=${#svcs[@]}-1; i>=0; i--)); do s="${svcs[$i]}"; "${s/postgres/pg}_stop"; done ;;
  restart)
    "$0" stop "$@"; exec "$0" start "$@" ;;
  status)
    services_from_args "$@"
    rc=0
    for s in "${svcs[@]}"; do "${s/postgres/pg}_status" || rc=3; done
    exit "$rc" ;;
  env)
    echo "export TODO_DATABASE_URL=postgresql://todo@$HOST:$PG_PORT/todo"
    echo "export TODO_REDIS_URL=redis://$HOST:$REDIS_PORT/0"
    echo "export TODO_KAFKA_BROKERS=$HOST:$KAFKA_PORT" ;;
  -h|--help|help) usage 0 ;;
  *) usage 2 ;;
esac
