"""tdtasks - helpers for the TaskService / TagService integration tests (03NN-*.py).

Builds on tdtest (server start, dynamic messages, generic unary calls, JWT, reporting).
Adds: a per-user client (unique JWT subject per user, so tests share the `todo` database
and may run in parallel), JSON-shaped requests (json_format, so enum names and RFC 3339
timestamps work as in grpcurl), psql look-ups of what was stored, hand-crafted wire bytes
(invalid UTF-8, out-of-range enum numbers) and independent sections (one failing
scenario does not hide the others).
"""
import datetime
import os
import re
import subprocess
import traceback
import uuid

import grpc
from google.protobuf import json_format

import tdtest as T

TASK_SVC = "/todo.v1.TaskService/"
TAG_SVC = "/todo.v1.TagService/"
TAG_METHODS = {"CreateTag", "ListTags", "UpdateTag", "DeleteTag"}

C = grpc.StatusCode
OK, INVALID, NOT_FOUND, ABORTED, EXISTS, UNIMPL = (C.OK, C.INVALID_ARGUMENT, C.NOT_FOUND,
                                                   C.ABORTED, C.ALREADY_EXISTS, C.UNIMPLEMENTED)


class Failure(Exception):
    """A precondition of a section failed (e.g. a setup call did not return OK)."""


def new_sub(prefix="it"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:16])


def start_server(name="server", **env):
    """A todo-server on the shared test database; per-user rate limit off (tests burst)."""
    T.require_services("postgres", "redis")
    e = {"TODO_RATE_LIMIT_RPS": "0"}
    e.update(env)
    return T.Server(name=name, env=e).start()


# ------------------------------------------------------------------ sections
def section(name, fn, *args):
    """Runs one scenario; an exception becomes `not ok - name` and the next one runs."""
    T.log("--- " + name)
    try:
        fn(*args)
    except Failure as e:
        T.fail(name, str(e))
    except Exception as e:  # noqa: BLE001
        T.fail(name, "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc()))


# ------------------------------------------------------------------ messages
def path_of(method):
    if method.startswith("/"):
        return method
    return (TAG_SVC if method in TAG_METHODS else TASK_SVC) + method


def build(method, request):
    """dict (JSON mapping: enum names, RFC 3339 strings, camelCase or proto names) ->
    message of the method's input type; bytes and messages pass through."""
    if request is None or isinstance(request, (bytes, bytearray)) or not isinstance(request, dict):
        return request
    inp, _out, _cs, _ss = T.protos().method(path_of(method))
    return json_format.ParseDict(request, inp())


def d(msg):
    """message -> dict with proto field names, defaults included (enums as names)."""
    if msg is None:
        return None
    return json_format.MessageToDict(msg, preserving_proto_field_name=True,
                                     including_default_value_fields=True)


def rfc3339(t):
    """datetime (aware) or epoch seconds -> RFC 3339 UTC string."""
    if not isinstance(t, datetime.datetime):
        t = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def due_in(seconds, tz=""):
    d_ = {"due_time": rfc3339(now_utc() + datetime.timedelta(seconds=seconds))}
    if tz:
        d_["time_zone"] = tz
    return d_


def res(r):
    """Short text of a Result for failure messages."""
    return "%s %r" % (r.code.name if r.code else None, r.details)


# ------------------------------------------------------------------ a user
class User:
    """One JWT subject talking to one server."""

    def __init__(self, server, sub=None, prefix="it"):
        self.server = server
        self.sub = sub or new_sub(prefix)
        self.md = T.bearer(T.token(self.sub, ttl=3600))
        self.ch = server.channel()

    def call(self, method, request=None, timeout=10.0):
        return T.unary(self.ch, path_of(method), build(method, request), metadata=self.md,
                       timeout=timeout)

    def must(self, method, request=None, what=""):
        r = self.call(method, request)
        if r.code != OK:
            raise Failure("%s%s: expected OK, got %s" % (what + ": " if what else "", method, res(r)))
        return r.response

    # -- tasks
    def create(self, title="task", request_id=None, **task):
        task["title"] = title
        req = {"task": task}
        if request_id:
            req["request_id"] = request_id
        return self.call("CreateTask", req)

    def create_ok(self, title="task", request_id=None, **task):
        task["title"] = title
        req = {"task": task}
        if request_id:
            req["request_id"] = request_id
        return self.must("CreateTask", req, "create %r" % title[:40])

    def get(self, id_):
        return self.call("GetTask", {"id": id_})

    def get_ok(self, id_):
        return self.must("GetTask", {"id": id_})

    def update(self, task, paths, method="UpdateTask", field="task"):
        """UpdateTask/UpdateTag with update_mask.paths set verbatim (the JSON mapping of
        FieldMask would camel-case and reject some paths)."""
        m = build(method, {field: task})
        m.update_mask.paths.extend(paths)
        return self.call(method, m)

    def update_tag(self, tag, paths):
        return self.update(tag, paths, "UpdateTag", "tag")

    def list(self, **req):
        return self.call("ListTasks", req)

    def list_pages(self, page_size=100, max_pages=1000, **req):
        """(tasks of the first max_pages pages, whether they were all). Raises Failure on a
        non-OK page."""
        out, token = [], ""
        for _ in range(max_pages):
            q = dict(req, page_size=page_size)
            if token:
                q["page_token"] = token
            resp = self.must("ListTasks", q, "list page")
            out += list(resp.tasks)
            token = resp.next_page_token
            if not token:
                return out, True
        return out, False

    def list_all(self, page_size=100, max_pages=1000, **req):
        """Every task of the filter, walking the pages. Raises Failure on a non-OK page."""
        out, complete = self.list_pages(page_size, max_pages, **req)
        if not complete:
            raise Failure("list_all: more than %d pages" % max_pages)
        return out

    def titles(self, **req):
        return [t.title for t in self.list_all(**req)]

    def ids(self, **req):
        return [t.id for t in self.list_all(**req)]

    # -- tags
    def tags(self):
        out, token = [], ""
        for _ in range(100):
            q = {"page_size": 500}
            if token:
                q["page_token"] = token
            resp = self.must("ListTags", q, "list tags")
            out += list(resp.tags)
            token = resp.next_page_token
            if not token:
                return out
        raise Failure("ListTags: too many pages")

    def tag_by_name(self, name):
        for t in self.tags():
            if t.name.lower() == name.lower():
                return t
        return None


# ------------------------------------------------------------------ status details
def violations(result):
    """Field names of the google.rpc.BadRequest violations (list; [] when none)."""
    try:
        st = T.status_details(result)
    except Exception:  # noqa: BLE001 - undecodable details count as none
        return []
    return T.bad_request_fields(st) if st is not None else []


def check_code(name, r, code):
    return T.check(name, r.code == code, "expected %s, got %s" % (code.name, res(r)))


def check_invalid(name, r, field=None):
    """INVALID_ARGUMENT, and when field is given a BadRequest violation naming it."""
    if r.code != INVALID:
        return T.check(name, False, "expected INVALID_ARGUMENT, got %s" % res(r))
    if field is None:
        return T.check(name, True)
    v = violations(r)
    return T.check(name, field in v,
                   "INVALID_ARGUMENT but BadRequest field violations are %r (want %r); details %r"
                   % (v, field, r.details))


# ------------------------------------------------------------------ the database
def psql(sql, url=None):
    r = subprocess.run(["psql", url or T.DATABASE_URL, "-X", "-At", "-v", "ON_ERROR_STOP=1",
                        "-c", sql], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise Failure("psql failed: %s" % r.stderr.strip())
    return r.stdout.strip()


def q(s):
    return "'" + s.replace("'", "''") + "'"


def db_counts(sub):
    """{'tasks','tags','changes','revision'} stored for the user."""
    row = psql("SELECT (SELECT count(*) FROM tasks WHERE user_id=%s),"
               " (SELECT count(*) FROM tags WHERE user_id=%s),"
               " (SELECT count(*) FROM changes WHERE user_id=%s),"
               " COALESCE((SELECT revision FROM users_revisions WHERE user_id=%s), 0)"
               % (q(sub), q(sub), q(sub), q(sub)))
    a = [int(x) for x in row.split("|")]
    return {"tasks": a[0], "tags": a[1], "changes": a[2], "revision": a[3]}


def change_revisions(sub):
    """Revisions of the user's change rows in insertion (id) order (NULLs skipped)."""
    out = psql("SELECT revision FROM changes WHERE user_id=%s AND revision IS NOT NULL"
               " ORDER BY id" % q(sub))
    return [int(x) for x in out.split()] if out else []


def check_revisions(name, sub):
    """Change-row revisions are 1..N strictly increasing, gap-free, and the user's
    current revision is N. Returns N."""
    revs = change_revisions(sub)
    cur = db_counts(sub)["revision"]
    good = revs == list(range(1, len(revs) + 1)) and cur == len(revs)
    T.check(name, good, "change revisions %r (want 1..%d in id order), users_revisions=%d"
            % (revs[:50], len(revs), cur))
    return len(revs)


def check_nothing_stored(name, sub):
    c = db_counts(sub)
    return T.check(name, c == {"tasks": 0, "tags": 0, "changes": 0, "revision": 0},
                   "stored for a user whose every request was rejected: %r" % c)


# ------------------------------------------------------------------ raw protobuf wire
def varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(num << 3 | 2) + varint(len(b)) + b


def f_varint(num, n):
    return varint(num << 3) + varint(n)


# Field numbers (task.proto)
TASK_TITLE, TASK_DESCRIPTION, TASK_DUE, TASK_PRIORITY, TASK_TAGS = 3, 4, 5, 6, 7


def raw_create(task_fields, request_id=None):
    """CreateTaskRequest bytes with a Task built from raw field bytes."""
    out = f_bytes(1, task_fields)
    if request_id:
        out += f_bytes(2, request_id)
    return out


def norm_msg(text, *ids):
    """A status message with ids replaced, for comparing 'not found' messages."""
    for i in ids:
        if i:
            text = text.replace(i, "<id>")
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", text)
