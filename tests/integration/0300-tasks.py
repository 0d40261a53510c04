#!/usr/bin/python3
"""0300-tasks: TaskService lifecycle through python3-grpcio (generic calls, no stubs).

create with due/priority/tags and see them in the list; all-day due; overdue flag;
unicode/emoji/combining titles round-trip; field-mask updates; etag conflicts; idempotent
create (sequential and from two threads at once); complete/reopen idempotent; delete then
get; every mutation writes exactly one change row and bumps the user's revision (psql).
Each scenario uses its own JWT subject on the shared `todo` database.
"""
import datetime
import threading
import uuid

import tdtest as T
import tdtasks as TT
from tdtasks import OK, INVALID, NOT_FOUND, ABORTED, check_code, check_invalid


def create_and_list(srv):
    u = TT.User(srv)
    due = TT.now_utc() + datetime.timedelta(days=2)
    t = u.create_ok("Pay rent", description="before the 5th", priority="PRIORITY_HIGH",
                    tags=["Home", "money"], due={"due_time": TT.rfc3339(due),
                                                 "time_zone": "Europe/Paris"})
    T.check("create returns an id and an etag", t.id and t.etag, TT.d(t))
    T.check("create echoes title/description/priority",
            (t.title, t.description, t.priority) == ("Pay rent", "before the 5th", 3), TT.d(t))
    T.check("create echoes due time and zone",
            t.due.due_time.seconds == int(due.timestamp()) and t.due.time_zone == "Europe/Paris",
            TT.d(t.due))
    T.check("create echoes tags", sorted(x.lower() for x in t.tags) == ["home", "money"],
            list(t.tags))
    T.check("new task is open, not overdue, has create/update time and revision",
            not t.completed and not t.overdue and t.create_time.seconds > 0
            and t.update_time.seconds > 0 and t.revision > 0, TT.d(t))
    d = u.create_ok("No priority given")
    T.check("priority defaults to MEDIUM", d.priority == 2, TT.d(d))
    T.check("no due given -> due unset", not d.HasField("due"), TT.d(d))
    g = u.get_ok(t.id)
    T.check("GetTask returns what CreateTask returned", TT.d(g) == TT.d(t),
            "get %r\ncreate %r" % (TT.d(g), TT.d(t)))
    lst = u.list_all()
    byid = {x.id: x for x in lst}
    T.check("ListTasks shows both tasks", set(byid) == {t.id, d.id}, [x.title for x in lst])
    if t.id in byid:
        T.check("listed task carries due/priority/tags",
                TT.d(byid[t.id]) == TT.d(t), "list %r\ncreate %r" % (TT.d(byid[t.id]), TT.d(t)))
    only = u.list_all(tags_any=["HOME"])
    T.check("tag filter is case-insensitive (tags_any HOME)", [x.id for x in only] == [t.id],
            [x.title for x in only])
    both = u.list_all(tags_all=["home", "Money"])
    T.check("tags_all home+money", [x.id for x in both] == [t.id], [x.title for x in both])
    T.check("tags_all home+nothing -> empty", u.list_all(tags_all=["home", "nothing"]) == [])


def all_day(srv):
    u = TT.User(srv)
    today = datetime.datetime.now(datetime.timezone.utc).date()
    if (TT.now_utc() + datetime.timedelta(seconds=120)).date() != today:
        T.log("close to midnight UTC; waiting")
        import time
        time.sleep(125)
        today = datetime.datetime.now(datetime.timezone.utc).date()
    yday = today - datetime.timedelta(days=1)
    dd = {"year": today.year, "month": today.month, "day": today.day}
    t = u.create_ok("All day today", due={"due_date": dd, "time_zone": "UTC"})
    T.check("all-day due round-trips as a date (no due_time)",
            t.due.WhichOneof("when") == "due_date"
            and (t.due.due_date.year, t.due.due_date.month, t.due.due_date.day)
            == (today.year, today.month, today.day), TT.d(t.due))
    T.check("all-day task due today (UTC) is not overdue before the day ends", not t.overdue,
            TT.d(t))
    y = u.create_ok("All day yesterday", due={"due_date": {"year": yday.year, "month": yday.month,
                                                           "day": yday.day}})
    T.check("all-day task due yesterday is overdue", y.overdue, TT.d(y))
    z = u.create_ok("All day in Tokyo", due={"due_date": dd, "time_zone": "Asia/Tokyo"})
    g = u.get_ok(z.id)
    T.check("all-day due keeps its time zone", g.due.time_zone == "Asia/Tokyo", TT.d(g.due))
    bad = u.create("Feb 30", due={"due_date": {"year": 2030, "month": 2, "day": 30}})
    check_invalid("all-day due 2030-02-30 -> INVALID_ARGUMENT", bad)
    bad = u.create("Month 13", due={"due_date": {"year": 2030, "month": 13, "day": 1}})
    check_invalid("all-day due month 13 -> INVALID_ARGUMENT", bad)
    T.check("rejected all-day creates stored nothing", TT.db_counts(u.sub)["tasks"] == 3,
            TT.db_counts(u.sub))


def overdue(srv):
    u = TT.User(srv)
    past = u.create_ok("Past due", due=TT.due_in(-3600))
    fut = u.create_ok("Future due", due=TT.due_in(3600))
    nod = u.create_ok("No due")
    T.check("due in the past, open -> overdue true", past.overdue, TT.d(past))
    T.check("due in the future -> overdue false", not fut.overdue, TT.d(fut))
    T.check("no due -> overdue false", not nod.overdue, TT.d(nod))
    T.check("GetTask reports overdue too", u.get_ok(past.id).overdue)
    od = u.list_all(overdue_only=True)
    T.check("overdue_only lists only the overdue task", [x.id for x in od] == [past.id],
            [x.title for x in od])
    done = u.must("CompleteTask", {"id": past.id})
    T.check("completed past-due task -> overdue false", done.completed and not done.overdue,
            TT.d(done))
    T.check("overdue_only is empty after completing it", u.list_all(overdue_only=True) == [])
    lst = {x.id: x for x in u.list_all()}
    T.check("listed tasks carry overdue=false after completion",
            not any(x.overdue for x in lst.values()), [(x.title, x.overdue) for x in lst.values()])
    re_ = u.must("ReopenTask", {"id": past.id})
    T.check("reopened past-due task -> overdue true again", re_.overdue and not re_.completed,
            TT.d(re_))
    nodue = u.list_all(no_due_date=True)
    T.check("no_due_date filter", [x.id for x in nodue] == [nod.id], [x.title for x in nodue])


def unicode_titles(srv):
    u = TT.User(srv)
    titles = [
        "Café ☕ 日本語のタスク",
        "Emoji 🎉🚀 family 👨\u200d👩\u200d👧\u200d👦 flag 🇫🇷",
        "e\u0301 combining (NFD) vs \u00e9 precomposed",   # must not be normalised
        "Zalgo z\u0351\u0352\u0353a\u0354\u0355l\u0356go",
        "עברית RTL and العربية",
        "Math 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 outside the BMP",
    ]
    ids = {}
    for title in titles:
        t = u.create_ok(title, description="desc " + title)
        ids[t.id] = title
        T.check("create echoes %r byte-exact" % title, t.title == title and
                t.description == "desc " + title, repr(t.title))
        g = u.get_ok(t.id)
        T.check("get returns %r byte-exact" % title, g.title.encode() == title.encode(),
                repr(g.title))
    listed = {t.id: t.title for t in u.list_all()}
    T.check("list returns every unicode title byte-exact", listed == ids,
            "%r vs %r" % (listed, ids))
    stored = TT.psql("SELECT count(*) FROM tasks WHERE user_id=%s AND title = %s"
                     % (TT.q(u.sub), TT.q(titles[2])))
    T.check("combining characters stored unnormalised (psql)", stored == "1", stored)
    # 200 code points of 4-byte characters (800 bytes) is within the limit.
    t = u.create_ok("🎉" * 200)
    T.check("200 emoji (800 bytes) accepted and round-trip", u.get_ok(t.id).title == "🎉" * 200)
    t = u.create_ok("e\u0301" * 100)
    T.check("100 e+combining acute (200 code points) accepted", t.title == "e\u0301" * 100)
    r = u.create("e\u0301" * 100 + "x")
    check_invalid("201 code points incl. combining -> INVALID_ARGUMENT naming task.title", r,
                  "task.title")


def field_mask(srv):
    u = TT.User(srv)
    due = TT.due_in(86400, "Europe/Berlin")
    t = u.create_ok("Original", description="orig desc", priority="PRIORITY_HIGH",
                    tags=["alpha"], due=due)
    base = TT.d(t)

    def changed(a, b):
        keys = set(a) | set(b)
        return sorted(k for k in keys if a.get(k) != b.get(k))

    # Only title is masked: the other (different) values in the request are ignored.
    r = u.update({"id": t.id, "title": "Renamed", "description": "IGNORED",
                  "priority": "PRIORITY_LOW", "tags": ["ignored"]}, ["title"])
    if r.code != OK:
        raise TT.Failure("UpdateTask mask=title: %s" % TT.res(r))
    n = TT.d(r.response)
    T.check("mask [title] changes only title (+etag/update_time/revision)",
            set(changed(base, n)) <= {"title", "etag", "update_time", "revision"}
            and n["title"] == "Renamed", changed(base, n))
    T.check("update returns a new etag and higher revision",
            n["etag"] != base["etag"] and int(n["revision"]) > int(base["revision"]), n)
    g = TT.d(u.get_ok(t.id))
    T.check("GetTask after masked update equals the update response", g == n,
            "get %r\nupd %r" % (g, n))

    r = u.update({"id": t.id, "description": "new desc", "priority": "PRIORITY_URGENT",
                  "title": "IGNORED"}, ["description", "priority"])
    n2 = TT.d(r.response) if r.code == OK else {}
    T.check("mask [description, priority] changes exactly those",
            r.code == OK and n2["description"] == "new desc" and n2["priority"] == "PRIORITY_URGENT"
            and n2["title"] == "Renamed" and n2["tags"] == n["tags"] and n2["due"] == n["due"],
            "%s %r" % (TT.res(r), n2))

    r = u.update({"id": t.id, "tags": ["beta", "Gamma"]}, ["tags"])
    T.check("mask [tags] replaces tags", r.code == OK and
            sorted(x.lower() for x in r.response.tags) == ["beta", "gamma"],
            TT.res(r) if r.code != OK else list(r.response.tags))
    T.check("tags filter follows the update",
            [x.id for x in u.list_all(tags_any=["gamma"])] == [t.id]
            and u.list_all(tags_any=["alpha"]) == [])

    # Cross-field rules hold on the merged task: the due cannot be cleared from under a
    # before_due reminder or a recurrence (as on create), and nothing changes.
    rt = u.create_ok("Reminded", due=due, reminders=[{"before_due": "3600s"}])
    rc = u.create_ok("Recurring", due=due, recurrence={"rrule": "FREQ=DAILY"})
    ch = TT.db_counts(u.sub)["changes"]
    check_invalid("clearing the due of a task with a before_due reminder -> INVALID_ARGUMENT "
                  "naming task.reminders[0]", u.update({"id": rt.id}, ["due"]),
                  "task.reminders[0]")
    check_invalid("clearing the due of a recurring task -> INVALID_ARGUMENT naming "
                  "task.recurrence", u.update({"id": rc.id}, ["due"]), "task.recurrence")
    T.check("refused due clears changed nothing and wrote no change row",
            TT.d(u.get_ok(rt.id)) == TT.d(rt) and TT.d(u.get_ok(rc.id)) == TT.d(rc)
            and TT.db_counts(u.sub)["changes"] == ch)
    r = u.update({"id": rt.id}, ["due", "reminders"])
    T.check("clearing due and reminders together -> OK",
            r.code == OK and not r.response.HasField("due") and not r.response.reminders,
            TT.res(r))

    r = u.update({"id": t.id}, ["due"])
    T.check("mask [due] with no due clears the due date",
            r.code == OK and not r.response.HasField("due"),
            TT.res(r) if r.code != OK else TT.d(r.response))
    r = u.update({"id": t.id}, ["description"])
    T.check("mask [description] with empty value clears it",
            r.code == OK and r.response.description == "" and r.response.title == "Renamed",
            TT.res(r))

    before = TT.d(u.get_ok(t.id))
    for paths, label in ((["nope"], "unknown path"), (["title", "bogus_field"], "one unknown path"),
                         (["id"], "output-only path id"), (["completed"], "output-only completed"),
                         (["revision"], "output-only revision"), ([], "empty mask")):
        r = u.update({"id": t.id, "title": "SHOULD NOT APPLY"}, paths)
        check_invalid("mask %s %r -> INVALID_ARGUMENT naming update_mask" % (label, paths), r,
                      "update_mask")
    T.check("rejected masks changed nothing", TT.d(u.get_ok(t.id)) == before)

    r = u.update({"id": t.id, "title": "   "}, ["title"])
    check_invalid("masked update to whitespace title -> INVALID_ARGUMENT naming task.title", r,
                  "task.title")
    r = u.update({"id": t.id, "title": "x" * 201}, ["title"])
    check_invalid("masked update to 201-char title -> INVALID_ARGUMENT", r, "task.title")
    T.check("rejected updates changed nothing", TT.d(u.get_ok(t.id)) == before)


def etag_conflict(srv):
    u = TT.User(srv)
    t = u.create_ok("Etag task", description="v0")
    e1 = t.etag
    r = u.update({"id": t.id, "etag": e1, "description": "v1"}, ["description"])
    if r.code != OK:
        raise TT.Failure("conditional update with current etag: %s" % TT.res(r))
    e2 = r.response.etag
    T.check("conditional update with current etag -> OK, new etag", e2 and e2 != e1)
    cur = TT.d(u.get_ok(t.id))
    changes = TT.db_counts(u.sub)["changes"]
    r = u.update({"id": t.id, "etag": e1, "description": "stale write"}, ["description"])
    check_code("update with stale etag -> ABORTED", r, ABORTED)
    T.check("stale update changed nothing", TT.d(u.get_ok(t.id)) == cur)
    r = u.call("DeleteTask", {"id": t.id, "etag": e1})
    check_code("delete with stale etag -> ABORTED", r, ABORTED)
    T.check("stale delete left the task", u.get(t.id).code == OK)
    r = u.call("DeleteTask", {"id": t.id, "etag": "garbage-etag"})
    T.check("delete with a malformed etag -> ABORTED or INVALID_ARGUMENT",
            r.code in (ABORTED, INVALID), TT.res(r))
    T.check("no change row for rejected conditional writes",
            TT.db_counts(u.sub)["changes"] == changes, TT.db_counts(u.sub))
    r = u.update({"id": t.id, "description": "unconditional"}, ["description"])
    T.check("empty etag = unconditional update", r.code == OK, TT.res(r))
    r = u.call("DeleteTask", {"id": t.id, "etag": r.response.etag if r.code == OK else ""})
    check_code("delete with current etag -> OK", r, OK)


def idempotent_create(srv):
    u = TT.User(srv)
    rid = str(uuid.uuid4())
    a = u.create_ok("Idempotent", request_id=rid, priority="PRIORITY_HIGH")
    b = u.create_ok("Idempotent", request_id=rid, priority="PRIORITY_HIGH")
    T.check("same request_id twice -> same task id", a.id == b.id, (a.id, b.id))
    T.check("retry returns the task as created", TT.d(a) == TT.d(b),
            "%r\n%r" % (TT.d(a), TT.d(b)))
    n = TT.psql("SELECT count(*) FROM tasks WHERE user_id=%s" % TT.q(u.sub))
    T.check("one row stored for the retried create", n == "1", n)
    T.check("one change row for the retried create", TT.db_counts(u.sub)["changes"] == 1,
            TT.db_counts(u.sub))
    c = u.create_ok("Idempotent", request_id=str(uuid.uuid4()))
    T.check("a different request_id creates a new task", c.id != a.id)

    # Concurrent: two threads, two channels, same request_id, released together.
    rounds, bad, errors = 8, [], []
    users = [TT.User(srv, sub=u.sub), TT.User(srv, sub=u.sub)]
    for i in range(rounds):
        rid = "conc-%d-%s" % (i, uuid.uuid4())
        barrier = threading.Barrier(2)
        out = [None, None]

        def go(k):
            barrier.wait()
            out[k] = users[k].create("Concurrent %d" % i, request_id=rid)

        ths = [threading.Thread(target=go, args=(k,)) for k in range(2)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(30)
        if any(r is None or r.code != OK for r in out):
            errors.append([TT.res(r) if r else None for r in out])
            continue
        if out[0].response.id != out[1].response.id:
            bad.append((out[0].response.id, out[1].response.id))
        n = TT.psql("SELECT count(*) FROM tasks WHERE user_id=%s AND request_id=%s"
                    % (TT.q(u.sub), TT.q(rid)))
        if n != "1":
            bad.append(("rows", rid, n))
    T.check("concurrent creates with one request_id both succeed (%d rounds)" % rounds,
            not errors, errors)
    T.check("concurrent creates with one request_id -> one task, same id", not bad, bad)
    n = TT.db_counts(u.sub)
    T.check("task and change rows: one per distinct request_id (%d)" % (2 + rounds),
            n["tasks"] == 2 + rounds and n["changes"] == 2 + rounds, n)


def complete_reopen(srv):
    u = TT.User(srv)
    t = u.create_ok("Complete me")
    c1 = u.must("CompleteTask", {"id": t.id})
    T.check("complete -> completed with complete_time, new revision",
            c1.completed and c1.complete_time.seconds > 0 and c1.revision > t.revision
            and c1.etag != t.etag, TT.d(c1))
    n1 = TT.db_counts(u.sub)
    import time
    time.sleep(1.1)  # a second complete must not move update_time
    c2 = u.must("CompleteTask", {"id": t.id})
    T.check("second complete is OK and changes nothing (revision, etag, update_time, "
            "complete_time)", TT.d(c2) == TT.d(c1), "%r\n%r" % (TT.d(c1), TT.d(c2)))
    T.check("second complete writes no change row and no revision bump",
            TT.db_counts(u.sub) == n1, (n1, TT.db_counts(u.sub)))
    T.check("completion filter COMPLETED shows it",
            [x.id for x in u.list_all(completion="COMPLETION_FILTER_COMPLETED")] == [t.id])
    T.check("completion filter OPEN hides it", u.list_all(completion="COMPLETION_FILTER_OPEN") == [])
    r1 = u.must("ReopenTask", {"id": t.id})
    T.check("reopen -> open, complete_time cleared, new revision",
            not r1.completed and not r1.HasField("complete_time") and r1.revision > c1.revision,
            TT.d(r1))
    n2 = TT.db_counts(u.sub)
    time.sleep(1.1)
    r2 = u.must("ReopenTask", {"id": t.id})
    T.check("second reopen is OK and changes nothing", TT.d(r2) == TT.d(r1),
            "%r\n%r" % (TT.d(r1), TT.d(r2)))
    T.check("second reopen writes no change row", TT.db_counts(u.sub) == n2,
            (n2, TT.db_counts(u.sub)))
    T.check("completion filter OPEN shows it again",
            [x.id for x in u.list_all(completion="COMPLETION_FILTER_OPEN")] == [t.id])


def delete_get(srv):
    u = TT.User(srv)
    t = u.create_ok("Delete me")
    r = u.call("DeleteTask", {"id": t.id})
    check_code("delete -> OK", r, OK)
    check_code("get after delete -> NOT_FOUND", u.get(t.id), NOT_FOUND)
    check_code("delete again -> NOT_FOUND", u.call("DeleteTask", {"id": t.id}), NOT_FOUND)
    check_code("complete deleted -> NOT_FOUND", u.call("CompleteTask", {"id": t.id}), NOT_FOUND)
    check_code("update deleted -> NOT_FOUND", u.update({"id": t.id, "title": "x"}, ["title"]),
               NOT_FOUND)
    T.check("deleted task not listed", u.list_all() == [])
    T.check("row gone from tasks (psql)", TT.db_counts(u.sub)["tasks"] == 0)
    ev = TT.psql("SELECT string_agg(event_type, ',' ORDER BY id) FROM changes WHERE user_id=%s"
                 % TT.q(u.sub))
    T.check("change rows: created then deleted", ev == "todo.v1.TaskCreated,todo.v1.TaskDeleted",
            ev)
    # A malformed id is answered exactly like a missing one (no existence/format oracle).
    for bad in ("", "not-a-uuid", "00000000-0000-0000-0000-000000000000", t.id.upper(),
                t.id + "0", "'; DROP TABLE tasks;--", "0000000g-0000-0000-0000-000000000000"):
        for m, call in (("GetTask", lambda i: u.get(i)),
                        ("DeleteTask", lambda i: u.call("DeleteTask", {"id": i})),
                        ("CompleteTask", lambda i: u.call("CompleteTask", {"id": i})),
                        ("ReopenTask", lambda i: u.call("ReopenTask", {"id": i})),
                        ("UpdateTask", lambda i: u.update({"id": i, "title": "x"}, ["title"]))):
            r = call(bad)
            T.check("%s id %r -> NOT_FOUND 'task not found'" % (m, bad[:40]),
                    r.code == NOT_FOUND and r.details == "task not found", TT.res(r))


def change_accounting(srv):
    """Exact accounting: every successful mutation = one change row and one revision."""
    u = TT.User(srv)
    rid = str(uuid.uuid4())
    a = u.create_ok("A", request_id=rid)                          # 1
    u.create_ok("A", request_id=rid)                              # retry: no change
    b = u.create_ok("B", due=TT.due_in(3600))                     # 2
    c = u.create_ok("C", priority="PRIORITY_LOW")                 # 3
    ua = u.update({"id": a.id, "title": "A2"}, ["title"])         # 4
    u.update({"id": a.id, "etag": a.etag, "title": "stale"}, ["title"])  # ABORTED: none
    u.update({"id": a.id, "title": "x"}, ["nope"])                # INVALID: none
    u.create("   ")                                               # INVALID: none
    u.must("CompleteTask", {"id": b.id})                          # 5
    u.must("CompleteTask", {"id": b.id})                          # no-op
    u.must("ReopenTask", {"id": b.id})                            # 6
    u.must("ReopenTask", {"id": b.id})                            # no-op
    u.must("DeleteTask", {"id": c.id})                            # 7
    u.call("DeleteTask", {"id": c.id})                            # NOT_FOUND: none
    T.check("the update succeeded", ua.code == OK, TT.res(ua))
    cnt = TT.db_counts(u.sub)
    T.check("7 successful mutations -> exactly 7 change rows, revision 7",
            cnt["changes"] == 7 and cnt["revision"] == 7, cnt)
    TT.check_revisions("change revisions 1..7 strictly increasing and gap-free", u.sub)
    types = TT.psql("SELECT string_agg(event_type, ',' ORDER BY id) FROM changes WHERE user_id=%s"
                    % TT.q(u.sub))
    want = ",".join(["todo.v1.TaskCreated"] * 3 + ["todo.v1.TaskUpdated", "todo.v1.TaskCompleted",
                                                    "todo.v1.TaskUpdated", "todo.v1.TaskDeleted"])
    T.check("change event types in order", types == want, types)
    row = TT.psql("SELECT count(*) FROM changes WHERE user_id=%s AND (partition_key <> user_id"
                  " OR octet_length(payload) = 0 OR aggregate_type <> 'task')" % TT.q(u.sub))
    T.check("change rows keyed by user, non-empty payload, aggregate task", row == "0", row)
    g = u.get_ok(b.id)
    top = TT.psql("SELECT max(revision) FROM changes WHERE user_id=%s AND aggregate_id=%s"
                  % (TT.q(u.sub), TT.q(b.id)))
    T.check("task.revision = revision of its last change row", str(g.revision) == top,
            (g.revision, top))


def run():
    srv = TT.start_server()
    for name, fn in (("create with due/priority/tags, list", create_and_list),
                     ("all-day due", all_day), ("overdue flag", overdue),
                     ("unicode titles", unicode_titles), ("field-mask updates", field_mask),
                     ("etag conflict", etag_conflict), ("idempotent create", idempotent_create),
                     ("complete/reopen idempotent", complete_reopen),
                     ("delete then get", delete_get), ("change rows and revisions", change_accounting)):
        TT.section(name, fn, srv)
    srv.stop()


if __name__ == "__main__":
    T.main(run)
