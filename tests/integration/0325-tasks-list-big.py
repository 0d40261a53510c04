#!/usr/bin/python3
"""0325-tasks-list-big: ListTasks for a user PostgreSQL's statistics call big.

A user with >= 20,000 tasks gets other plans for tag and search filters (PROBE: a bounded
walk in sort order, index-only for open tasks by due, RELEVANCE one tier at a time, with a
GIN fallback when the walk finds too few rows; narrow GIN sorts for all-of-several-tags
and for ranges of a few weeks, whose week keys join the GIN; server/store/task_query.h). The rows must not depend on the plan. This test stores 24,000 tasks for one user straight into the shared
database (the server computes nothing for them that the table does not), runs ANALYZE so
that the user is among tasks.user_id's most common values, starts a server, and walks
pages of many tag/search shapes, comparing every id and its position with a plain SQL
query over the same table. The server's td_list_pages_total{plan} shows which plans ran:
the walk alone, the walk then the fallback, and GIN, each at least once. The user's
rows are deleted at the end.
"""
import tdtest as T
import tdtasks as TT

N = 24000  # > BIG_USER_TASKS (server/task_read.c)

# Work: every 4th task (6,000: a walk finds a page at once); Mid: every 60th (400, all
# also Work: ~67 in a 4000-row walk, near a 51-row page); Rare: 30 (always the fallback).
# "zephyr": 48 descriptions. Titles repeat (ties on TITLE), so do due and created times.
FILL = """
INSERT INTO tasks (user_id, title, description, due_at, time_zone, priority, completed_at,
                   tags, revision, created_at, updated_at)
SELECT %(user)s,
       (ARRAY['Buy groceries','Pay electricity bill','Review quarterly report','Call dentist',
              'Book flight tickets','Water plants','Fix garage door','Plan holiday'])[1 + g %% 8]
         || ' ' || (g %% 97),
       CASE WHEN g %% 500 = 7 THEN 'zephyr notes' WHEN g %% 2 = 0 THEN 'see the folder'
            ELSE '' END,
       CASE WHEN g %% 5 = 0 THEN NULL
            ELSE timestamptz '2026-06-01 00:00Z' + ((hashint4(g + 2) & 1023) - 300)
                 * interval '1 hour' END,
       'UTC',
       1 + (hashint4(g) & 3),
       CASE WHEN hashint4(g + 1) & 3 = 0 THEN timestamptz '2026-05-01 00:00Z' END,
       array_remove(ARRAY[CASE WHEN g %% 4 = 0 THEN 'Work' END,
                          CASE WHEN g %% 60 = 0 THEN 'Mid' END,
                          CASE WHEN g %% 800 = 3 THEN 'Rare' END], NULL),
       g,
       timestamptz '2026-04-01 00:00Z' - (g %% 3000) * interval '1 minute',
       timestamptz '2026-04-01 00:00Z' - (g %% 3000) * interval '1 minute'
         + (g %% 7) * interval '1 minute'
FROM generate_series(1, %(n)d) g
"""

KEYS = {"TASK_ORDER_BY_DUE": "due_sort", "TASK_ORDER_BY_PRIORITY": "priority",
        "TASK_ORDER_BY_CREATED": "created_at", "TASK_ORDER_BY_UPDATED": "updated_at",
        "TASK_ORDER_BY_TITLE": "lower(title)"}


def reference(user, req):
    """The ids of req's filter in req's order, by a plain query (no plan tricks)."""
    w = ["user_id = " + TT.q(user)]
    if req.get("completion") == "COMPLETION_FILTER_OPEN":
        w.append("completed_at IS NULL")
    if req.get("completion") == "COMPLETION_FILTER_COMPLETED":
        w.append("completed_at IS NOT NULL")
    if req.get("priorities"):
        w.append("priority IN (%s)" % ",".join(
            str(["LOW", "MEDIUM", "HIGH", "URGENT"].index(p.split("_")[-1]) + 1)
            for p in req["priorities"]))
    for field, op in (("tags_any", "&&"), ("tags_all", "@>")):
        if req.get(field):
            w.append("tag_keys %s ARRAY[%s]" % (op, ",".join(TT.q(t.lower()) for t in req[field])))
    for field, test in (("create_after", "created_at >="), ("create_before", "created_at <"),
                        ("update_after", "updated_at >="), ("update_before", "updated_at <")):
        if req.get(field):
            w.append("%s %s" % (test, TT.q(req[field])))
    if req.get("search"):
        w.append("search @@ td_search_query(%s)" % TT.q(req["search"]))
    d = " DESC" if req.get("descending") else ""
    if req.get("order_by") == "TASK_ORDER_BY_RELEVANCE":
        # best first: every word in the title (weight A), in the title or a tag name (C),
        # anywhere; newest first among equals; "descending" reverses it all
        q = TT.q(req["search"])
        tier = ("CASE WHEN ts_filter(search, '{a}') @@ td_search_query(%s) THEN 2 "
                "WHEN ts_filter(search, '{a,c}') @@ td_search_query(%s) THEN 1 ELSE 0 END"
                % (q, q))
        d = "" if req.get("descending") else " DESC"
        order = "%s%s, updated_at%s, id%s" % (tier, d, d, d)
    else:
        order = "%s%s, id%s" % (KEYS[req["order_by"]], d, d)
    out = TT.psql("SELECT id FROM tasks WHERE %s ORDER BY %s" % (" AND ".join(w), order))
    return out.split("\n") if out else []


# Open by due, tag and priority: the index-only walk (up to 16,000 rows); ~75 rows spread
# over the user's ~18,000 open tasks, so a 21-row page needs ~5,000 of them: every page
# comes from the walk, none from the fallback (a 4000-row walk would fall back).
COVERED = ({"tags_any": ["mid"], "priorities": ["PRIORITY_URGENT"],
            "order_by": "TASK_ORDER_BY_DUE", "completion": "COMPLETION_FILTER_OPEN"}, 20, 10)

SHAPES = [  # (request, page_size, pages walked at most)
    ({"tags_any": ["work"], "order_by": "TASK_ORDER_BY_DUE"}, 100, 3),
    ({"tags_any": ["WORK"], "order_by": "TASK_ORDER_BY_DUE", "descending": True}, 50, 3),
    ({"tags_any": ["Work"], "order_by": "TASK_ORDER_BY_TITLE",
      "completion": "COMPLETION_FILTER_OPEN"}, 500, 2),
    ({"tags_any": ["mid"], "order_by": "TASK_ORDER_BY_DUE"}, 50, 20),
    ({"tags_any": ["mid"], "order_by": "TASK_ORDER_BY_PRIORITY", "descending": True}, 50, 20),
    ({"tags_any": ["mid", "rare"], "order_by": "TASK_ORDER_BY_CREATED",
      "completion": "COMPLETION_FILTER_OPEN"}, 40, 20),
    ({"tags_any": ["mid"], "order_by": "TASK_ORDER_BY_UPDATED", "descending": True,
      "priorities": ["PRIORITY_HIGH", "PRIORITY_URGENT"]}, 25, 20),
    ({"tags_any": ["rare"], "order_by": "TASK_ORDER_BY_TITLE"}, 7, 20),
    ({"tags_any": ["rare"], "order_by": "TASK_ORDER_BY_DUE",
      "completion": "COMPLETION_FILTER_COMPLETED"}, 3, 20),
    ({"tags_any": ["work"], "order_by": "TASK_ORDER_BY_CREATED",
      "create_after": "2026-03-31T23:00:00Z"}, 50, 5),
    ({"search": "gro", "order_by": "TASK_ORDER_BY_DUE"}, 100, 3),
    ({"search": "zephyr", "order_by": "TASK_ORDER_BY_TITLE", "descending": True}, 10, 20),
    ({"search": "bill", "tags_any": ["mid"], "order_by": "TASK_ORDER_BY_DUE"}, 10, 20),
    # A range of a few weeks beside a tag or search filter: its week keys join the GIN
    # (task_query.c), and the rows are tested against the exact range
    ({"search": "pay", "order_by": "TASK_ORDER_BY_DUE", "completion": "COMPLETION_FILTER_OPEN",
      "create_after": "2026-03-30T12:00:00Z", "create_before": "2026-03-31T06:00:00Z"}, 30, 20),
    ({"tags_all": ["work", "mid"], "order_by": "TASK_ORDER_BY_TITLE",
      "update_after": "2026-03-30T00:00:00Z", "update_before": "2026-03-31T00:00:00Z"}, 10, 20),
    COVERED,
    # GIN for a big user: all-of two tags (narrow sort, then join back)
    ({"tags_all": ["work", "mid"], "order_by": "TASK_ORDER_BY_DUE"}, 100, 10),
    # RELEVANCE walks one tier at a time: "zephyr" is only in descriptions (the top-tier
    # walk finds nothing: fallback); "w" is 3,000 titles (Water) then 6,000 tag names
    # (Work), crossed on page 16; "mid" only tag names, 1 in 60 of the walk; "f"
    # descending starts with 6,000 descriptions (folder), then 6,000 titles
    ({"search": "zephyr", "order_by": "TASK_ORDER_BY_RELEVANCE"}, 20, 10),
    ({"search": "review report", "order_by": "TASK_ORDER_BY_RELEVANCE"}, 500, 2),
    ({"search": "w", "order_by": "TASK_ORDER_BY_RELEVANCE"}, 200, 20),
    ({"search": "mid", "order_by": "TASK_ORDER_BY_RELEVANCE"}, 50, 9),
    ({"search": "f", "order_by": "TASK_ORDER_BY_RELEVANCE", "descending": True,
      "completion": "COMPLETION_FILTER_OPEN"}, 400, 14),
]


def plans(srv):
    return {p: srv.metric("td_list_pages_total", {"plan": p}) or 0
            for p in ("walk", "gin", "probe", "probe_gin")}


def big_user_pages(srv, u):
    bad = []
    for req, page_size, pages in SHAPES:
        want = reference(u.sub, req)
        before = plans(srv)
        tasks, complete = u.list_pages(page_size, pages, **req)
        fell_back = plans(srv)["probe_gin"] - before["probe_gin"]
        if (req, page_size, pages) == COVERED and fell_back:
            bad.append("%s: %d of its pages fell back to the GIN" % (req, fell_back))
        got = [t.id for t in tasks]
        if not complete:
            want = want[:len(got)]
        if got != want or len(set(got)) != len(got):
            first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                         min(len(got), len(want)))
            bad.append("%s page_size %d: %d ids, want %d, first difference at %d"
                       % (req, page_size, len(got), len(want), first))
    T.check("%d tag/search shapes of a 24,000-task user, walked page by page: every id in the "
            "reference query's order" % len(SHAPES), not bad, "; ".join(bad[:3]))
    r = u.list(tags_any=["mid"], include_total_size=True, page_size=1)
    T.check("include_total_size on a PROBE page: 400", r.code == TT.OK and
            r.response.total_size == 400, TT.res(r) if r.code != TT.OK else r.response.total_size)
    p = plans(srv)
    T.log("pages by plan: %s" % p)
    T.check("the user was taken for big: walked pages (probe), walks that fell back to the GIN "
            "(probe_gin) and GIN pages all ran", p["probe"] > 0 and p["probe_gin"] > 0
            and p["gin"] > 0, p)
    n = plans(srv)["walk"]
    u.list(order_by="TASK_ORDER_BY_DUE")
    T.check("a page without tag or search filters counts as walk", plans(srv)["walk"] == n + 1)


def run():
    T.require_services("postgres", "redis")
    user = TT.new_sub("big")
    TT.psql(FILL % {"user": TT.q(user), "n": N})
    try:
        TT.psql("ANALYZE tasks")
        # Started after ANALYZE: the server reads the big users at its first ListTasks.
        srv = TT.start_server()
        TT.section("big user pages", big_user_pages, srv, TT.User(srv, sub=user))
        srv.stop()
    finally:
        TT.psql("DELETE FROM tasks WHERE user_id = %s" % TT.q(user))


if __name__ == "__main__":
    T.main(run)
