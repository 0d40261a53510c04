-- 0006_gin_no_pending_list.sql - the ListTasks GIN indexes of 0004 take their entries at
-- once instead of through a pending list.
--
-- Owner: server/store/task_query.c (the only reader of these indexes).
-- Why: with fastupdate (the default) every insert appends to one pending list per index,
-- up to gin_pending_list_limit (4 MB), and EVERY scan reads that whole list, whichever
-- user it is for; the insert that finds it full merges it into the index (a write that
-- suddenly takes hundreds of milliseconds). Measured on the 2M-task bench database with
-- 400 CreateTasks/s of other users going on (tests/bench/list_tasks.sh grpc, 8 clients):
-- a 10k-task user's search "gro" 913 -> 1,726 pages/s (p50 8.5 -> 4.2 ms), an all-of-two-
-- tags page 3,145 -> 7,120 pages/s; the pending list had reached 209 pages. The writes did
-- not measurably slow down (pgbench of one CreateTask, 16 clients: 3,400-3,780 tps either
-- way), since a task adds only a few GIN entries and commits wait on the WAL flush.
-- Bulk rewrites pay at once instead of later: renaming a tag carried by 60,010 tasks of
-- one user takes 10.9 s instead of 6.0 s plus a 470-page pending list to merge later.
ALTER INDEX tasks_user_lexemes_idx SET (fastupdate = off);
ALTER INDEX tasks_user_tag_keys_idx SET (fastupdate = off);
-- Entries already pending stay there until merged: do it now.
SELECT gin_clean_pending_list('tasks_user_lexemes_idx'::regclass);
SELECT gin_clean_pending_list('tasks_user_tag_keys_idx'::regclass);
