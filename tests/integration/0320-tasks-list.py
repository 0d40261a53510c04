#!/usr/bin/python3
"""0320-tasks-list: ListTasks filters, sorting, search and page tokens.

Filter by priority; sort by due ascending (no-due last) and by the other keys with the id
tie-breaker; search by tag name and by title prefix ("gro" finds "Groceries"); SQL/regex
metacharacters in the search are plain text (no error, no match explosion); page_size
default/limits; tampered or mismatched page_token -> INVALID_ARGUMENT; tag/search pages
(prepared per session, generic plans) exact across repeats, cache evictions and killed
sessions.
"""
import base64
import concurrent.futures
import datetime
import subprocess
import time

import tdtest as T
import tdtasks as TT
from tdtasks import OK, check_invalid


def priority_filter(srv):
    u = TT.User(srv)
    made = {}
    for p in ("LOW", "MEDIUM", "HIGH", "URGENT"):
        for i in range(2):
            t = u.create_ok("%s %d" % (p.lower(), i), priority="PRIORITY_" + p)
            made.setdefault(p, set()).add(t.id)
    got = set(u.ids(priorities=["PRIORITY_HIGH"]))
    T.check("priorities [HIGH] -> exactly the HIGH tasks", got == made["HIGH"], got)
    got = set(u.ids(priorities=["PRIORITY_HIGH", "PRIORITY_URGENT"]))
    T.check("priorities [HIGH, URGENT] -> exactly those", got == made["HIGH"] | made["URGENT"], got)
    T.check("no priority filter -> all 8", len(u.ids()) == 8)
    lst = u.list_all(order_by="TASK_ORDER_BY_PRIORITY")
    T.check("order by priority ascending (LOW first)",
            [t.priority for t in lst] == sorted(t.priority for t in lst)
            and lst and lst[0].priority == 1, [t.priority for t in lst])
    lst = u.list_all(order_by="TASK_ORDER_BY_PRIORITY", descending=True)
    T.check("order by priority descending (URGENT first)",
            [t.priority for t in lst] == sorted((t.priority for t in lst), reverse=True),
            [t.priority for t in lst])
    # tie-breaker: within one priority, ids ascending (asc) / descending (desc)
    asc = [(t.priority, t.id) for t in u.list_all(order_by="TASK_ORDER_BY_PRIORITY")]
    T.check("equal priorities ordered by id (stable tie-breaker)", asc == sorted(asc), asc)
    r = u.list(priorities=["PRIORITY_LOW"], include_total_size=True)
    T.check("include_total_size counts the filter", r.code == OK and r.response.total_size == 2,
            TT.res(r) if r.code != OK else r.response.total_size)


def sort_by_due(srv):
    u = TT.User(srv)
    base = TT.now_utc() + datetime.timedelta(days=3)
    spec = [("due +3h", 3), ("no due A", None), ("due +1h", 1), ("due +2h", 2), ("no due B", None),
            ("due -5h", -5)]
    for title, h in spec:
        if h is None:
            u.create_ok(title)
        else:
            u.create_ok(title, due={"due_time": TT.rfc3339(base + datetime.timedelta(hours=h))})
    # an all-day task ten days later (sorts after every timed one, before no-due)
    day = (base + datetime.timedelta(days=10)).date()
    u.create_ok("all-day +10d", due={"due_date": {"year": day.year, "month": day.month,
                                                   "day": day.day}})
    got = u.titles(order_by="TASK_ORDER_BY_DUE")
    T.check("sort by due ascending, no-due last",
            got[:5] == ["due -5h", "due +1h", "due +2h", "due +3h", "all-day +10d"]
            and sorted(got[5:]) == ["no due A", "no due B"], got)
    got = u.titles(order_by="TASK_ORDER_BY_DUE", page_size=2)
    T.check("sort by due ascending, walked in pages of 2, same order",
            got[:5] == ["due -5h", "due +1h", "due +2h", "due +3h", "all-day +10d"]
            and sorted(got[5:]) == ["no due A", "no due B"], got)
    desc = u.titles(order_by="TASK_ORDER_BY_DUE", descending=True)
    timed = [t for t in desc if not t.startswith("no due")]
    T.check("sort by due descending reverses the dated tasks",
            timed == ["all-day +10d", "due +3h", "due +2h", "due +1h", "due -5h"], desc)
    got = u.titles(order_by="TASK_ORDER_BY_TITLE")
    T.check("sort by title (case-insensitive)", got == sorted(got, key=str.lower), got)
    got = u.list_all(order_by="TASK_ORDER_BY_CREATED")
    keys = [(t.create_time.seconds, t.create_time.nanos) for t in got]
    T.check("sort by created ascending", keys == sorted(keys), keys)
    lo = TT.rfc3339(base)
    hi = TT.rfc3339(base + datetime.timedelta(hours=2, minutes=30))
    got = sorted(u.titles(due_after=lo, due_before=hi))
    T.check("due range [base, base+2.5h)", got == ["due +1h", "due +2h"], got)


def search(srv):
    u = TT.User(srv)
    docs = {
        "Groceries for the week": dict(tags=["Errands"]),
        "100% done report": {},
        "snake_case_name": {},
        "O'Reilly book": {},
        "regex a.*b literal": {},
        "back\\slash path": {},
        "Plain task": dict(description="nothing special here"),
        "Call mom": dict(description="about the groceries list"),
        "Tagged only": dict(tags=["Household"]),
    }
    ids = {}
    for title, kw in docs.items():
        ids[u.create_ok(title, **kw).id] = title

    def s(query, **kw):
        r = u.list(search=query, page_size=100, **kw)
        if r.code != OK:
            return None, r
        return sorted(t.title for t in r.response.tasks), r

    got, r = s("gro")
    T.check("search 'gro' finds 'Groceries for the week' (prefix)",
            got is not None and "Groceries for the week" in got, got or TT.res(r))
    T.check("search 'gro' also matches the description word 'groceries'",
            got is not None and "Call mom" in got, got)
    T.check("search 'gro' matches nothing else", got is not None and
            set(got) <= {"Groceries for the week", "Call mom"}, got)
    got, r = s("GROCER")
    T.check("search is case-insensitive ('GROCER')", got is not None
            and "Groceries for the week" in got, got or TT.res(r))
    got, r = s("wee")
    T.check("prefix of a later word ('wee' -> week)", got == ["Groceries for the week"],
            got or TT.res(r))
    got, r = s("errands")
    T.check("search by tag name 'errands'", got == ["Groceries for the week"], got or TT.res(r))
    got, r = s("house")
    T.check("search by tag-name prefix 'house'", got == ["Tagged only"], got or TT.res(r))
    got, r = s("gro week")
    T.check("two words are AND-ed ('gro week')", got == ["Groceries for the week"],
            got or TT.res(r))
    got, r = s("o'reilly")
    T.check("apostrophe is text: \"o'reilly\" finds O'Reilly", got == ["O'Reilly book"],
            got or TT.res(r))
    got, r = s("gro", order_by="TASK_ORDER_BY_RELEVANCE")
    T.check("relevance: title match ranks above description match",
            got is not None and [t.title for t in r.response.tasks][:1] == ["Groceries for the week"],
            [t.title for t in r.response.tasks] if r.code == OK else TT.res(r))
    # Tiers: every word in the title, then every word in the title or a tag name, then the
    # rest (a word only in the description); most recently updated first in each tier.
    # Created so that recency alone would give the reverse order.
    g = TT.User(srv)
    tier = {}
    for title, kw in (("Garden party", {}), ("Garden hose", {}),
                      ("Buy seeds", dict(tags=["Gardening"])),
                      ("Garden tools", dict(tags=["hose"])),
                      ("Hose", dict(description="for the garden")),
                      ("Call Bob", dict(description="about the garden"))):
        tier[title] = g.create_ok(title, **kw).id
    want = [tier[t] for t in ("Garden tools", "Garden hose", "Garden party", "Buy seeds",
                              "Call Bob", "Hose")]
    walk = [t.id for t in g.list_all(page_size=2, search="gard")]
    T.check("relevance: title matches, then tag-name matches, then description matches",
            walk == want, walk)
    # a two-letter word: a walk of the user's tasks in updated_at order, one tier at a time
    walk = [t.id for t in g.list_all(page_size=2, search="ga")]
    T.check("relevance of a two-letter prefix ('ga'): the same tiers and order",
            walk == want, walk)
    walk = [t.id for t in g.list_all(page_size=1, search="gard", descending=True)]
    T.check("relevance descending: description matches first, oldest first",
            walk == want[::-1], walk)
    want = [tier[t] for t in ("Garden hose", "Garden tools", "Hose")]
    walk = [t.id for t in g.list_all(page_size=1, search="hose garden")]
    T.check("relevance of two words: both in the title, then title + tag, then the rest",
            walk == want, walk)
    # Equal tiers (the word in each title): most recently updated first, walked one
    # per page; updating the oldest moves it to the front.
    z = TT.User(srv)
    zs = [z.create_ok("Zebra crossing " + w).id for w in ("north", "east", "south")]
    walk = [t.id for t in z.list_all(page_size=1, search="zebra")]
    T.check("relevance ties: newest update first, across pages", walk == zs[::-1], walk)
    r = z.update({"id": zs[0], "priority": "PRIORITY_HIGH"}, ["priority"])
    walk = [t.id for t in z.list_all(page_size=2, search="zebra")]
    T.check("relevance ties: an updated task moves to the front",
            r.code == OK and walk == [zs[0], zs[2], zs[1]], walk if r.code == OK else TT.res(r))
    walk = [t.id for t in z.list_all(page_size=1, search="zebra", descending=True)]
    T.check("relevance descending reverses the whole order", walk == [zs[1], zs[2], zs[0]], walk)
    # Metacharacters: no error, and never a task that does not contain the text.
    allowed = {"%": {"100% done report"}, "_": {"snake_case_name"},
               "'; DROP TABLE tasks;--": set(), ".*": {"regex a.*b literal"},
               "\\": {"back\\slash path"}, "%%": {"100% done report"}, "*": set(),
               "a%": {"regex a.*b literal", "Call mom"}, "(": set(), "&|!:*": set(), "'": {"O'Reilly book"},
               "\"": set(), "$1": {"100% done report"}, "\x5c\x27": set()}
    for query, ok_set in allowed.items():
        got, r = s(query)
        if got is None:
            T.fail("search %r is not an error" % query, TT.res(r))
            continue
        T.check("search %r: no error, no match explosion (got %d)" % (query, len(got)),
                set(got) <= ok_set and "Plain task" not in got, got)
    n = TT.psql("SELECT count(*) FROM tasks WHERE user_id=%s" % TT.q(u.sub))
    T.check("tasks table intact after the injection-looking search", n == str(len(docs)), n)
    got, r = s("   ")
    T.check("whitespace-only search -> OK (treated as no search) or INVALID_ARGUMENT",
            r.code in (OK, TT.INVALID), TT.res(r))
    got, r = s("zzzznotthere")
    T.check("search with no match -> empty", got == [], got or TT.res(r))
    got, r = s("gro", tags_any=["errands"])
    T.check("search combines with the tag filter", got == ["Groceries for the week"],
            got or TT.res(r))


def page_tokens(srv):
    u = TT.User(srv)
    for i in range(12):
        u.create_ok("page %02d" % i, priority="PRIORITY_HIGH" if i % 2 else "PRIORITY_LOW")
    r = u.list()
    T.check("page_size 0 -> default (all 12 fit in 50), no next token",
            r.code == OK and len(r.response.tasks) == 12 and not r.response.next_page_token,
            TT.res(r))
    r = u.list(page_size=5)
    if r.code != OK:
        raise TT.Failure("ListTasks page_size 5: %s" % TT.res(r))
    T.check("page_size 5 -> 5 tasks and a next token", len(r.response.tasks) == 5
            and r.response.next_page_token, len(r.response.tasks))
    tok = r.response.next_page_token
    r2 = u.list(page_size=5, page_token=tok)
    T.check("token gives the next page", r2.code == OK and len(r2.response.tasks) == 5 and
            not ({t.id for t in r2.response.tasks} & {t.id for t in r.response.tasks}), TT.res(r2))
    r = u.list(page_size=1000)
    T.check("page_size 1000 -> clamped to <= 500 or INVALID_ARGUMENT",
            r.code == TT.INVALID or (r.code == OK and len(r.response.tasks) <= 500), TT.res(r))

    def tamper(t):
        out = []
        for i in (0, len(t) // 2, len(t) - 2):
            c = t[i]
            out.append(t[:i] + ("A" if c != "A" else "B") + t[i + 1:])
        try:
            pad = "=" * (-len(t) % 4)
            raw = bytearray(base64.urlsafe_b64decode(t + pad))
            raw[len(raw) // 3] ^= 0x01
            out.append(base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("="))
        except Exception:  # noqa: BLE001 - token not base64url: character flips suffice
            pass
        out.append(t[:-3])
        out.append(t + "AAAA")
        return out

    for i, bad in enumerate(tamper(tok)):
        check_invalid("tampered page_token #%d -> INVALID_ARGUMENT naming page_token" % i,
                      u.list(page_size=5, page_token=bad), "page_token")
    check_invalid("page_token with different filters -> INVALID_ARGUMENT",
                  u.list(page_size=5, page_token=tok, priorities=["PRIORITY_HIGH"]))
    check_invalid("page_token with different order -> INVALID_ARGUMENT",
                  u.list(page_size=5, page_token=tok, order_by="TASK_ORDER_BY_TITLE"))
    # a token of user A replayed by user B must not reveal A's tasks
    b = TT.User(srv)
    r = b.list(page_size=5, page_token=tok)
    T.check("another user's page_token -> INVALID_ARGUMENT or an empty page",
            r.code == TT.INVALID or (r.code == OK and not r.response.tasks), TT.res(r))


def prepared_pages(srv):
    """Tag/search pages are prepared once per PostgreSQL session (an LRU of 32) and run
    with generic plans after five executions: every repeat, every parameter value, more
    shapes than the cache holds, and sessions killed in between give the exact rows."""
    u = TT.User(srv)
    tags = ["alpha", "beta", "gamma"]
    prios = ["PRIORITY_LOW", "PRIORITY_MEDIUM", "PRIORITY_HIGH", "PRIORITY_URGENT"]
    words = ["report", "groceries", "budget"]
    tasks = {}
    for i in range(36):
        tt = [tags[i % 3]] + ([tags[(i + 1) % 3]] if i % 4 == 0 else [])
        t = u.create_ok("%s item %d" % (words[i % 3], i), tags=tt, priority=prios[i % 4])
        done = i % 5 == 0
        if done:
            u.must("CompleteTask", {"id": t.id})
        tasks[t.id] = dict(tags=set(tt), prio=prios[i % 4], word=words[i % 3], done=done)

    def expected(tag=None, word=None, prio=None, completion=None):
        return {i for i, t in tasks.items()
                if (tag is None or tag in t["tags"]) and (word is None or word == t["word"])
                and (prio is None or t["prio"] == prio)
                and (completion != "COMPLETION_FILTER_OPEN" or not t["done"])
                and (completion != "COMPLETION_FILTER_COMPLETED" or t["done"])}

    orders = ["TASK_ORDER_BY_DUE", "TASK_ORDER_BY_PRIORITY", "TASK_ORDER_BY_CREATED",
              "TASK_ORDER_BY_UPDATED", "TASK_ORDER_BY_TITLE", "TASK_ORDER_BY_RELEVANCE"]
    completions = [None, "COMPLETION_FILTER_OPEN", "COMPLETION_FILTER_COMPLETED"]
    bad = []
    shapes = 0

    def probe(order, completion, prio, value, rounds):
        search = order == "TASK_ORDER_BY_RELEVANCE"
        req = dict(order_by=order, page_size=100)
        if search:
            req["search"] = value
        else:
            req["tags_any"] = [value]
        if completion:
            req["completion"] = completion
        if prio:
            req["priorities"] = [prio]
        want = expected(word=value if search else None, tag=None if search else value,
                        prio=prio, completion=completion)
        for _ in range(rounds):
            r = u.list(**req)
            got = {t.id for t in r.response.tasks} if r.code == OK else None
            if got != want:
                bad.append("%s: %s" % (req, TT.res(r) if r.code != OK else
                                       "%d rows, want %d" % (len(got), len(want))))
                return

    for order in orders:
        for completion in completions:
            for prio in (None, "PRIORITY_HIGH"):
                shapes += 1
                for value in (words if order == "TASK_ORDER_BY_RELEVANCE" else tags)[:2]:
                    probe(order, completion, prio, value, 7)
    T.check("%d tag/search shapes x 2 values x 7 runs (custom, then generic plans; more "
            "shapes than the 32 the session keeps): exact rows" % shapes, not bad and shapes > 32,
            "; ".join(bad[:3]))
    n = TT.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND application_name = 'todo'")
    T.log("terminated %s server sessions" % n)
    bad.clear()
    T.wait_until(lambda: u.list(tags_any=["alpha"]).code == OK, 10)
    for order in orders[:3]:
        probe(order, None, None, "beta", 7)
    probe("TASK_ORDER_BY_RELEVANCE", None, None, "budget", 7)
    T.check("after the server's sessions were killed, prepared pages are re-prepared: "
            "exact rows", not bad, "; ".join(bad[:3]))


def list_pool(srv):
    """With one list connection, concurrent pages queue for it (all exact), and a
    CreateTask does not wait behind a list page holding it: writes use the other pool."""
    u = TT.User(srv)
    for i in range(20):
        u.create_ok("queued %d" % i, tags=["q"])
    bad = []

    def lister(_):
        for _ in range(10):
            r = u.list(tags_any=["q"], page_size=100)
            if r.code != OK or len(r.response.tasks) < 20:
                bad.append(TT.res(r) if r.code != OK else "%d rows" % len(r.response.tasks))

    def writer(k):
        for i in range(10):
            r = u.create("written %d-%d" % (k, i), tags=["w"])
            if r.code != OK:
                bad.append("create: " + TT.res(r))

    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        futs = [ex.submit(lister, k) for k in range(8)] + [ex.submit(writer, k) for k in range(4)]
        for f in futs:
            f.result(timeout=60)
    T.check("8 listers on 1 list connection + 4 writers: every call OK, pages complete",
            not bad, "; ".join(bad[:3]))
    T.check("all 40 concurrent creates stored", len(u.ids(tags_any=["w"])) == 40)

    # The one list connection held by a ListTags that waits on a table lock: a ListTasks
    # queues behind it, while a CreateTask (no tags, so it does not touch that table) goes
    # through the other pool at once.
    def waiting(sql):
        return T.wait_until(lambda: TT.psql(sql) != "0", 10)

    locker = subprocess.Popen(["psql", T.DATABASE_URL, "-X", "-q", "-c",
                               "BEGIN; LOCK TABLE tags IN ACCESS EXCLUSIVE MODE; "
                               "SELECT pg_sleep(3); COMMIT"], stdout=subprocess.DEVNULL)
    try:
        waiting("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = 'tags' AND l.mode = 'AccessExclusiveLock' AND l.granted")
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            tags_f = ex.submit(u.call, "ListTags", {"page_size": 10}, 20)
            held = waiting("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                           "'todo' AND wait_event_type = 'Lock'")
            list_f = ex.submit(u.list, page_size=5)
            t0 = time.monotonic()
            r = u.call("CreateTask", {"task": {"title": "not behind the lists"}}, 2.5)
            took = time.monotonic() - t0
            queued = not list_f.done()
            T.check("list connection held: CreateTask OK at once (%.2f s), ListTasks queued"
                    % took, held and r.code == OK and took < 2.5 and queued,
                    "held=%s create=%s queued=%s" % (held, TT.res(r), queued))
            lt, ls = tags_f.result(timeout=20), list_f.result(timeout=20)
            T.check("after the lock: the held ListTags and the queued ListTasks answer OK",
                    lt.code == OK and ls.code == OK, "%s / %s" % (TT.res(lt), TT.res(ls)))
    finally:
        locker.wait(timeout=30)


def run():
    srv = TT.start_server()
    TT.section("filter by priority", priority_filter, srv)
    TT.section("sort by due", sort_by_due, srv)
    TT.section("search", search, srv)
    TT.section("page tokens", page_tokens, srv)
    srv.stop()
    # One list session: every shape goes through the same statement cache (evictions).
    one = TT.start_server("server-list1", TODO_DB_LIST_CONNECTIONS="1")
    TT.section("prepared tag/search pages", prepared_pages, one)
    TT.section("lists queue for their pool, writes do not wait behind them", list_pool, one)
    one.stop()


if __name__ == "__main__":
    T.main(run)
