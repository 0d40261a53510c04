-- 0004_list_indexes.sql - user-scoped GIN keys for ListTasks search and tag filters.
--
-- Owner: server/store/task_query.c (the only reader). Why: the btree_gin indexes of 0001,
-- (user_id, search) and (user_id, tag_keys), intersect the user's posting list (every
-- task of the user: 1,000,000 TIDs for a big user) with the term's posting list over ALL
-- users, and a prefix term ('report':*) is a partial match that is collected into a
-- bitmap over every user's matches. Measured on 2M tasks (tests/bench/gen_tasks.sql):
-- search 'report' for a 10k-task user 33 ms -> 1.3 ms; tags_all {work,travel} on a 1M-task
-- user 3.7 s (index-order scan filtering 1M rows, a misestimate) -> 5 ms.
-- Here every key carries its user: "user42|report", "user42|work", so a lookup reads
-- only that user's entries and a prefix query 'user42|rep':* stays inside the user.
-- Queries keep "t.user_id = $1", which makes the prefixed match exact (no collision can
-- admit another user's row). The 0001 indexes are dropped: these supersede them, and each
-- GIN costs every write.
CREATE FUNCTION td_user_lexemes(u text, s tsvector) RETURNS tsvector
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT array_to_tsvector(ARRAY(SELECT u || '|' || x
                                         FROM unnest(tsvector_to_array(s)) AS x)) $$;

-- td_search_query() of 0001 with every lexeme prefixed by the user: 'u|word':* AND-ed.
-- NULL when q holds no word.
CREATE FUNCTION td_user_search_query(u text, q text) RETURNS tsquery
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
        SELECT string_agg('''' || replace(replace(u || '|' || lexeme, '\', '\\'), '''', '''''')
                          || ''':*', ' & ')::tsquery
        FROM unnest(to_tsvector('simple'::regconfig, q))
    $$;

CREATE FUNCTION td_user_keys(u text, k text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT ARRAY(SELECT u || '|' || x FROM unnest(k) AS x) $$;

CREATE INDEX tasks_user_lexemes_idx ON tasks USING gin (td_user_lexemes(user_id, search));
CREATE INDEX tasks_user_tag_keys_idx ON tasks USING gin (td_user_keys(user_id, tag_keys));
DROP INDEX IF EXISTS tasks_user_search_idx;
DROP INDEX IF EXISTS tasks_user_tags_idx;
