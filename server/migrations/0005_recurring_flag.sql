-- 0005_recurring_flag.sql - tasks.recurring: "this task has a recurrence_rules row", kept
-- by a trigger, so that ListTasks' recurring_only filter is a column test with an index.
--
-- Owner: the trigger below (writers never set the column; server/store/task_store.c is
-- unchanged). Reader: server/store/task_query.c ("t.recurring").
-- Why: recurring_only was EXISTS (SELECT 1 FROM recurrence_rules ...): the planner starts
-- from the user's rules and fetches each task by primary key (one random heap page per
-- rule: 488 rules -> 1,950 buffers, 37 ms p99 at 8 clients for a 10k-task user), or walks
-- the due index probing recurrence_rules for every task (1M-task user). With a column and
-- a partial (user_id, due_sort, id) index the page is a plain keyset range.
-- Invariant: tasks.recurring = EXISTS (recurrence_rules WHERE task_id = tasks.id), at every
-- statement end, for every path that changes recurrence_rules (INSERT, DELETE, UPDATE of
-- task_id, cascades from tasks). The trigger runs AFTER each row so it sees the final
-- rows; when the task itself is being deleted the UPDATE simply matches nothing.
ALTER TABLE tasks ADD COLUMN recurring boolean NOT NULL DEFAULT false;

CREATE FUNCTION td_tasks_recurring_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE tasks SET recurring = false
        WHERE id = OLD.task_id AND recurring
          AND NOT EXISTS (SELECT 1 FROM recurrence_rules rr WHERE rr.task_id = OLD.task_id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE tasks SET recurring = true WHERE id = NEW.task_id AND NOT recurring;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER recurrence_rules_recurring
    AFTER INSERT OR DELETE OR UPDATE OF task_id ON recurrence_rules
    FOR EACH ROW EXECUTE FUNCTION td_tasks_recurring_sync();

UPDATE tasks t SET recurring = true
WHERE EXISTS (SELECT 1 FROM recurrence_rules rr WHERE rr.task_id = t.id);

-- Recurring tasks are a small share (the bench data: 5%): a partial index per common
-- order keeps them a keyset range without growing the index of every task.
CREATE INDEX tasks_user_recurring_due_idx ON tasks (user_id, due_sort, id) WHERE recurring;
