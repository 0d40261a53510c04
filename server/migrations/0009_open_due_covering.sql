-- 0009_open_due_covering.sql - the open-tasks-by-due index carries priority and tag_keys,
-- so a big user's PROBE walk of that view filtered by priority or tag reads no heap.
--
-- Owner: server/store/task_query.c (PROBE walks: covered_walk()). Why: the default view of
-- a task list is open tasks by due date, and its usual filters are a tag and a priority.
-- For the 1M-task bench user, "open, tag work, URGENT, by due" matches 0.6% of open tasks:
-- 4,000 rows walked through the heap (1.1 us each) found 19 of a 51-row page, so every
-- page also ran the GIN fallback (p99 188 ms at 8 clients). Index-only, the walk costs
-- 0.25 us a row (9,495 rows: 2.0 ms) and may go 16,000 rows. Same keys as before, so the
-- index is updated by the same writes (every task update changes updated_at, which is
-- indexed, so none was HOT); its entries grow by the tag array: 80 -> 137 MB on 1.6M
-- open tasks. Rows changed since the last VACUUM are read from the heap as before.
-- Rebuilding takes a lock that blocks task writes for the build (1.6 s per 1.6M open
-- tasks measured).
DROP INDEX tasks_user_open_due_idx;
CREATE INDEX tasks_user_open_due_idx ON tasks (user_id, due_sort, id)
    INCLUDE (priority, tag_keys) WHERE completed_at IS NULL;
