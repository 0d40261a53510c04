#!/usr/bin/python3
"""0310-tasks-validation: bad input to TaskService is INVALID_ARGUMENT naming the field
(google.rpc.BadRequest in grpc-status-details-bin) and stores nothing.

Title 200/201 code points (after trimming), whitespace-only, control characters, invalid
UTF-8 crafted on the wire (python's protobuf refuses to encode it), oversize description,
bad time zone, out-of-range enum numbers crafted on the wire, oversize tag names, negative
page size. The "reject" user sends only rejected requests: afterwards it must have no
task, tag, change row or revision (psql).
"""
import tdtest as T
import tdtasks as TT
from tdtasks import OK, INVALID, check_invalid, f_bytes, f_varint, raw_create


def boundaries(srv):
    u = TT.User(srv)
    t = u.create_ok("a" * 200)
    T.check("title of 200 ASCII characters accepted", len(t.title) == 200)
    t = u.create_ok("é" * 200)
    T.check("title of 200 two-byte characters (400 bytes) accepted", t.title == "é" * 200)
    t = u.create_ok("  " + "b" * 200 + "\t ")
    T.check("200 characters after trimming surrounding whitespace accepted",
            t.title.strip() == "b" * 200, repr(t.title[:8]))
    t = u.create_ok("d", description="x" * 2000)
    T.check("description of 2000 characters accepted", len(t.description) == 2000)
    t = u.create_ok("d", description="ü" * 2000)
    T.check("description of 2000 two-byte characters accepted", len(t.description) == 2000)
    desc = "line 1\n\tindented\r\nline 3"
    t = u.create_ok("d", description=desc)
    T.check("description may hold tab, newline and CR (round-trip byte-exact)",
            t.description == desc and u.get_ok(t.id).description == desc, repr(t.description))
    T.check("accepted boundary tasks stored", TT.db_counts(u.sub)["tasks"] == 6,
            TT.db_counts(u.sub))


def rejects(srv):
    u = TT.User(srv, prefix="it-reject")

    def inv(name, r, field=None):
        check_invalid(name, r, field)

    inv("title 201 ASCII -> INVALID_ARGUMENT naming task.title", u.create("a" * 201), "task.title")
    inv("title 201 two-byte chars -> INVALID_ARGUMENT naming task.title", u.create("é" * 201),
        "task.title")
    inv("title 201 emoji -> INVALID_ARGUMENT naming task.title", u.create("🎉" * 201), "task.title")
    inv("empty title -> INVALID_ARGUMENT naming task.title", u.create(""), "task.title")
    inv("whitespace-only title -> INVALID_ARGUMENT naming task.title", u.create("  \t  "),
        "task.title")
    inv("no-break/ideographic spaces only -> INVALID_ARGUMENT", u.create("\u00a0\u3000 "),
        "task.title")
    # Every control character is refused inside a title, whitespace ones included.
    for ch, label in (("\x00", "NUL"), ("\x07", "BEL"), ("\n", "newline"), ("\x1b", "ESC"),
                      ("\x7f", "DEL"), ("\u0085", "C1 NEL"), ("\t", "tab"), ("\r", "CR"),
                      ("\x0b", "VT"), ("\x0c", "FF"), ("\x9f", "C1 APC"),
                      ("\u2028", "U+2028 LINE SEPARATOR"), ("\u2029", "U+2029 PARAGRAPH SEPARATOR")):
        inv("control character %s in title -> INVALID_ARGUMENT naming task.title" % label,
            u.create("bad%stitle" % ch), "task.title")
    # Descriptions allow \t \n \r only.
    for ch, label in (("\x00", "NUL"), ("\x07", "BEL"), ("\x1b", "ESC"), ("\x7f", "DEL"),
                      ("\x0b", "VT"), ("\u0085", "C1 NEL"), ("\u2028", "U+2028")):
        inv("control character %s in description -> INVALID_ARGUMENT naming task.description"
            % label, u.create("ok", description="bad%sdesc" % ch), "task.description")
    # Tag names: no control characters at all; the violation names the element.
    for ch, label in (("\t", "tab"), ("\n", "newline"), ("\x7f", "DEL"), ("\u0085", "C1 NEL"),
                      ("\u2028", "U+2028")):
        inv("control character %s in a tag name -> INVALID_ARGUMENT naming task.tags[1]" % label,
            u.create("tag", tags=["fine", "bad%stag" % ch]), "task.tags[1]")
    inv("description 2001 -> INVALID_ARGUMENT naming task.description",
        u.create("ok", description="x" * 2001), "task.description")
    inv("description 2001 two-byte chars -> INVALID_ARGUMENT",
        u.create("ok", description="ü" * 2001), "task.description")
    inv("bad time zone Mars/Olympus (with due) -> INVALID_ARGUMENT",
        u.create("tz", due=TT.due_in(3600, "Mars/Olympus")))
    inv("bad time zone Mars/Olympus names task.due.time_zone",
        u.create("tz", due=TT.due_in(3600, "Mars/Olympus")), "task.due.time_zone")
    inv("bad time zone with all-day date -> INVALID_ARGUMENT naming task.due.time_zone",
        u.create("tz", due={"due_date": {"year": 2030, "month": 1, "day": 1},
                            "time_zone": "Not/AZone"}), "task.due.time_zone")
    for tz in ("UTC'; DROP TABLE tasks;--", "../../../etc/passwd", "Europe/../UTC", "/UTC",
               "posixrules\u0000", "Europe/Paris/"):
        inv("time zone %r -> INVALID_ARGUMENT naming task.due.time_zone" % tz,
            u.create("tz", due=TT.due_in(3600, tz)), "task.due.time_zone")
    inv("all-day due 2030-02-30 -> INVALID_ARGUMENT naming task.due.due_date",
        u.create("dd", due={"due_date": {"year": 2030, "month": 2, "day": 30}}), "task.due.due_date")
    inv("tag name of 51 characters -> INVALID_ARGUMENT naming task.tags[0]",
        u.create("tag", tags=["t" * 51]), "task.tags[0]")
    inv("empty tag name -> INVALID_ARGUMENT naming task.tags[0]", u.create("tag", tags=[""]),
        "task.tags[0]")
    inv("whitespace-only second tag -> INVALID_ARGUMENT naming task.tags[1]",
        u.create("tag", tags=["ok", " \u3000 "]), "task.tags[1]")
    inv("65 tags -> INVALID_ARGUMENT naming task.tags",
        u.create("tag", tags=["t%d" % i for i in range(65)]), "task.tags")
    inv("negative before_due reminder -> INVALID_ARGUMENT naming task.reminders[0]",
        u.create("rem", due=TT.due_in(3600), reminders=[{"before_due": "-60s"}]),
        "task.reminders[0]")
    inv("before_due reminder without a due -> INVALID_ARGUMENT naming task.reminders[0]",
        u.create("rem", reminders=[{"before_due": "60s"}]), "task.reminders[0]")
    inv("11 reminders -> INVALID_ARGUMENT naming task.reminders",
        u.create("rem", due=TT.due_in(3600), reminders=[{"before_due": "%ds" % (60 * i)}
                                                         for i in range(11)]), "task.reminders")
    inv("unsupported RRULE -> INVALID_ARGUMENT naming task.recurrence.rrule",
        u.create("rr", due=TT.due_in(3600), recurrence={"rrule": "FREQ=HOURLY"}),
        "task.recurrence.rrule")
    inv("recurrence interval 1001 -> INVALID_ARGUMENT naming task.recurrence.interval",
        u.create("rr", due=TT.due_in(3600),
                 recurrence={"frequency": "FREQUENCY_DAILY", "interval": 1001}),
        "task.recurrence.interval")
    inv("recurrence without a due -> INVALID_ARGUMENT naming task.recurrence",
        u.create("rr", recurrence={"rrule": "FREQ=DAILY"}), "task.recurrence")
    # Timestamp.seconds past 9999-12-31 (python's json mapping refuses it: crafted).
    far = f_bytes(TT.TASK_DUE, f_bytes(1, f_varint(1, 253402300800 + 86400 * 400)))
    inv("due timestamp beyond year 9999 (crafted) -> INVALID_ARGUMENT",
        u.call("CreateTask", raw_create(f_bytes(TT.TASK_TITLE, "far") + far)))

    # ---- crafted on the wire
    for raw, label in ((b"bad \xff\xfe title", "0xFF 0xFE"), (b"overlong \xc0\xaf", "overlong"),
                       (b"surrogate \xed\xa0\x80", "UTF-16 surrogate"),
                       (b"truncated \xe2\x82", "truncated sequence"),
                       (b"\xf4\x90\x80\x80 above U+10FFFF", "above U+10FFFF")):
        r = u.call("CreateTask", raw_create(f_bytes(TT.TASK_TITLE, raw)))
        inv("invalid UTF-8 (%s) in title -> INVALID_ARGUMENT naming task.title" % label, r,
            "task.title")
    r = u.call("CreateTask", raw_create(f_bytes(TT.TASK_TITLE, b"ok") +
                                        f_bytes(TT.TASK_DESCRIPTION, b"bad \xff desc")))
    inv("invalid UTF-8 in description -> INVALID_ARGUMENT naming task.description", r,
        "task.description")
    r = u.call("CreateTask", raw_create(f_bytes(TT.TASK_TITLE, b"ok") +
                                        f_bytes(TT.TASK_TAGS, b"bad\xfftag")))
    inv("invalid UTF-8 in a tag name -> INVALID_ARGUMENT naming task.tags[0]", r,
        "task.tags[0]")
    r = u.call("CreateTask", raw_create(f_bytes(TT.TASK_TITLE, b"ok"), request_id=b"rid\xff"))
    inv("invalid UTF-8 in request_id -> INVALID_ARGUMENT", r)
    r = u.call("CreateTask", raw_create(f_bytes(TT.TASK_TITLE, b"prio") +
                                        f_varint(TT.TASK_PRIORITY, 99)))
    inv("priority = 99 (crafted) -> INVALID_ARGUMENT naming task.priority", r, "task.priority")
    r = u.call("CreateTask", raw_create(f_bytes(TT.TASK_TITLE, b"prio") +
                                        f_varint(TT.TASK_PRIORITY, -1)))
    inv("priority = -1 (crafted) -> INVALID_ARGUMENT", r)
    r = u.call("CreateTask", raw_create(f_bytes(TT.TASK_TITLE, b"prio") +
                                        f_varint(TT.TASK_PRIORITY, 5)))
    inv("priority = 5 (one past URGENT) -> INVALID_ARGUMENT", r)
    # Valid UTF-8 assembled by hand is still accepted (control for the crafting itself),
    # by another user so the reject user stays empty.
    v = TT.User(srv)
    r = v.call("CreateTask", raw_create(f_bytes(TT.TASK_TITLE, "crafted ✓".encode()) +
                                        f_varint(TT.TASK_PRIORITY, 4)))
    T.check("control: hand-crafted valid request accepted",
            r.code == OK and r.response.title == "crafted ✓" and r.response.priority == 4,
            TT.res(r))

    # ---- ListTasks input
    inv("ListTasks page_size -1 -> INVALID_ARGUMENT naming page_size", u.list(page_size=-1),
        "page_size")
    r = u.call("ListTasks", f_varint(17, 99))
    inv("ListTasks order_by = 99 (crafted) -> INVALID_ARGUMENT", r)
    r = u.call("ListTasks", f_varint(3, 42))
    inv("ListTasks completion = 42 (crafted) -> INVALID_ARGUMENT", r)
    r = u.call("ListTasks", f_varint(4, 77))
    inv("ListTasks priorities [77] (crafted) -> INVALID_ARGUMENT", r)
    r = u.call("ListTasks", f_bytes(16, b"bad \xff search"))
    inv("ListTasks search with invalid UTF-8 -> INVALID_ARGUMENT", r)
    r = u.list(order_by="TASK_ORDER_BY_RELEVANCE")
    inv("ListTasks order RELEVANCE without search -> INVALID_ARGUMENT", r)
    for tok in ("garbage", "AAAA", "!!!not base64!!!", "x" * 5000):
        inv("ListTasks page_token %r -> INVALID_ARGUMENT" % tok[:20], u.list(page_token=tok),
            "page_token")

    # ---- UpdateTask on a task of another user cannot be used to smuggle data; here the
    # reject user has no tasks at all, so every mutation is NOT_FOUND and nothing is stored.
    r = u.update({"id": "00000000-0000-0000-0000-000000000000", "title": "x"}, ["title"])
    T.check("update of a missing task -> NOT_FOUND", r.code == TT.NOT_FOUND, TT.res(r))

    TT.check_nothing_stored("rejected requests stored nothing (tasks, tags, changes, revision)",
                            u.sub)


def update_rejects(srv):
    u = TT.User(srv)
    t = u.create_ok("Valid", description="keep")
    r = u.update({"id": t.id, "priority": "PRIORITY_URGENT"}, ["priority"])
    T.check("control: valid priority update OK", r.code == OK, TT.res(r))
    before = TT.d(u.get_ok(t.id))
    ch = TT.db_counts(u.sub)["changes"]
    raw = f_bytes(1, f_bytes(1, t.id) + f_varint(TT.TASK_PRIORITY, 99)) + f_bytes(2, f_bytes(1, "priority"))
    r = u.call("UpdateTask", raw)
    check_invalid("UpdateTask priority = 99 (crafted) -> INVALID_ARGUMENT", r, "task.priority")
    raw = f_bytes(1, f_bytes(1, t.id) + f_bytes(TT.TASK_TITLE, b"\xc3\x28")) + f_bytes(2, f_bytes(1, "title"))
    check_invalid("UpdateTask invalid UTF-8 title (crafted) -> INVALID_ARGUMENT",
                  u.call("UpdateTask", raw))
    check_invalid("UpdateTask description 2001 -> INVALID_ARGUMENT",
                  u.update({"id": t.id, "description": "y" * 2001}, ["description"]),
                  "task.description")
    check_invalid("UpdateTask bad time zone -> INVALID_ARGUMENT",
                  u.update({"id": t.id, "due": TT.due_in(60, "Mars/Olympus")}, ["due"]))
    check_invalid("UpdateTask control char -> INVALID_ARGUMENT",
                  u.update({"id": t.id, "title": "a\x00b"}, ["title"]), "task.title")
    check_invalid("UpdateTask tab inside the title -> INVALID_ARGUMENT naming task.title",
                  u.update({"id": t.id, "title": "a\tb"}, ["title"]), "task.title")
    check_invalid("UpdateTask bell in the description -> INVALID_ARGUMENT naming "
                  "task.description",
                  u.update({"id": t.id, "description": "a\x07b"}, ["description"]),
                  "task.description")
    check_invalid("UpdateTask control char in a tag -> INVALID_ARGUMENT naming task.tags[0]",
                  u.update({"id": t.id, "tags": ["a\tb"]}, ["tags"]), "task.tags[0]")
    check_invalid("UpdateTask bad time zone names task.due.time_zone",
                  u.update({"id": t.id, "due": TT.due_in(60, "Mars/Olympus")}, ["due"]),
                  "task.due.time_zone")
    T.check("rejected updates changed nothing", TT.d(u.get_ok(t.id)) == before)
    T.check("rejected updates wrote no change row", TT.db_counts(u.sub)["changes"] == ch,
            TT.db_counts(u.sub))


def run():
    srv = TT.start_server()
    TT.section("boundaries accepted", boundaries, srv)
    TT.section("invalid CreateTask/ListTasks input", rejects, srv)
    TT.section("invalid UpdateTask input", update_rejects, srv)
    srv.stop()


if __name__ == "__main__":
    T.main(run)
