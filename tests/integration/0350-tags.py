#!/usr/bin/python3
"""0350-tags: TagService.

CreateTag (duplicate case-insensitively -> ALREADY_EXISTS; bad colour / bad name ->
INVALID_ARGUMENT; nothing stored), tags created on first use by CreateTask and matched
case-insensitively, ListTags open-task counts, UpdateTag rename/recolour (rename onto an
existing name -> ALREADY_EXISTS; tasks follow a rename), DeleteTag removes the tag from
every task (their etags change) and records the change; revisions gap-free (psql);
open-task counts stay exact through a random mix of writes; a rename on 10,050 tasks
writes its TagChanged in two parts, each under Kafka's 1 MB limit.
"""
import tdtest as T
import tdtasks as TT
from tdtasks import OK, EXISTS, NOT_FOUND, check_code, check_invalid


def create_tags(srv):
    u = TT.User(srv)
    t = u.must("CreateTag", {"tag": {"name": "Work", "color": "#a1B2c3"}})
    T.check("CreateTag returns id, name, colour, etag, revision",
            t.id and t.name == "Work" and t.color.lower() == "#a1b2c3" and t.etag and t.revision > 0,
            TT.d(t))
    T.check("new tag has open_task_count 0", t.open_task_count == 0, TT.d(t))
    n = TT.db_counts(u.sub)
    for name in ("Work", "work", "WORK", "wORk"):
        check_code("CreateTag duplicate %r -> ALREADY_EXISTS" % name,
                   u.call("CreateTag", {"tag": {"name": name}}), EXISTS)
    for color in ("red", "#12345", "#1234567", "#GGGGGG", "123456", "#12 456", "#ffffff\n"):
        check_invalid("CreateTag colour %r -> INVALID_ARGUMENT naming tag.color" % color,
                      u.call("CreateTag", {"tag": {"name": "c" + color.strip(), "color": color}}),
                      "tag.color")
    for name, label in (("", "empty"), ("   ", "whitespace"), ("x" * 51, "51 chars"),
                        ("a\x00b", "NUL"), ("a\nb", "newline"), ("a\tb", "tab"),
                        ("a\rb", "CR"), ("a\x1bb", "ESC"), ("a\x7fb", "DEL"),
                        ("a\u0085b", "C1 NEL"), ("a\u2028b", "U+2028"), ("a\u2029b", "U+2029")):
        check_invalid("CreateTag name %s -> INVALID_ARGUMENT naming tag.name" % label,
                      u.call("CreateTag", {"tag": {"name": name}}), "tag.name")
    r = u.call("CreateTag", TT.f_bytes(1, TT.f_bytes(2, b"bad\xfftag")))
    check_invalid("CreateTag invalid UTF-8 name (crafted) -> INVALID_ARGUMENT", r)
    T.check("rejected CreateTags stored nothing", TT.db_counts(u.sub) == n, (n, TT.db_counts(u.sub)))
    ok50 = u.call("CreateTag", {"tag": {"name": "é" * 50}})
    T.check("CreateTag name of 50 characters accepted", ok50.code == OK, TT.res(ok50))
    e = u.call("CreateTag", {"tag": {"name": "NoColour"}})
    T.check("CreateTag with empty colour accepted", e.code == OK and e.response.color == "", TT.res(e))
    rid = "tag-rid-" + u.sub
    a = u.call("CreateTag", {"tag": {"name": "Idem"}, "request_id": rid})
    b = u.call("CreateTag", {"tag": {"name": "Idem"}, "request_id": rid})
    T.check("CreateTag retried with the same request_id -> same tag",
            a.code == OK and b.code == OK and a.response.id == b.response.id,
            (TT.res(a), TT.res(b)))
    names = sorted(t.name for t in u.tags())
    T.check("ListTags lists the created tags", names == sorted(["Work", "é" * 50, "NoColour", "Idem"]),
            names)
    lst = [t.name for t in u.tags()]
    T.check("ListTags ordered by name case-insensitively", lst == sorted(lst, key=str.lower), lst)
    TT.check_revisions("tag revisions gap-free", u.sub)


def counts_and_first_use(srv):
    u = TT.User(srv)
    t1 = u.create_ok("one", tags=["Home"])
    t2 = u.create_ok("two", tags=["home", "Garden"])       # matched case-insensitively
    t3 = u.create_ok("three", tags=["HOME"])
    u.create_ok("four", tags=["Garden"])
    u.must("CompleteTask", {"id": t3.id})
    tags = {t.name.lower(): t for t in u.tags()}
    T.check("tags created on first use, one per case-insensitive name",
            sorted(tags) == ["garden", "home"], sorted(t.name for t in tags.values()))
    T.check("display name is the first spelling ('Home')",
            "home" in tags and tags["home"].name == "Home", [t.name for t in tags.values()])
    T.check("task carries the canonical tag name", list(u.get_ok(t2.id).tags)[:1] == ["Home"],
            list(u.get_ok(t2.id).tags))
    T.check("ListTags open_task_count: Home 2 (one of 3 completed), Garden 2",
            tags.get("home") and tags["home"].open_task_count == 2
            and tags.get("garden") and tags["garden"].open_task_count == 2,
            {k: v.open_task_count for k, v in tags.items()})
    u.must("ReopenTask", {"id": t3.id})
    T.check("reopen raises the count to 3", u.tag_by_name("home").open_task_count == 3)
    u.must("DeleteTask", {"id": t1.id})
    T.check("delete lowers the count to 2", u.tag_by_name("home").open_task_count == 2)
    r = u.update({"id": t2.id, "tags": ["Garden"]}, ["tags"])
    T.check("untagging via UpdateTask lowers the count to 1",
            r.code == OK and u.tag_by_name("home").open_task_count == 1, TT.res(r))
    TT.check_revisions("revisions gap-free with implicit tag creation", u.sub)


def update_tags(srv):
    u = TT.User(srv)
    work = u.must("CreateTag", {"tag": {"name": "Work", "color": "#000000"}})
    home = u.must("CreateTag", {"tag": {"name": "Home"}})
    t = u.create_ok("tagged", tags=["Work", "Home"])
    r = u.update_tag({"id": work.id, "name": "Job", "color": "#ffffff"}, ["name"])
    T.check("UpdateTag mask [name] renames only", r.code == OK and r.response.name == "Job"
            and r.response.color == "#000000" and r.response.etag != work.etag,
            TT.res(r) if r.code != OK else TT.d(r.response))
    g = u.get_ok(t.id)
    T.check("task shows the renamed tag", sorted(g.tags) == ["Home", "Job"], list(g.tags))
    T.check("task etag changed with the rename (its tag list changed)", g.etag != t.etag)
    T.check("tags_any with the new name finds the task", u.ids(tags_any=["job"]) == [t.id])
    T.check("tags_any with the old name finds nothing", u.ids(tags_any=["work"]) == [])
    T.check("search finds the new tag name", u.ids(search="job") == [t.id])
    r = u.update_tag({"id": work.id, "color": "#ABCDEF"}, ["color"])
    T.check("UpdateTag mask [color] recolours", r.code == OK and r.response.color.lower() == "#abcdef"
            and r.response.name == "Job", TT.res(r))
    etag = r.response.etag if r.code == OK else ""
    n = TT.db_counts(u.sub)
    check_code("UpdateTag rename onto existing 'home' (case-insensitive) -> ALREADY_EXISTS",
               u.update_tag({"id": work.id, "name": "home"}, ["name"]), EXISTS)
    check_invalid("UpdateTag bad colour -> INVALID_ARGUMENT",
                  u.update_tag({"id": work.id, "color": "blue"}, ["color"]), "tag.color")
    check_invalid("UpdateTag unknown path -> INVALID_ARGUMENT",
                  u.update_tag({"id": work.id, "name": "x"}, ["nmae"]), "update_mask")
    check_invalid("UpdateTag empty update_mask -> INVALID_ARGUMENT naming update_mask",
                  u.update_tag({"id": work.id, "name": "Renamed", "color": "#123456"}, []),
                  "update_mask")
    check_invalid("UpdateTag without update_mask -> INVALID_ARGUMENT naming update_mask",
                  u.call("UpdateTag", {"tag": {"id": work.id, "name": "Renamed"}}), "update_mask")
    check_invalid("UpdateTag name with a tab -> INVALID_ARGUMENT naming tag.name",
                  u.update_tag({"id": work.id, "name": "a\tb"}, ["name"]), "tag.name")
    check_invalid("UpdateTag name of 51 characters -> INVALID_ARGUMENT naming tag.name",
                  u.update_tag({"id": work.id, "name": "n" * 51}, ["name"]), "tag.name")
    for bad in ("", "not-a-uuid", work.id + "0", "0000000g-0000-0000-0000-000000000000"):
        r = u.update_tag({"id": bad, "name": "x"}, ["name"])
        T.check("UpdateTag malformed id %r -> NOT_FOUND 'tag not found'" % bad,
                r.code == NOT_FOUND and r.details == "tag not found", TT.res(r))
        r = u.call("DeleteTag", {"id": bad})
        T.check("DeleteTag malformed id %r -> NOT_FOUND 'tag not found'" % bad,
                r.code == NOT_FOUND and r.details == "tag not found", TT.res(r))
    check_code("UpdateTag stale etag -> ABORTED",
               u.update_tag({"id": work.id, "etag": work.etag, "name": "Stale"}, ["name"]),
               TT.ABORTED)
    T.check("rejected UpdateTags changed nothing", TT.db_counts(u.sub) == n and
            u.tag_by_name("job") is not None and u.tag_by_name("job").etag == etag)
    r = u.update_tag({"id": home.id, "name": "HOME"}, ["name"])
    T.check("UpdateTag changing only the case of its own name -> OK", r.code == OK and
            r.response.name == "HOME", TT.res(r))
    TT.check_revisions("revisions gap-free after tag updates", u.sub)


def delete_tags(srv):
    u = TT.User(srv)
    ts = [u.create_ok("t%d" % i, tags=["Doomed", "Keep"]) for i in range(3)]
    other = u.create_ok("untouched", tags=["Keep"])
    doomed = u.tag_by_name("doomed")
    if doomed is None:
        raise TT.Failure("tag 'Doomed' not created on first use")
    rev_before = TT.db_counts(u.sub)["revision"]
    r = u.call("DeleteTag", {"id": doomed.id})
    check_code("DeleteTag -> OK", r, OK)
    for t in ts:
        g = u.get_ok(t.id)
        T.check("DeleteTag removed the tag from task %s" % t.title, list(g.tags) == ["Keep"]
                and g.etag != t.etag and g.revision > t.revision, TT.d(g))
    g = u.get_ok(other.id)
    T.check("a task without the tag is unchanged", TT.d(g) == TT.d(other))
    T.check("ListTags no longer has it", u.tag_by_name("doomed") is None)
    T.check("tags_any Doomed finds nothing", u.ids(tags_any=["Doomed"]) == [])
    T.check("search 'doomed' finds nothing", u.ids(search="doomed") == [])
    rows = TT.psql("SELECT count(*) FROM task_tags tt JOIN tags g ON g.id = tt.tag_id"
                   " WHERE g.user_id=%s AND g.name_lower='doomed'" % TT.q(u.sub))
    T.check("no tag or task_tags row left (psql)", rows == "0", rows)
    ch = TT.psql("SELECT string_agg(event_type || '/' || aggregate_type, ',') FROM changes"
                 " WHERE user_id=%s AND revision > %d" % (TT.q(u.sub), rev_before))
    T.check("DeleteTag wrote exactly one change row (todo.v1.TagChanged on the tag)",
            ch == "todo.v1.TagChanged/tag", ch)
    # The one TagChanged record lists the tasks it stripped (their ids are in the payload).
    refs = TT.psql("SELECT count(*) FROM changes c, unnest(ARRAY[%s]) AS x(id)"
                   " WHERE c.user_id=%s AND c.revision > %d"
                   " AND position(convert_to(x.id, 'UTF8') IN c.payload) > 0"
                   % (",".join(TT.q(t.id) for t in ts + [other]), TT.q(u.sub), rev_before))
    T.check("the DeleteTag change record names the 3 stripped tasks, not the untouched one",
            refs == "3", refs)
    TT.check_revisions("revisions gap-free after DeleteTag", u.sub)
    check_code("DeleteTag again -> NOT_FOUND", u.call("DeleteTag", {"id": doomed.id}), NOT_FOUND)
    t = u.create_ok("reuse", tags=["doomed"])
    T.check("the name can be used again after delete", list(t.tags) == ["doomed"], list(t.tags))


def open_counts_kept(srv):
    """open_task_count is a column kept by triggers (migration 0007): after every step of a
    seeded random mix of creates (with tags), completes, reopens, retags, deletes, tag
    renames and tag deletes it equals a count of task_tags joined to open tasks."""
    import random
    rnd = random.Random(7)
    u = TT.User(srv)
    names = ["red", "Green", "BLUE", "teal", "gold"]
    tasks, bad, ops = [], [], {}

    def truth():
        return TT.psql(
            "SELECT coalesce(string_agg(g.name_lower || '=' || (SELECT count(*) FROM task_tags tt "
            "JOIN tasks k ON k.id = tt.task_id WHERE tt.tag_id = g.id AND k.completed_at IS NULL), "
            "',' ORDER BY g.name_lower), '') FROM tags g WHERE g.user_id = %s" % TT.q(u.sub))

    def listed():
        return ",".join("%s=%d" % (t.name.lower(), t.open_task_count)
                        for t in sorted(u.tags(), key=lambda t: t.name.lower()))

    for step in range(80):
        op = rnd.choice(["create"] * 3 + ["complete", "reopen", "retag", "retag", "delete",
                                          "rename", "deltag"])
        if op != "create" and not tasks:
            op = "create"
        tid = rnd.choice(tasks) if tasks else None
        if op == "create":
            tasks.append(u.create_ok("t%d" % step, tags=rnd.sample(names, rnd.randint(0, 3))).id)
        elif op in ("complete", "reopen"):
            u.must("CompleteTask" if op == "complete" else "ReopenTask", {"id": tid})
        elif op == "retag":
            r = u.update({"id": tid, "tags": rnd.sample(names, rnd.randint(0, 3))}, ["tags"])
            if r.code != OK:
                raise TT.Failure("retag: %s" % TT.res(r))
        elif op == "delete":
            u.must("DeleteTask", {"id": tid})
            tasks.remove(tid)
        else:
            have = u.tags()
            if not have:
                continue
            g = rnd.choice(have)
            if op == "rename":
                new = "x%d" % step
                r = u.update_tag({"id": g.id, "name": new}, ["name"])
                if r.code == OK:
                    names[[n.lower() for n in names].index(g.name.lower())] = new
            else:
                u.must("DeleteTag", {"id": g.id})
        ops[op] = ops.get(op, 0) + 1
        want, got = truth(), listed()
        if want != got:
            bad.append("step %d (%s): listed %s, counted %s" % (step, op, got, want))
    T.log("operations: %s" % ops)
    T.check("open_task_count == counted open tasks after each of 80 random writes",
            not bad, "; ".join(bad[:3]))


def split_events(srv):
    """A rename touching 10,050 tasks writes its TagChanged in two parts (10,000 + 50 ids)
    at consecutive revisions, each well under Kafka's 1 MB message limit; together they
    name every renamed task once. Deleting the tag then strips all of them. Both within
    the call's 10 s deadline on a user ANALYZE has not seen (a fresh database: one
    statement joining ids and tasks went quadratic there, 35 s)."""
    u = TT.User(srv)
    tag = u.must("CreateTag", {"tag": {"name": "Bulk"}})
    TT.psql("INSERT INTO tasks (user_id, title, tags, revision) SELECT %s, 'bulk ' || g, "
            "ARRAY['Bulk'], 1 FROM generate_series(1, 10050) g" % TT.q(u.sub))
    try:
        rev = TT.db_counts(u.sub)["revision"]
        r = u.update_tag({"id": tag.id, "name": "Heap"}, ["name"])
        check_code("UpdateTag rename on 10,050 tasks -> OK", r, OK)
        rows = TT.psql("SELECT revision, encode(payload, 'hex') FROM changes WHERE user_id = %s"
                       " AND revision > %d ORDER BY revision" % (TT.q(u.sub), rev))
        protos = T.protos()
        parts = []
        for line in rows.split("\n") if rows else []:
            r_, hx = line.split("|")
            raw = bytes.fromhex(hx)
            ce = protos.cls("io.cloudevents.v1.CloudEvent").FromString(raw)
            ev = protos.cls("todo.v1.TagChanged").FromString(ce.proto_data.value)
            parts.append((int(r_), len(raw), ev))
        T.check("two change records at revisions %d and %d, parts 1/2 and 2/2, 10,000 + 50 ids"
                % (rev + 1, rev + 2),
                [(p[0], p[2].part, p[2].parts, len(p[2].affected_task_ids)) for p in parts]
                == [(rev + 1, 1, 2, 10000), (rev + 2, 2, 2, 50)],
                [(p[0], p[2].part, p[2].parts, len(p[2].affected_task_ids)) for p in parts])
        T.check("each part is under 1 MB and carries the renamed tag",
                all(p[1] < 1000000 and p[2].tag.name == "Heap" and
                    list(p[2].changed.paths) == ["name"] for p in parts),
                [(p[1], p[2].tag.name) for p in parts])
        ids = [i for p in parts for i in p[2].affected_task_ids]
        want = set(TT.psql("SELECT id FROM tasks WHERE user_id = %s" % TT.q(u.sub)).split("\n"))
        T.check("the parts name each of the 10,050 tasks once", len(ids) == len(set(ids))
                and set(ids) == want, "%d ids, %d distinct, %d tasks" % (len(ids), len(set(ids)),
                                                                      len(want)))
        TT.check_revisions("revisions gap-free after the split rename", u.sub)
        check_code("DeleteTag of that tag on 10,050 tasks -> OK",
                   u.call("DeleteTag", {"id": tag.id}), OK)
        left = TT.psql("SELECT count(*) FILTER (WHERE cardinality(tags) > 0) || '/' || "
                       "(SELECT count(*) FROM changes WHERE user_id = %s AND revision > %d) "
                       "FROM tasks WHERE user_id = %s" % (TT.q(u.sub), rev + 2, TT.q(u.sub)))
        T.check("DeleteTag stripped all 10,050 tasks and wrote 2 parts", left == "0/2", left)
    finally:
        TT.psql("DELETE FROM tasks WHERE user_id = %s" % TT.q(u.sub))


def run():
    srv = TT.start_server()
    TT.section("CreateTag", create_tags, srv)
    TT.section("tags on first use and open-task counts", counts_and_first_use, srv)
    TT.section("UpdateTag", update_tags, srv)
    TT.section("DeleteTag", delete_tags, srv)
    TT.section("open-task counts kept by triggers", open_counts_kept, srv)
    TT.section("TagChanged split for a rename on many tasks", split_events, srv)
    srv.stop()


if __name__ == "__main__":
    T.main(run)
