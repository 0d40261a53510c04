#!/usr/bin/env bash
# ci/up.sh - THE run command (README Quick start): installs what is missing, starts the
# local services (PostgreSQL, Redis, Kafka), builds build/ (release), applies the
# migrations and runs todo-server in the foreground until Ctrl-C / SIGTERM (forwarded to
# the server, which shuts down gracefully). Safe to rerun: every step is idempotent and a
# todo-server left over from an earlier run (data/todo-server.pid) is stopped first.
# TODO_* values already set in the environment are honoured.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
JOBS="${TD_BUILD_JOBS:-2}"
say() { echo "up: $*"; }

say "installing dependencies (ci/deps.sh)"
ci/deps.sh
say "starting services (ci/services.sh start)"
ci/services.sh start
# Service URLs for every TODO_* variable not already set by the caller.
while IFS= read -r line; do
  [[ "$line" =~ ^export\ (TODO_[A-Z0-9_]+)=(.*)$ ]] || continue
  var="${BASH_REMATCH[1]}"
  if [ -z "${!var:-}" ]; then eval "$line"; fi
done < <(ci/services.sh env)

say "building build/ (release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS" >/dev/null
BIN="$REPO/build/server/todo-server"

# A development JWT secret, made once, readable only by its owner.
mkdir -p data
if [ -z "${TODO_JWT_SECRET:-}" ] && [ -z "${TODO_JWT_PUBLIC_KEY_FILE:-}" ]; then
  if [ ! -s data/dev-jwt-secret ]; then
    (umask 077; openssl rand -hex 32 >data/dev-jwt-secret)
    say "generated a development JWT secret in data/dev-jwt-secret"
  fi
  chmod 600 data/dev-jwt-secret
  TODO_JWT_SECRET="$(cat data/dev-jwt-secret)"
  export TODO_JWT_SECRET
  SECRET_HINT='TODO_JWT_SECRET="$(cat data/dev-jwt-secret)"'
else
  SECRET_HINT='TODO_JWT_SECRET=<your secret>'
fi

# Stop a server left running by an earlier ci/up.sh.
PIDFILE="$REPO/data/todo-server.pid"
if [ -s "$PIDFILE" ]; then
  old="$(tr -dc '0-9' <"$PIDFILE")"
  if [ -n "$old" ] && kill -0 "$old" 2>/dev/null && tr '\0' ' ' <"/proc/$old/cmdline" 2>/dev/null | grep -q todo-server; then
    say "stopping the todo-server of an earlier run (pid $old)"
    kill -TERM "$old"
    for _ in $(seq 1 150); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$PIDFILE"
fi

say "applying migrations"
"$BIN" migrate

GRPC_ADDR="${TODO_GRPC_ADDR:-127.0.0.1:50051}"
METRICS_ADDR="${TODO_METRICS_ADDR:-127.0.0.1:9464}"
GRPCURL="$(go env GOPATH 2>/dev/null | cut -d: -f1)/bin/grpcurl"
[ -x "$GRPCURL" ] || GRPCURL=grpcurl
plain="-plaintext "; [ -n "${TODO_TLS_CERT_FILE:-}" ] && plain="-cacert <ca.pem> "

"$BIN" serve &
SERVER_PID=$!
echo "$SERVER_PID" >"$PIDFILE"
forward() { kill -"$1" "$SERVER_PID" 2>/dev/null || true; }
trap 'forward TERM' TERM
trap 'forward INT' INT
trap 'forward HUP' HUP

# Wait until it listens (or died), then tell the user where it is.
host="${GRPC_ADDR%:*}"; port="${GRPC_ADDR##*:}"; host="${host#[}"; host="${host%]}"
for _ in $(seq 1 100); do
  kill -0 "$SERVER_PID" 2>/dev/null || break
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && break
  sleep 0.1
done
if kill -0 "$SERVER_PID" 2>/dev/null; then
  cat <<INFO

todo is up (pid $SERVER_PID). Stop with Ctrl-C.
  gRPC      $GRPC_ADDR   (health, reflection, todo.v1.*)
  metrics   $( [ "$METRICS_ADDR" = off ] && echo off || echo "http://$METRICS_ADDR/metrics")
  services  ${TODO_DATABASE_URL:-}  ${TODO_REDIS_URL:-}  kafka ${TODO_KAFKA_BROKERS:-}

Try it:
  $GRPCURL ${plain}$GRPC_ADDR list
  TOKEN=\$($SECRET_HINT $BIN mint-token --sub alice --ttl 3600)
  $GRPCURL ${plain}-H "authorization: Bearer \$TOKEN" -d '{}' $GRPC_ADDR todo.v1.TaskService/ListTasks

INFO
fi

# Wait for the server. A trapped signal interrupts `wait` (status > 128) and is forwarded;
# keep waiting until the server has exited, then collect its own exit status.
while kill -0 "$SERVER_PID" 2>/dev/null; do
  wait "$SERVER_PID" || true
done
rc=0
wait "$SERVER_PID" || rc=$?
rm -f "$PIDFILE"
say "todo-server exited ($rc)"
exit "$rc"
