#!/usr/bin/python3
"""0330-tasks-isolation: tenant isolation for every TaskService and TagService RPC.

User B probes user A's task and tag ids with Get/Update/Delete/Complete/Reopen/UpdateTag/
DeleteTag: each answer is NOT_FOUND with the same message as for a random missing id (ids
masked), and A's data is unchanged afterwards. B's lists, searches and tag filters never
show A's data; B's request_id / tag names do not collide with A's.
"""
import uuid

import tdtest as T
import tdtasks as TT
from tdtasks import OK, NOT_FOUND


def isolation(srv):
    a, b = TT.User(srv, prefix="it-a"), TT.User(srv, prefix="it-b")
    rid = str(uuid.uuid4())
    word = "secretword" + uuid.uuid4().hex[:6]
    ta = a.create_ok("A's %s task" % word, description="private " + word,
                     tags=["Aonly-" + word[-6:], "Shared"], request_id=rid,
                     due=TT.due_in(-60), priority="PRIORITY_URGENT")
    tb_done = a.create_ok("A's completed task")
    a.must("CompleteTask", {"id": tb_done.id})
    tag_a = a.must("CreateTag", {"tag": {"name": "A color tag", "color": "#112233"}})
    shared_a = a.tag_by_name("Shared")
    if shared_a is None:
        raise TT.Failure("A's tag 'Shared' (created by CreateTask) missing from ListTags")
    snap_tasks = {t.id: TT.d(t) for t in a.list_all()}
    snap_tags = {t.id: TT.d(t) for t in a.tags()}
    snap_db = TT.db_counts(a.sub)

    missing = str(uuid.uuid4())
    probes = [
        ("GetTask", lambda i: b.call("GetTask", {"id": i}), ta.id),
        ("UpdateTask", lambda i: b.update({"id": i, "title": "pwned"}, ["title"]), ta.id),
        ("UpdateTask with A's etag", lambda i: b.update({"id": i, "etag": ta.etag, "title": "pwned"},
                                                        ["title"]), ta.id),
        ("DeleteTask", lambda i: b.call("DeleteTask", {"id": i}), ta.id),
        ("DeleteTask with A's etag", lambda i: b.call("DeleteTask", {"id": i, "etag": ta.etag}), ta.id),
        ("CompleteTask", lambda i: b.call("CompleteTask", {"id": i}), ta.id),
        ("ReopenTask (completed task of A)", lambda i: b.call("ReopenTask", {"id": i}), tb_done.id),
        ("ReopenTask", lambda i: b.call("ReopenTask", {"id": i}), ta.id),
        ("UpdateTag", lambda i: b.update_tag({"id": i, "name": "pwned"}, ["name"]), tag_a.id),
        ("UpdateTag color", lambda i: b.update_tag({"id": i, "color": "#000000"}, ["color"]), tag_a.id),
        ("DeleteTag", lambda i: b.call("DeleteTag", {"id": i}), tag_a.id),
        ("DeleteTag (tag on A's task)", lambda i: b.call("DeleteTag", {"id": i}), shared_a.id),
    ]
    for name, fn, victim in probes:
        r_victim = fn(victim)
        r_missing = fn(missing)
        same = TT.norm_msg(r_victim.details, victim, missing) == TT.norm_msg(r_missing.details,
                                                                             victim, missing)
        T.check("B %s on A's id -> NOT_FOUND" % name, r_victim.code == NOT_FOUND, TT.res(r_victim))
        T.check("B %s: same code and message as a random missing id" % name,
                r_victim.code == r_missing.code and same,
                "A's id: %s / missing id: %s" % (TT.res(r_victim), TT.res(r_missing)))
        T.check("B %s: same status details as a missing id" % name,
                TT.violations(r_victim) == TT.violations(r_missing))

    T.check("A's tasks unchanged after B's probes",
            {t.id: TT.d(t) for t in a.list_all()} == snap_tasks)
    T.check("A's tags unchanged after B's probes", {t.id: TT.d(t) for t in a.tags()} == snap_tags)
    T.check("A's rows, change count and revision unchanged (psql)",
            TT.db_counts(a.sub) == snap_db, (snap_db, TT.db_counts(a.sub)))
    T.check("B stored nothing by probing", TT.db_counts(b.sub) == {"tasks": 0, "tags": 0,
                                                                   "changes": 0, "revision": 0},
            TT.db_counts(b.sub))

    # Lists: B sees nothing of A, with any filter.
    T.check("B ListTasks is empty", b.list_all() == [])
    for label, kw in (("search for A's word", dict(search=word)),
                      ("tags_any A's tag", dict(tags_any=["Shared"])),
                      ("tags_all A's tags", dict(tags_all=["Shared", "Aonly-" + word[-6:]])),
                      ("overdue_only", dict(overdue_only=True)),
                      ("completed", dict(completion="COMPLETION_FILTER_COMPLETED")),
                      ("priority URGENT", dict(priorities=["PRIORITY_URGENT"])),
                      ("order by due", dict(order_by="TASK_ORDER_BY_DUE"))):
        r = b.list(page_size=500, **kw)
        T.check("B ListTasks (%s) shows none of A's tasks" % label,
                r.code == OK and not r.response.tasks and r.response.total_size == 0,
                TT.res(r) if r.code != OK else [t.title for t in r.response.tasks])
    r = b.list(include_total_size=True)
    T.check("B total_size is 0", r.code == OK and r.response.total_size == 0, TT.res(r))
    T.check("B ListTags is empty", b.tags() == [])

    # Same request_id and tag names in B's space are independent.
    tb = b.create_ok("B's own task", request_id=rid, tags=["Shared"])
    T.check("B reusing A's request_id gets a new task of its own, not A's",
            tb.id != ta.id and tb.title == "B's own task", TT.d(tb))
    r = b.call("CreateTag", {"tag": {"name": "A color tag"}})
    T.check("B may create a tag named like A's", r.code == OK, TT.res(r))
    shared_b = b.tag_by_name("Shared")
    T.check("B's 'Shared' tag is a different tag with its own count",
            shared_b is not None and shared_b.id != shared_a.id and shared_b.open_task_count == 1,
            TT.d(shared_b))
    shared_a2 = a.tag_by_name("Shared")
    T.check("A's 'Shared' open_task_count unaffected by B",
            shared_a2 is not None and shared_a2.open_task_count == shared_a.open_task_count,
            (TT.d(shared_a), TT.d(shared_a2)))
    T.check("A still sees only its own tasks", {t.id for t in a.list_all()} == set(snap_tasks))
    T.check("A's search does not find B's task", a.ids(search="own") == [])
    r = b.call("DeleteTag", {"id": shared_b.id}) if shared_b else None
    T.check("B deleting its own 'Shared' tag leaves A's tag on A's task",
            r is not None and r.code == OK and "Shared" in a.get_ok(ta.id).tags,
            TT.res(r) if r else None)
    # Revisions are per user: B's first change is revision 1 regardless of A.
    revs = TT.change_revisions(b.sub)
    T.check("B's revisions start at 1 (per-user counter)", revs[:1] == [1], revs)


def run():
    srv = TT.start_server()
    TT.section("tenant isolation", isolation, srv)
    srv.stop()


if __name__ == "__main__":
    T.main(run)
