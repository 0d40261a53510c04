-- 0007_tag_open_tasks.sql - tags.open_tasks: the number of open tasks carrying the tag,
-- kept by triggers, so that ListTags/GetTag/UpdateTag read a column instead of counting.
--
-- Owner: the triggers below (no writer sets the column). Reader: server/store/tag_store.c.
-- Why: the count was a correlated subquery joining task_tags to tasks per tag: ListTags of
-- a user with 1,000,000 tasks (20 tags, ~1.5 per task) took 6.1 s, of a 10k-task user
-- 36 ms (tests/bench/list_tasks.sh data with task_tags filled); now a page of tags reads
-- its rows only.
-- Invariant, at every statement end: tags.open_tasks = count of task_tags rows of the tag
-- whose task has completed_at IS NULL. Each trigger applies the change of one event given
-- the state it sees when it fires (AFTER triggers: the statement's final rows), so any
-- order of statements in a transaction keeps it:
--   * a link added/removed: +1/-1 when its task is open (a task deleted in the same command
--     is no longer visible, and its own trigger below has already counted it);
--   * a task completed/reopened: -1/+1 on each of its tags;
--   * an open task deleted: -1 on each of its tags, BEFORE the delete, while its links
--     still exist (they go by ON DELETE CASCADE afterwards).
-- Writers of one user already serialise on users_revisions, so the counters of that
-- user's tags add no lock contention across users.
LOCK TABLE tasks, task_tags, tags IN SHARE ROW EXCLUSIVE MODE; -- exact backfill

ALTER TABLE tags ADD COLUMN open_tasks integer NOT NULL DEFAULT 0;

CREATE FUNCTION td_tag_open_tasks_link() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE tags SET open_tasks = open_tasks - 1
        WHERE id = OLD.tag_id
          AND EXISTS (SELECT 1 FROM tasks WHERE id = OLD.task_id AND completed_at IS NULL);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE tags SET open_tasks = open_tasks + 1
        WHERE id = NEW.tag_id
          AND EXISTS (SELECT 1 FROM tasks WHERE id = NEW.task_id AND completed_at IS NULL);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER task_tags_open_tasks
    AFTER INSERT OR DELETE OR UPDATE OF task_id, tag_id ON task_tags
    FOR EACH ROW EXECUTE FUNCTION td_tag_open_tasks_link();

CREATE FUNCTION td_tag_open_tasks_task() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE tags g SET open_tasks = g.open_tasks - 1
        FROM task_tags tt WHERE tt.task_id = OLD.id AND g.id = tt.tag_id;
        RETURN OLD;
    END IF;
    UPDATE tags g
    SET open_tasks = g.open_tasks + CASE WHEN NEW.completed_at IS NULL THEN 1 ELSE -1 END
    FROM task_tags tt WHERE tt.task_id = NEW.id AND g.id = tt.tag_id;
    RETURN NULL;
END $$;

CREATE TRIGGER tasks_open_tasks_delete
    BEFORE DELETE ON tasks FOR EACH ROW WHEN (OLD.completed_at IS NULL)
    EXECUTE FUNCTION td_tag_open_tasks_task();

CREATE TRIGGER tasks_open_tasks_completion
    AFTER UPDATE OF completed_at ON tasks FOR EACH ROW
    WHEN ((OLD.completed_at IS NULL) IS DISTINCT FROM (NEW.completed_at IS NULL))
    EXECUTE FUNCTION td_tag_open_tasks_task();

UPDATE tags g SET open_tasks = c.n
FROM (SELECT tt.tag_id, count(*)::integer AS n
      FROM task_tags tt JOIN tasks k ON k.id = tt.task_id
      WHERE k.completed_at IS NULL GROUP BY tt.tag_id) c
WHERE g.id = c.tag_id;
