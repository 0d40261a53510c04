#!/usr/bin/env bash
# Smoke test: PostgreSQL and Redis from ci/services.sh answer.
#  - psql connects to TODO_DATABASE_URL, SELECT 1, pg_trgm is installed and works
#  - redis-cli -u TODO_REDIS_URL ping => PONG, and a SET/GET round trip
# Needs: psql, redis-cli.
set -euo pipefail

DB_URL="${TODO_DATABASE_URL:-postgresql://todo@127.0.0.1:5433/todo}"
REDIS_URL="${TODO_REDIS_URL:-redis://127.0.0.1:6380/0}"
pass=0; fail=0
ok()   { echo "ok   - $*"; pass=$((pass + 1)); }
bad()  { echo "FAIL - $*"; fail=$((fail + 1)); }

echo "# services smoke test: $DB_URL, $REDIS_URL"

psqlc() { PGCONNECT_TIMEOUT=5 psql "$DB_URL" -X -q -tA -v ON_ERROR_STOP=1 -c "$1" 2>&1; }

if out="$(psqlc 'SELECT 1')" && [ "$out" = 1 ]; then ok "postgres: SELECT 1 as $(psqlc 'SELECT current_user')"; else bad "postgres: SELECT 1: $out"; fi
if out="$(psqlc "SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'")" && [ "$out" = pg_trgm ]; then
  ok "postgres: extension pg_trgm installed"
else
  bad "postgres: pg_trgm missing: $out"
fi
if out="$(psqlc "SELECT similarity('groceries', 'grocery') > 0.3")" && [ "$out" = t ]; then
  ok "postgres: pg_trgm similarity() works"
else
  bad "postgres: similarity(): $out"
fi

if out="$(redis-cli -u "$REDIS_URL" ping 2>&1)" && [ "$out" = PONG ]; then ok "redis: PING => PONG"; else bad "redis: ping: $out"; fi
k="smoke:$$:$(date +%s%N)"
if out="$(redis-cli -u "$REDIS_URL" set "$k" v EX 30 NX 2>&1)" && [ "$out" = OK ] \
   && [ "$(redis-cli -u "$REDIS_URL" get "$k" 2>&1)" = v ]; then
  ok "redis: SET NX EX / GET round trip"
else
  bad "redis: set/get: $out"
fi
redis-cli -u "$REDIS_URL" del "$k" >/dev/null 2>&1 || true

echo "services-smoke: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
