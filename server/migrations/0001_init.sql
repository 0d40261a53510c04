-- 0001_init.sql - the whole todo schema (PostgreSQL 15; the source of truth).
--
-- Owner: lib/pg + server/store. Applied by td_pg_migrate() in ONE transaction together
-- with its schema_migrations row, under an advisory lock (schema_migrations itself is
-- created by the migrator, not here). Never edit an applied migration: add NNNN_x.sql.
--
-- Invariants the application relies on:
--  * Every row is scoped by user_id (the JWT subject). Every query filters on it, and
--    every list index starts with it, so one user's reads never touch another's pages.
--  * A mutation, in one transaction: bumps users_revisions, writes the aggregate row(s)
--    with that revision, and inserts one `changes` row per event (the transactional
--    outbox AND the per-user change log that WatchTasks replays by revision).
--  * ListTasks is keyset-paginated on (<sort key>, id); each sort key has a btree
--    (user_id, key, id) so a page is an index range scan + LIMIT, whatever the table size.
--  * tasks.tags holds the task's tag display names (copy of tags.name, kept in the same
--    transaction as task_tags); tag_keys/search are generated from it, never written.
--  * Ids exposed to clients are uuids (opaque strings). Hard deletes: the change record
--    carries the deletion event.

-- Trusted extensions (PG13+): the database owner may create them without superuser.
-- btree_gin lets (user_id, tsvector) and (user_id, text[]) share one GIN index, so a
-- search or tag filter intersects the user's posting list instead of scanning every
-- user's matches.
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- ---------------------------------------------------------------------------------
-- Helper functions (IMMUTABLE so generated columns and indexes may use them).

-- Lower-cased copy of a tag-name array: the case-insensitive tag filter key.
CREATE FUNCTION td_lower_array(a text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT ARRAY(SELECT lower(x) FROM unnest(a) AS x) $$;

-- Tag names as one text for the search vector (array_to_string is only STABLE).
CREATE FUNCTION td_array_text(a text[]) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT array_to_string(a, ' ') $$;

-- User search text -> prefix tsquery: every word becomes 'word':* AND-ed together.
-- "gro" finds "Groceries"; quotes, &|!():* and other metacharacters are plain text
-- (they are split away by the 'simple' parser, and lexemes are re-quoted). Returns
-- NULL when the text holds no word (caller: no search filter).
CREATE FUNCTION td_search_query(q text) RETURNS tsquery
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
        SELECT string_agg('''' || replace(replace(lexeme, '\', '\\'), '''', '''''')
                          || ''':*', ' & ')::tsquery
        FROM unnest(to_tsvector('simple'::regconfig, q))
    $$;

-- ---------------------------------------------------------------------------------
-- Per-user revision counter: bumped (INSERT .. ON CONFLICT DO UPDATE .. RETURNING) by
-- every mutation; the row lock serialises one user's writers, which is what makes a
-- user's revisions gap-free and ordered. Hot row: low fillfactor keeps updates HOT.
CREATE TABLE users_revisions (
    user_id    text   PRIMARY KEY CHECK (octet_length(user_id) BETWEEN 1 AND 255),
    revision   bigint NOT NULL DEFAULT 0 CHECK (revision >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 50);

-- ---------------------------------------------------------------------------------
CREATE TABLE tasks (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      text        NOT NULL CHECK (octet_length(user_id) BETWEEN 1 AND 255),
    title        text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description  text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    -- Due: either an instant (due_at) or an all-day date (due_date), never both.
    due_at       timestamptz,
    due_date     date,
    time_zone    text        NOT NULL DEFAULT 'UTC' CHECK (octet_length(time_zone) BETWEEN 1 AND 64),
    priority     smallint    NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 4), -- LOW..URGENT
    completed_at timestamptz,
    tags         text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 64),
    request_id   text        CHECK (octet_length(request_id) BETWEEN 1 AND 128),
    revision     bigint      NOT NULL,          -- user revision of the last change = etag
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- Sort key for "by due": the instant, or local midnight of the all-day date in the
    -- task's zone; 'infinity' when there is no due date (ascending: no-due last).
    -- An unknown time zone fails the insert with 22023 (-> INVALID_ARGUMENT).
    due_sort     timestamptz GENERATED ALWAYS AS (
                     COALESCE(due_at, timezone(time_zone, due_date::timestamp), 'infinity')
                 ) STORED,
    -- When the task becomes overdue: the instant, or the END of the all-day date in the
    -- task's zone. Overdue <=> completed_at IS NULL AND overdue_at <= now().
    overdue_at   timestamptz GENERATED ALWAYS AS (
                     COALESCE(due_at, timezone(time_zone, (due_date + 1)::timestamp), 'infinity')
                 ) STORED,
    tag_keys     text[]      GENERATED ALWAYS AS (td_lower_array(tags)) STORED,
    search       tsvector    GENERATED ALWAYS AS (
                     setweight(to_tsvector('simple'::regconfig, title), 'A') ||
                     setweight(to_tsvector('simple'::regconfig, description), 'B') ||
                     setweight(to_tsvector('simple'::regconfig, td_array_text(tags)), 'C')
                 ) STORED,
    CONSTRAINT tasks_one_due CHECK (due_at IS NULL OR due_date IS NULL)
);

-- Keyset indexes, one per sort order (ascending and descending both use them; the
-- tie-breaker id runs in the same direction as the key). Query shape:
--   WHERE user_id = $1 AND <filters> AND (key, id) > ($k, $id) ORDER BY key, id LIMIT n
CREATE INDEX tasks_user_due_idx      ON tasks (user_id, due_sort, id);
CREATE INDEX tasks_user_priority_idx ON tasks (user_id, priority, id);
CREATE INDEX tasks_user_created_idx  ON tasks (user_id, created_at, id);
CREATE INDEX tasks_user_updated_idx  ON tasks (user_id, updated_at, id);
CREATE INDEX tasks_user_title_idx    ON tasks (user_id, lower(title), id);
-- The default view (open tasks by due date; overdue-only, which adds
-- "AND due_sort <= now()" so the range scan stops early).
CREATE INDEX tasks_user_open_due_idx ON tasks (user_id, due_sort, id) WHERE completed_at IS NULL;
-- Search and tag filters, scoped to the user inside the GIN (btree_gin).
CREATE INDEX tasks_user_search_idx   ON tasks USING gin (user_id, search);
CREATE INDEX tasks_user_tags_idx     ON tasks USING gin (user_id, tag_keys);
-- Idempotent create: a retried request_id hits this and returns the first task.
CREATE UNIQUE INDEX tasks_user_request_uidx ON tasks (user_id, request_id)
    WHERE request_id IS NOT NULL;

-- ---------------------------------------------------------------------------------
CREATE TABLE tags (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    text        NOT NULL CHECK (octet_length(user_id) BETWEEN 1 AND 255),
    name       text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    name_lower text        GENERATED ALWAYS AS (lower(name)) STORED,
    color      text        NOT NULL DEFAULT '' CHECK (color = '' OR color ~ '^#[0-9A-Fa-f]{6}$'),
    revision   bigint      NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Case-insensitive uniqueness (23505 -> ALREADY_EXISTS) and the ListTags order.
CREATE UNIQUE INDEX tags_user_name_uidx ON tags (user_id, name_lower);

-- The referential truth of task <-> tag (tasks.tags is its denormalised copy).
CREATE TABLE task_tags (
    task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    tag_id  uuid NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    user_id text NOT NULL,
    PRIMARY KEY (task_id, tag_id)
);
CREATE INDEX task_tags_tag_idx ON task_tags (tag_id);

-- ---------------------------------------------------------------------------------
-- Recurrence: one rule per task (only the current occurrence exists as a task; the
-- recurrence worker creates the next one and moves/copies the rule). Filter
-- "recurring only" = EXISTS (SELECT 1 FROM recurrence_rules r WHERE r.task_id = t.id).
CREATE TABLE recurrence_rules (
    task_id         uuid        PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    user_id         text        NOT NULL,
    series_id       uuid        NOT NULL DEFAULT gen_random_uuid(), -- same across occurrences
    freq            text        NOT NULL CHECK (freq IN ('daily', 'weekly', 'monthly', 'yearly')),
    interval_n      integer     NOT NULL DEFAULT 1 CHECK (interval_n BETWEEN 1 AND 1000),
    by_weekday      smallint[]  NOT NULL DEFAULT '{}',   -- ISO 1=Mon..7=Sun (weekly)
    by_month_day    smallint    CHECK (by_month_day BETWEEN -1 AND 31 AND by_month_day <> 0),
    by_set_pos      smallint    CHECK (by_set_pos BETWEEN -1 AND 5 AND by_set_pos <> 0),
    by_month        smallint    CHECK (by_month BETWEEN 1 AND 12),
    until_date      date,
    count_remaining integer     CHECK (count_remaining >= 0),
    rrule           text        CHECK (octet_length(rrule) <= 1024), -- RFC 5545 as given
    anchor_day      smallint    CHECK (anchor_day BETWEEN 1 AND 31), -- wanted day (31 clamps)
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recurrence_rules_user_idx ON recurrence_rules (user_id);

-- ---------------------------------------------------------------------------------
-- Reminders. The scheduler claims due rows with
--   SELECT .. WHERE state = 'scheduled' AND fire_at <= now() ORDER BY fire_at
--   LIMIT n FOR UPDATE SKIP LOCKED
-- and, in the same transaction, writes the reminder.due change row and marks the
-- reminder fired (or claimed, with claimed_by/claimed_until, when delivery happens
-- outside the transaction; an expired claim is taken over).
CREATE TABLE reminders (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         text        NOT NULL,
    task_id         uuid        NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    kind            text        NOT NULL CHECK (kind IN ('offset', 'absolute')),
    offset_seconds  integer     CHECK (offset_seconds >= 0),   -- before due (kind offset)
    absolute_at     timestamptz,                               -- kind absolute
    fire_at         timestamptz,        -- next firing; NULL: offset reminder of an undated task
    state           text        NOT NULL DEFAULT 'scheduled'
                    CHECK (state IN ('scheduled', 'claimed', 'fired', 'cancelled', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    claimed_by      text,
    claimed_until   timestamptz,
    next_attempt_at timestamptz,
    fired_at        timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reminders_kind_fields CHECK (
        (kind = 'offset' AND offset_seconds IS NOT NULL) OR
        (kind = 'absolute' AND absolute_at IS NOT NULL))
);
CREATE INDEX reminders_due_idx     ON reminders (fire_at) WHERE state = 'scheduled';
CREATE INDEX reminders_claimed_idx ON reminders (claimed_until) WHERE state = 'claimed';
CREATE INDEX reminders_task_idx    ON reminders (task_id);
CREATE INDEX reminders_user_idx    ON reminders (user_id, fire_at, id);

-- In-app notifications. event_id (the ReminderDue / NotificationSend event) makes the
-- notifier idempotent: a redelivered event inserts nothing (ON CONFLICT DO NOTHING).
-- task_id is not a foreign key: a notification outlives its task.
CREATE TABLE notifications (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     text        NOT NULL,
    event_id    text        NOT NULL UNIQUE,
    task_id     uuid,
    reminder_id uuid,
    title       text        NOT NULL,
    body        text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    read_at     timestamptz
);
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at, id);

-- Activity feed, written by the activity worker from task.events (event_id = CloudEvent
-- id, so a redelivery is a no-op). Productivity summaries aggregate it per user and day.
CREATE TABLE activity_log (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     text        NOT NULL,
    event_id    text        NOT NULL UNIQUE,
    type        text        NOT NULL,
    task_id     uuid,
    occurred_at timestamptz NOT NULL,
    payload     jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX activity_log_user_idx ON activity_log (user_id, occurred_at, id);
CREATE INDEX activity_log_user_type_idx ON activity_log (user_id, type, occurred_at);

-- ---------------------------------------------------------------------------------
-- Change records: the transactional outbox and the per-user change log in one table.
--  * Relay: SELECT .. WHERE published_at IS NULL ORDER BY id LIMIT n (partial index);
--    marks published_at only after Kafka's delivery report. It must not use "id >
--    high-water mark": ids are assigned at insert, not at commit.
--  * One user's rows are ordered by id AND by revision (users_revisions row lock).
--  * WatchTasks(since_revision): WHERE user_id = $1 AND revision > $2 ORDER BY revision.
--  * revision is NULL for events that are not user-visible changes (reminder.due,
--    notification.send, dead letters); NULLs do not collide in the unique index.
--  * payload = serialized io.cloudevents.v1.CloudEvent (what the relay publishes).
CREATE TABLE changes (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        text        NOT NULL,
    revision       bigint,
    event_id       uuid        NOT NULL UNIQUE,
    event_type     text        NOT NULL,              -- CloudEvent type
    aggregate_type text        NOT NULL,              -- task | tag | reminder | notification
    aggregate_id   text        NOT NULL,
    topic          text        NOT NULL DEFAULT 'task.events',
    partition_key  text        NOT NULL,              -- Kafka key (the user id)
    payload        bytea       NOT NULL,
    traceparent    text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    published_at   timestamptz,
    publish_attempts integer   NOT NULL DEFAULT 0,
    CONSTRAINT changes_user_revision_key UNIQUE (user_id, revision)
);
CREATE INDEX changes_unpublished_idx ON changes (id) WHERE published_at IS NULL;
CREATE INDEX changes_created_brin ON changes USING brin (created_at); -- retention sweeps

-- Idempotent consumers: the effect and this row commit together; a duplicate
-- (23505 on the primary key) means "already done: roll back and ack".
CREATE TABLE processed_events (
    consumer     text        NOT NULL,
    event_id     text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX processed_events_at_brin ON processed_events USING brin (processed_at);

-- ---------------------------------------------------------------------------------
-- Wake-ups. The scheduler LISTENs on td_reminders. Contract: it never sleeps longer
-- than 30 s, so only a reminder due within 30 s needs to wake it (payload: fire_at in
-- epoch seconds); everything later is found by its next timed look. This keeps NOTIFY
-- (and its commit-serialising lock, below) off the common CreateTask-with-reminder path.
-- The relay's td_outbox wake-up is NOT a trigger: a NOTIFY inside a writing transaction
-- takes a database-wide lock held through the commit flush, which serialises every
-- mutation's commit and defeats group commit (measured: see docs). Writers instead send
-- "SELECT pg_notify('td_outbox', '')" right AFTER COMMIT (same pipeline, no WAL flush
-- under the lock), and the relay also polls on a timer as a safety net.
CREATE FUNCTION td_reminders_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state = 'scheduled' AND NEW.fire_at <= now() + interval '30 seconds' THEN
        PERFORM pg_notify('td_reminders', extract(epoch FROM NEW.fire_at)::bigint::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER reminders_notify
    AFTER INSERT OR UPDATE OF fire_at, state ON reminders
    FOR EACH ROW EXECUTE FUNCTION td_reminders_notify();
