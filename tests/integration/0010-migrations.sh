#!/bin/bash
# 0010-migrations.sh - `todo-server migrate` against a real PostgreSQL, in a fresh
# database of its own (created and dropped here; role needs CREATEDB):
#   1. two migrators started together both exit 0 (advisory lock: no race),
#   2. a third run is a no-op,
#   3. schema_migrations holds exactly the versions of server/migrations/*.sql,
#      every table of the schema exists, and no advisory lock is left behind.
# Env: TODO_DATABASE_URL (default postgresql://todo@127.0.0.1:5433/todo), TD_SERVER_BIN,
# TD_SOURCE_DIR. Exit 0 = pass.
set -euo pipefail

BASE_URL=${TODO_DATABASE_URL:-postgresql://todo@127.0.0.1:5433/todo}
SRC=${TD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${TD_SERVER_BIN:?TD_SERVER_BIN must point at the todo-server binary}
DB="todo_mig_$$"
WORK=$(mktemp -d)

fail() { echo "FAIL: $*" >&2; exit 1; }

# Same server and credentials, another database name (URI or key=value form).
URL=$(python3 - "$BASE_URL" "$DB" <<'PY'
import sys, urllib.parse as u
url, db = sys.argv[1], sys.argv[2]
if "://" in url:
    p = u.urlsplit(url)
    print(u.urlunsplit((p.scheme, p.netloc, "/" + db, p.query, p.fragment)))
else:
    parts = [kv for kv in url.split() if not kv.startswith("dbname=")]
    print(" ".join(parts + ["dbname=" + db]))
PY
)

cleanup() {
    psql "$BASE_URL" -qAt -v ON_ERROR_STOP=0 -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
        >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

psql "$BASE_URL" -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB" >/dev/null \
    || fail "cannot create database $DB (does the role have CREATEDB?)"

# 1. two replicas migrating at once
TODO_DATABASE_URL=$URL "$BIN" migrate >"$WORK/a.log" 2>&1 & pa=$!
TODO_DATABASE_URL=$URL "$BIN" migrate >"$WORK/b.log" 2>&1 & pb=$!
ra=0; rb=0
wait $pa || ra=$?
wait $pb || rb=$?
if [ $ra -ne 0 ] || [ $rb -ne 0 ]; then
    cat "$WORK/a.log" "$WORK/b.log" >&2
    fail "concurrent migrate exit codes $ra/$rb"
fi

# 2. again: nothing to do
before=$(psql "$URL" -qAt -c "SELECT count(*), max(applied_at) FROM schema_migrations")
TODO_DATABASE_URL=$URL "$BIN" migrate >"$WORK/c.log" 2>&1 || { cat "$WORK/c.log" >&2; fail "third migrate failed"; }
after=$(psql "$URL" -qAt -c "SELECT count(*), max(applied_at) FROM schema_migrations")
[ "$before" = "$after" ] || fail "third run changed schema_migrations: '$before' -> '$after'"

# 3. versions recorded = files shipped, each once
want=$(for f in "$SRC"/server/migrations/[0-9]*_*.sql; do
           b=$(basename "$f"); echo $((10#${b%%_*})); done | sort -n | paste -sd' ')
got=$(psql "$URL" -qAt -c "SELECT version FROM schema_migrations ORDER BY version" | paste -sd' ')
[ "$want" = "$got" ] || fail "schema_migrations versions '$got', expected '$want'"

for t in users_revisions tasks tags task_tags recurrence_rules reminders notifications \
         activity_log changes processed_events schema_migrations; do
    n=$(psql "$URL" -qAt -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = '$t'")
    [ "$n" = 1 ] || fail "table $t missing"
done
for i in tasks_user_due_idx tasks_user_keys_idx tasks_user_request_uidx \
         reminders_due_idx changes_unpublished_idx changes_user_revision_key; do
    n=$(psql "$URL" -qAt -c "SELECT count(*) FROM pg_indexes WHERE indexname = '$i'")
    [ "$n" = 1 ] || fail "index $i missing"
done

# The ListTasks GIN takes entries directly (0006, 0010): no pending list for scans to read.
n=$(psql "$URL" -qAt -c "SELECT count(*) FROM pg_class WHERE relname = 'tasks_user_keys_idx'
      AND 'fastupdate=off' = ANY(reloptions)")
[ "$n" = 1 ] || fail "the GIN tasks_user_keys_idx uses a pending list"

# The schema works end to end: generated columns, prefix search, unique per-user rows.
out=$(psql "$URL" -qAt -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO tasks (user_id, title, tags, due_date, time_zone, revision)
VALUES ('u1', 'Buy Groceries', '{Home}', '2026-03-01', 'Europe/Paris', 1);
SELECT title, due_sort = '2026-02-28 23:00:00+00'::timestamptz, tag_keys
FROM tasks WHERE user_id = 'u1' AND search @@ td_search_query('gro');
SQL
)
[ "$out" = "Buy Groceries|t|{home}" ] || fail "schema smoke query returned '$out'"

# The task keys (0010) find exactly what the row tests find: a three-letter word as its '^'
# key, longer and shorter words as prefixes, tags, and the weeks of a range on both sides
# of a week's start (Thursday 00:00 UTC), an open range ending now included. The index is
# forced, so the keys themselves are what is checked. A 255-byte user with a 2,000-letter
# word (a key over tsvector's 2047-byte limit) still inserts.
out=$(psql "$URL" -qAt -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO tasks (user_id, title, description, tags, revision, created_at, updated_at)
VALUES ('k1', 'Payment due', 'for the pa', '{Bills}', 1,
        '2026-04-01 23:59:59.999999+00', '2026-04-01 23:59:59.999999+00'),
       ('k1', 'Pay rent', '', '{Home,Bills}', 2, '2026-04-02 00:00+00', '2026-04-09 00:00+00'),
       ('k1', 'Paste', 'o''brien \ pay?', '{}', 3, now() + interval '1 day', now());
INSERT INTO tasks (user_id, title, description, revision)
VALUES (repeat('u', 255), 'long word', repeat('w', 2000), 1);
SET enable_seqscan = off;
CREATE TEMP TABLE q (n int, q tsquery, want text);
INSERT INTO q VALUES
  (1, td_user_search_query('k1', 'pay'), 'Payment due,Pay rent,Paste'),
  (2, td_user_search_query('k1', 'paym'), 'Payment due'),
  (3, td_user_search_query('k1', 'pa'), 'Payment due,Pay rent,Paste'),
  (4, td_user_search_query('k1', 'bil pay'), 'Payment due,Pay rent'),
  (5, td_user_search_query('k1', 'o''brien'), 'Paste'),
  (6, td_user_tags_query('k1', '{bills,home}', '&'), 'Pay rent'),
  (7, td_user_tags_query('k1', '{bills,home}', '|'), 'Payment due,Pay rent'),
  (8, td_user_weeks_query('k1', 'c', '2026-04-02 00:00+00', NULL), 'Pay rent,Paste'),
  (9, td_user_weeks_query('k1', 'c', '2026-04-01 23:00+00', '2026-04-02 00:00:00.000001+00'),
      'Payment due,Pay rent'),
  (10, td_user_weeks_query('k1', 'u', '2026-04-09 00:00+00', '2026-04-10 00:00+00'), 'Pay rent');
SELECT q.n FROM q WHERE q.want IS DISTINCT FROM (
  SELECT string_agg(t.title, ',' ORDER BY t.revision) FROM tasks t
  WHERE td_task_keys(t.user_id, t.search, t.tag_keys, t.created_at, t.updated_at) @@ q.q
    AND t.user_id = 'k1');
SQL
)
[ -z "$out" ] || fail "task keys (0010) disagree with the rows for queries: $out"

locks=$(psql "$URL" -qAt -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
[ "$locks" = 0 ] || fail "advisory lock left behind"

echo "PASS 0010-migrations ($got)"
