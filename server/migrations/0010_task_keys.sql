-- 0010_task_keys.sql - one user-scoped GIN of task keys: words, three-letter prefixes,
-- tags and creation/update weeks; it replaces the word and tag GINs of 0004.
--
-- Owner: server/store/task_query.c (ListTasks) and server/store/tag_store.c (a tag's
-- tasks). Why, measured on the 1,000,000-task bench user (tests/bench/README.md): the
-- page "search 'pay', open, 3 tags, 2 priorities, due within 7 days, created within 30
-- days" (32 rows) ANDed three bitmaps: the prefix 'pay' collected from its lexemes into a
-- bitmap one TID at a time (33,521 TIDs, 11 ms), the tags (180,188, 14 ms) and a
-- created_at btree range (75,529, 5 ms). In one GIN, each filter is a scan key and the
-- scan skips through the other keys' posting lists: 1.8 ms for the page's 543 candidates.
-- Through todo-server, 8 clients: p99 176 -> 15.4 ms.
-- Keys, each "<user>|<key>" (0004: a lookup reads only that user's entries):
--   <lexeme>      every word of tasks.search (title, description, tag names);
--   ^<3 letters>  the first three letters of every word of three or more, so the widest
--                 prefix a search sends to the GIN ('pay':*, 1-2 letter words aside) is
--                 one exact key, not a scan of every lexeme it starts;
--   #<tag>        every tag (lower case, tasks.tag_keys);
--   !c<week>, !u<week>  the week (td_week) of created_at and of updated_at: a range of a
--                 few weeks is the OR of its weeks' keys, and rows are still tested
--                 against the exact range.
-- The 'simple' parser never starts a lexeme with '^', '#' or '!', so the kinds cannot
-- meet; every query also tests the user and the exact filter on the row.
-- Writes: one GIN instead of two, with more keys a task. pgbench create_task at c=16, 0009
-- vs 0010, 3 alternating 15 s runs: a plain task 2,866 -> 2,673 tasks/s (-7%), with two
-- tags and a 5-word description 2,738 -> 2,331 (-15%). Size: bench database (2.2M tasks)
-- 103 -> 126 MB; write-bench database (1.7M tasks, most with a description) 153 -> 278 MB.
-- Building takes a lock that blocks task writes (2.2M tasks: about 60 s).

-- Whole weeks since 1970-01-01 00:00 UTC (a Thursday); any fixed origin works.
CREATE FUNCTION td_week(ts timestamptz) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT floor(extract(epoch FROM (ts - '1970-01-01 00:00:00+00'::timestamptz))
                       / 604800)::bigint $$;

-- A tsquery operand holding s as it is: quoted, backslash and quote escaped.
CREATE FUNCTION td_ts_quote(s text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT '''' || replace(replace(s, '\', '\\'), '''', '''''') || '''' $$;

-- A key is at most 2047 bytes (tsvector's limit): a word that would make it longer is left
-- out (a 1,700-byte word; the 'simple' parser itself drops words over 2047 bytes), so an
-- insert never fails on it (0004's keys made it fail: a 255-byte user, a 2,000-letter word).
-- PL/pgSQL, not SQL: a SQL function that cannot be inlined is planned again by every
-- INSERT or UPDATE statement; PL/pgSQL keeps its plans for the session (measured, pgbench
-- create_task with two tags and a description, c=16: 2,150 -> 2,700 tasks/s).
-- It calls built-in functions only: the week is td_week's formula written out, because
-- pg_restore rebuilds the index with an empty search_path, where td_week is not found.
CREATE FUNCTION td_task_keys(u text, s tsvector, k text[], created timestamptz,
                             updated timestamptz) RETURNS tsvector
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
DECLARE
    words text[] := tsvector_to_array(s);
BEGIN
    RETURN array_to_tsvector(ARRAY(
        SELECT u || '|' || x FROM unnest(words) AS x
            WHERE octet_length(u) + octet_length(x) < 2040
        UNION SELECT u || '|^' || left(x, 3) FROM unnest(words) AS x WHERE char_length(x) >= 3
        UNION SELECT u || '|#' || x FROM unnest(k) AS x
        UNION SELECT u || '|!' || kind || floor(extract(epoch FROM
                         (ts - '1970-01-01 00:00:00+00'::timestamptz)) / 604800)::bigint
              FROM (VALUES ('c', created), ('u', updated)) AS v(kind, ts) WHERE ts IS NOT NULL));
END
$$;

-- Search text -> the GIN's query: every word AND-ed, a three-letter word as its exact
-- '^' key, any other as a prefix of the user's lexemes. NULL when q holds no word.
CREATE OR REPLACE FUNCTION td_user_search_query(u text, q text) RETURNS tsquery
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
        SELECT string_agg(CASE WHEN char_length(lexeme) = 3
                               THEN td_ts_quote(u || '|^' || lexeme)
                               ELSE td_ts_quote(u || '|' || lexeme) || ':*' END, ' & ')::tsquery
        FROM unnest(to_tsvector('simple'::regconfig, q))
    $$;

-- Tags (lower case) -> 'u|#a' <op> 'u|#b' ...; op '|' (any of) or '&' (all of).
CREATE FUNCTION td_user_tags_query(u text, k text[], op text) RETURNS tsquery
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT string_agg(td_ts_quote(u || '|#' || x), CASE WHEN op = '&' THEN ' & '
                                                               ELSE ' | ' END)::tsquery
          FROM unnest(k) AS x $$;

-- Timestamps in [lo, hi) -> the OR of their weeks' keys; kind 'c' (created_at) or 'u'
-- (updated_at). hi NULL: up to now() plus one week. Both columns come from the database
-- clock (now() at the write), so a row committed before this statement's snapshot was
-- written at most a moment after its now(). NULL when the range is empty.
CREATE FUNCTION td_user_weeks_query(u text, kind text, lo timestamptz, hi timestamptz)
    RETURNS tsquery
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT string_agg(td_ts_quote(u || '|!' || kind || w), ' | ')::tsquery
          FROM generate_series(td_week(lo),
                               CASE WHEN hi IS NULL THEN td_week(now()) + 1
                                    ELSE td_week(hi) END) AS w $$;

CREATE INDEX tasks_user_keys_idx ON tasks
    USING gin (td_task_keys(user_id, search, tag_keys, created_at, updated_at))
    WITH (fastupdate = off);
DROP INDEX tasks_user_lexemes_idx;
DROP INDEX tasks_user_tag_keys_idx;
DROP FUNCTION td_user_lexemes(text, tsvector);
DROP FUNCTION td_user_keys(text, text[]);
