-- 0008_search_tiers.sql - td_search_query(q, weights): the search of td_search_query (0001)
-- restricted to the lexemes of some fields, for the RELEVANCE order's tiers.
--
-- Owner: server/store/task_query.c (the only caller; weights are its constants).
-- tasks.search weighs title 'A', description 'B', tag names 'C' (0001), so
-- td_search_query('gro week', 'AC') = 'gro':*AC & 'week':*AC: every word is the prefix of
-- a word of the title or of a tag name. Why tiers rather than ts_rank: see task_query.h.
-- ($2, not its name: unnest(tsvector) has a column "weights" too.)
-- NULL when q holds no word or weights is not 1-4 of the letters A-D.
CREATE FUNCTION td_search_query(q text, weights text) RETURNS tsquery
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
        SELECT string_agg('''' || replace(replace(lexeme, '\', '\\'), '''', '''''')
                          || ''':*' || $2, ' & ')::tsquery
        FROM unnest(to_tsvector('simple'::regconfig, q))
        WHERE $2 ~ '^[ABCD]{1,4}$'
    $$;
