-- create_task.sql - the exact SQL shape of one plain CreateTask (no tags, reminders or
-- recurrence), for pgbench -M prepared. Two round trips, like the server
-- (server/store/task_store.h):
--   1: [BEGIN, revision bump, transaction time]          (pipeline, one Sync)
--   2: [INSERT task, INSERT change record, COMMIT, NOTIFY] (pipeline, one Sync)
-- The server builds the CloudEvent payload (≈ 480-520 bytes for a short title) between
-- the two round trips; here it is a constant 480-byte bytea. Task and event ids are
-- client-side UUIDv4 in the server, gen_random_uuid() here. Users: 10,000 (the bump row
-- lock serialises one user's writers; load generators must spread users the same way).
\set uid random(1, 10000)
\set n random(1, 1000000000)
\startpipeline
BEGIN;
INSERT INTO users_revisions (user_id, revision) VALUES ('bench-' || :uid, 1) ON CONFLICT (user_id) DO UPDATE SET revision = users_revisions.revision + 1, updated_at = now() RETURNING revision;
SELECT (extract(epoch FROM now()) * 1000000)::int8, CASE WHEN NULL::date IS NOT NULL THEN timezone(NULL::text, (NULL::date + 1)::timestamp) <= now() WHEN NULL::text IS NOT NULL THEN timezone(NULL::text, now()) IS NULL END;
\endpipeline
\startpipeline
INSERT INTO tasks (id, user_id, title, description, due_at, due_date, time_zone, priority, tags, request_id, revision) VALUES (gen_random_uuid(), 'bench-' || :uid, 'bench task ' || :n, '', NULL, NULL, 'UTC', 2, '{}', NULL, (SELECT revision FROM users_revisions WHERE user_id = 'bench-' || :uid));
INSERT INTO changes (user_id, revision, event_id, event_type, aggregate_type, aggregate_id, topic, partition_key, payload, traceparent) VALUES ('bench-' || :uid, (SELECT revision FROM users_revisions WHERE user_id = 'bench-' || :uid), gen_random_uuid(), 'todo.v1.TaskCreated', 'task', gen_random_uuid()::text, 'task.events', 'bench-' || :uid, '\xabababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababab'::bytea, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
COMMIT;
SELECT pg_notify('td_outbox', '');
\endpipeline
