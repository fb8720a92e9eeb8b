"""Tests of clever-sandbox against the recorded Clever v3.0 exchanges.

Run: /usr/bin/python3 -m pytest tests/sandbox/test_sandbox.py
The binary comes from $CLEVER_SANDBOX or build/tests/sandbox/clever-sandbox.
Only the stdlib (http.client, ssl, subprocess) and yaml are used.
"""

import base64
import glob
import hashlib
import http.client
import json
import os
import select
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("CLEVER_SANDBOX",
                     os.path.join(ROOT, "build/tests/sandbox/clever-sandbox"))
SPEC = os.environ.get("CLEVER_SPEC", "/work/shared/clever-spec")
VCR = os.path.join(SPEC, "samples/clever_sdk-vcr-v3.0")

# Headers that vary per hop or are envoy internals: not reproduced.
IGNORED_HEADERS = {"date", "etag", "server", "x-envoy-upstream-service-time"}


def express_etag(body):
    """Express's default weak tag: length in hex, 27 chars of base64 SHA-1."""
    digest = base64.b64encode(hashlib.sha1(body).digest()).decode()
    return 'W/"%x-%s"' % (len(body), digest[:27])


class Sandbox:
    def __init__(self, *args, env=None):
        if not os.access(BIN, os.X_OK):
            pytest.skip("no clever-sandbox binary at %s" % BIN)
        self.proc = subprocess.Popen([BIN, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        line = self._ready_line(10)
        fields = dict(f.split("=", 1) for f in line.split()[1:])
        self.api = urllib.parse.urlsplit(fields["api"])
        self.ctl = urllib.parse.urlsplit(fields["control"])
        self.tls_ctx = None

    def _ready_line(self, timeout):
        deadline = time.monotonic() + timeout
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            if not r:
                self.proc.kill()
                raise AssertionError("no ready line")
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                raise AssertionError("sandbox exited: %r" %
                                     self.proc.stderr.read())
            buf += chunk
        line = buf.decode().splitlines()[0]
        assert line.startswith("ready api=")
        return line

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode

    # -- API --
    def conn(self, timeout=10):
        if self.api.scheme == "https":
            return http.client.HTTPSConnection(self.api.hostname,
                                               self.api.port, timeout=timeout,
                                               context=self.tls_ctx)
        return http.client.HTTPConnection(self.api.hostname, self.api.port,
                                          timeout=timeout)

    def get(self, path, token=None, timeout=10, inm=None):
        c = self.conn(timeout)
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        if inm is not None:
            headers["If-None-Match"] = inm
        try:
            c.request("GET", path, headers=headers)
            r = c.getresponse()
            body = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            return r.status, hdrs, body
        finally:
            c.close()

    def json(self, path, token, status=200):
        st, _, body = self.get(path, token)
        assert st == status, (path, st, body)
        return json.loads(body)

    # -- control --
    def control(self, method, path, body=None, status=200):
        c = http.client.HTTPConnection(self.ctl.hostname, self.ctl.port,
                                       timeout=10)
        try:
            data = json.dumps(body) if body is not None else None
            c.request(method, path, body=data)
            r = c.getresponse()
            out = json.loads(r.read())
            assert r.status == status, (path, body, r.status, out)
            return out
        finally:
            c.close()

    def mutate(self, status=200, **op):
        return self.control("POST", "/mutate", op, status)


@pytest.fixture(scope="module")
def sbx():
    s = Sandbox("--teachers", "12", "--seed", "42")
    yield s
    assert s.stop() == 0


@pytest.fixture()
def fresh(sbx):
    sbx.control("POST", "/reset", {})
    return sbx


def district_token(s):
    return s.control("GET", "/districts")[0]["token"]


def teachers(s):
    return s.control("GET", "/teachers")


def all_pages(s, path, token):
    """Follow next links; return (items, pages)."""
    items, pages = [], []
    while path is not None:
        doc = s.json(path, token)
        pages.append(doc)
        items.extend(doc["data"])
        nxt = [l["uri"] for l in doc["links"] if l["rel"] == "next"]
        path = nxt[0] if nxt else None
        assert len(pages) < 1000
    return items, pages


# ---------- recordings ----------

def recordings():
    out = []
    for f in sorted(glob.glob(os.path.join(VCR, "*.yml"))):
        for it in yaml.safe_load(open(f))["http_interactions"]:
            uri = it["request"]["uri"]
            if not uri.startswith("https://api.clever.com/"):
                continue
            body = it["response"]["body"]["string"]
            out.append((os.path.basename(f), uri, it["response"]["headers"],
                        json.loads(body) if body else None))
    return out


def recorded_objects(kind):
    """All recorded data objects of a kind: student, teacher or section."""
    objs = []
    for _, uri, _, doc in recordings():
        if doc is None or "/events" in uri or "/districts" in uri:
            continue
        data = doc.get("data")
        for d in (data if isinstance(data, list) else [{"data": data}]):
            o = d["data"]
            roles = o.get("roles", {})
            if kind == "section" and "students" in o:
                objs.append(o)
            elif kind in roles and "name" in o:
                objs.append(o)
    assert objs, kind
    return objs


def key_union(objs, path=()):
    keys = set()
    for o in objs:
        for p in path:
            o = o.get(p) if isinstance(o, dict) else None
        if isinstance(o, dict):
            keys |= set(o)
    return keys


def recorded(name):
    for f, uri, headers, doc in recordings():
        if f == name:
            return uri, headers, doc
    raise KeyError(name)


# ---------- envelopes and shapes ----------

LEVELS = {
    "student": [(), ("name",), ("roles",), ("roles", "student"),
                ("roles", "student", "credentials"),
                ("roles", "student", "location"),
                ("roles", "student", "ext")],
    "teacher": [(), ("name",), ("roles",), ("roles", "teacher"),
                ("roles", "teacher", "credentials"),
                ("roles", "teacher", "ext")],
    "section": [(), ("ext",)],
}


@pytest.mark.parametrize("kind", ["student", "teacher", "section"])
def test_object_keys_match_recordings(sbx, kind):
    tok = district_token(sbx)
    if kind == "section":
        served = sbx.json("/v3.0/sections?limit=10000", tok)["data"]
    else:
        served = sbx.json("/v3.0/users?role=%s&limit=10000" % kind,
                          tok)["data"]
    served = [d["data"] for d in served]
    rec = recorded_objects(kind)
    for level in LEVELS[kind]:
        assert key_union(served, level) == key_union(rec, level), (kind, level)


def test_single_envelopes_and_links(sbx):
    tok = district_token(sbx)
    _, _, rec_sec = recorded("client_section.yml")
    _, _, rec_user = recorded("client_user.yml")
    t = teachers(sbx)[0]
    sec = sbx.json("/v3.0/sections/" + t["sections"][0], tok)
    assert set(sec) == set(rec_sec) == {"data", "links"}
    assert [l["rel"] for l in sec["links"]] == \
        [l["rel"] for l in rec_sec["links"]]
    sid = t["sections"][0]
    assert sec["links"][0]["uri"] == "/v3.0/sections/" + sid
    student = sec["data"]["students"][0]
    usr = sbx.json("/v3.1/users/" + student, tok)
    assert [l["rel"] for l in usr["links"]] == \
        [l["rel"] for l in rec_user["links"]]
    assert usr["links"][0]["uri"] == "/v3.1/users/" + student
    # Library tokens: the same object, no links.
    lib = sbx.json("/v3.0/sections/" + sid, t["token"])
    assert set(lib) == {"data"}


@pytest.mark.parametrize("rec,path", [
    ("client_user_sections.yml", "/v3.0/users/{student}/sections"),
    ("client_section_users.yml", "/v3.0/sections/{section}/users"),
    ("client_user_mystudents.yml",
     "/v3.0/users/{teacher}/mystudents?limit=1000"),
    ("client_users_with_limit.yml", "/v3.0/users?limit=25"),
    ("client_sections_with_limit.yml", "/v3.0/sections?limit=25"),
])
def test_list_envelopes_match(sbx, rec, path):
    tok = district_token(sbx)
    t = teachers(sbx)[0]
    sec = sbx.json("/v3.0/sections/" + t["sections"][0], tok)["data"]
    path = path.format(student=sec["students"][0], section=sec["id"],
                       teacher=t["id"])
    _, rheaders, rdoc = recorded(rec)
    st, headers, body = sbx.get(path, tok)
    assert st == 200
    doc = json.loads(body)
    assert set(doc) == set(rdoc) == {"data", "links"}
    assert set(doc["data"][0]) == set(rdoc["data"][0]) == {"data", "uri"}
    assert {frozenset(l) for l in doc["links"]} == {frozenset({"rel", "uri"})}
    assert [l["rel"] for l in doc["links"]] == \
        [l["rel"] for l in rdoc["links"]]
    assert doc["links"][0]["uri"] == path
    kind = "sections" if "sections" in rdoc["data"][0]["uri"] else "users"
    for d in doc["data"]:
        assert d["uri"] == "/v3.0/%s/%s" % (kind, d["data"]["id"])
    want = {h for h in rheaders if h not in IGNORED_HEADERS}
    assert want <= set(headers), want - set(headers)
    assert headers["content-type"] == "application/json; charset=utf-8"


def test_me_matches_recording(fresh):
    recs = [doc for f, uri, _, doc in recordings()
            if f == "authentication_sso.yml" and uri.endswith("/me")]
    rec = recs[0]
    t = teachers(fresh)[0]
    lib = fresh.json("/v3.0/me", t["token"])
    assert lib["type"] == "user"
    assert lib["data"] == {"id": t["id"], "type": "teacher",
                           "authorized_by": "teacher"}
    assert [l["rel"] for l in lib["links"]] == ["self", "canonical"]
    # After a district authorization it looks exactly like the recording.
    fresh.mutate(op="set_authorization", token=t["token"],
                 authorized_by="district")
    me = fresh.json("/me", t["token"])
    assert set(me) == set(rec)
    assert set(me["data"]) == set(rec["data"])
    assert me["data"]["authorized_by"] == "district"
    assert me["data"]["district"] == t["district"]
    assert [l["rel"] for l in me["links"]] == \
        [l["rel"] for l in rec["links"]]
    d = fresh.control("GET", "/districts")[0]
    dm = fresh.json("/v3.1/me", d["token"])
    assert dm["data"]["type"] == "district"
    assert dm["data"]["authorized_by"] == "district"
    assert dm["data"]["id"] == d["id"]


def test_errors(sbx):
    tok = district_token(sbx)
    st, h, body = sbx.get("/v3.0/me")
    assert st == 401 and "message" in json.loads(body)
    st, h, body = sbx.get("/v3.0/me", "not-a-token")
    assert st == 401 and "message" in json.loads(body)
    assert "x-ratelimit-limit" in h
    for p in ("/v3.0/nothing", "/v2.0/me", "/v3.0/users/000000000000000000000000",
              "/v3.0/sections/zzz/users", "/v3.0/users/a/b/c"):
        st, h, body = sbx.get(p, tok)
        assert st == 404, p
        assert set(json.loads(body)) == {"message"}
    st, _, body = sbx.get("/v3.0/users?limit=10001", tok)
    assert st == 413
    st, _, _ = sbx.get("/v3.0/users?limit=0", tok)
    assert st == 400


# ---------- data set ----------

def test_generated_mix(sbx):
    tok = district_token(sbx)
    ts = teachers(sbx)
    counts = [len(t["sections"]) for t in ts]
    assert max(counts) >= 40          # the very large teacher
    assert 0 in counts                # a teacher with no sections
    sections = [d["data"] for d in
                sbx.json("/v3.0/sections?limit=10000", tok)["data"]]
    users = {d["data"]["id"]: d["data"] for d in
             sbx.json("/v3.0/users?limit=10000", tok)["data"]}
    cotaught = [s for s in sections if len(s["teachers"]) > 1]
    assert cotaught
    for s in sections:
        assert s["teacher"] == s["teachers"][0]
        assert len(s["id"]) == 24 and int(s["id"], 16) >= 0
    sizes = [len(s["students"]) for s in sections]
    assert any(25 <= n <= 32 for n in sizes)
    subjects = {s.get("subject") for s in sections}
    grades = {s.get("grade") for s in sections}
    assert "math" in subjects or "science" in subjects
    assert subjects & {"Math", "ELA", "Science 7", "Social Studies",
                       "Homeroom", ""}
    assert grades & {"K", "PK", "01", "Grade 3", "9th", "", None}
    names = [u["name"] for u in users.values()]
    assert any(n["middle"] is None for n in names)
    assert any(any(ord(c) > 0x2e80 for c in n["first"] + n["last"])
               for n in names)
    assert any("'" in n["last"] or "'" in n["first"] for n in names)
    assert any("email" not in u for u in users.values())
    # Students in several sections of the same teacher.
    big = max(ts, key=lambda t: len(t["sections"]))
    seen, dup = set(), False
    for sid in big["sections"]:
        sec = next(s for s in sections if s["id"] == sid)
        dup |= bool(seen & set(sec["students"]))
        seen |= set(sec["students"])
    assert dup


def test_deterministic_by_seed():
    a = Sandbox("--teachers", "6", "--seed", "9")
    b = Sandbox("--teachers", "6", "--seed", "9")
    c = Sandbox("--teachers", "6", "--seed", "10")
    try:
        ta, tb, tc = teachers(a), teachers(b), teachers(c)
        assert ta == tb
        assert ta != tc
        p = "/v3.0/users/%s/mystudents" % ta[0]["id"]
        assert a.get(p, ta[0]["token"])[2] == b.get(p, tb[0]["token"])[2]
    finally:
        for s in (a, b, c):
            assert s.stop() == 0


def test_data_file(tmp_path):
    doc = {
        "districts": [{"id": "5" * 24, "name": "Test ISD", "token": "DTOK"}],
        "teachers": [{"id": "a" * 24, "first": "Zoë", "last": "O'Neil",
                      "email": "z@example.org", "token": "TTOK"}],
        "students": [{"id": "b" * 24, "first": "李", "last": "王",
                      "grade": "K"},
                     {"id": "c" * 24, "first": "Ana", "last": "Núñez"}],
        "sections": [{"id": "d" * 24, "name": "Homeroom", "subject": "ELA",
                      "grade": "Grade 3", "teachers": ["a" * 24],
                      "students": ["c" * 24, "b" * 24]}],
    }
    f = tmp_path / "data.json"
    f.write_text(json.dumps(doc, ensure_ascii=False))
    s = Sandbox("--data", str(f))
    try:
        sec = s.json("/v3.0/users/%s/sections" % ("a" * 24), "TTOK")
        assert [d["data"]["id"] for d in sec["data"]] == ["d" * 24]
        assert sec["data"][0]["data"]["students"] == ["b" * 24, "c" * 24]
        stu = s.json("/v3.0/sections/%s/users?role=student" % ("d" * 24),
                     "TTOK")["data"]
        assert [u["data"]["name"] for u in stu] == \
            [{"first": "李", "last": "王"}, {"first": "Ana", "last": "N"}]
        assert s.json("/v3.0/me", "DTOK")["data"]["id"] == "5" * 24
    finally:
        assert s.stop() == 0


# ---------- paging ----------

def test_paging_concatenates(sbx):
    tok = district_token(sbx)
    full = [d["data"]["id"] for d in
            sbx.json("/v3.0/users?limit=10000", tok)["data"]]
    assert full == sorted(full) and len(set(full)) == len(full)
    assert len(full) > 200
    items, pages = all_pages(sbx, "/v3.0/users?limit=7", tok)
    assert [d["data"]["id"] for d in items] == full
    for p in pages[:-1]:
        nxt = [l["uri"] for l in p["links"] if l["rel"] == "next"][0]
        assert nxt.startswith("/v3.0/users?limit=7&starting_after=")
    # Default page size is 100.
    assert len(sbx.json("/v3.0/users", tok)["data"]) == 100
    # prev goes back to the previous page.
    second = pages[1]
    prev = [l["uri"] for l in second["links"] if l["rel"] == "prev"][0]
    assert prev.startswith("/v3.0/users?limit=7&ending_before=")
    assert sbx.json(prev, tok)["data"] == pages[0]["data"]


def test_paging_trailing_empty_page(sbx):
    tok = district_token(sbx)
    t = teachers(sbx)[0]
    sid = t["sections"][0]
    n = len(sbx.json("/v3.0/sections/" + sid, tok)["data"]["students"])
    path = "/v3.0/sections/%s/users?role=student&limit=%d" % (sid, n)
    items, pages = all_pages(sbx, path, tok)
    assert len(items) == n
    assert len(pages) == 2
    assert pages[1]["data"] == []
    assert [l["rel"] for l in pages[1]["links"]] == ["self"]
    nxt = [l["uri"] for l in pages[0]["links"] if l["rel"] == "next"][0]
    assert "role=student" in nxt and "limit=%d" % n in nxt


def test_library_gets_everything_at_once(sbx):
    t = max(teachers(sbx), key=lambda t: len(t["sections"]))
    doc = sbx.json("/v3.0/users/%s/sections?limit=2" % t["id"], t["token"])
    assert len(doc["data"]) == len(t["sections"]) > 2
    assert [l["rel"] for l in doc["links"]] == ["self"]
    ms = sbx.json("/v3.0/users/%s/mystudents?limit=1" % t["id"], t["token"])
    assert len(ms["data"]) > 100


# ---------- Library scoping ----------

def test_library_scoping(fresh):
    sbx = fresh
    ts = teachers(sbx)
    dtok = district_token(sbx)
    a = ts[0]
    mine = set(a["sections"])
    others = [t for t in ts if t["sections"] and not set(t["sections"]) & mine]
    b = others[0]
    a_students = set()
    for sid in a["sections"]:
        a_students |= set(sbx.json("/v3.0/sections/" + sid,
                                   dtok)["data"]["students"])
    b_only = [s for s in sbx.json("/v3.0/sections/" + b["sections"][0],
                                  dtok)["data"]["students"]
              if s not in a_students]
    assert b_only
    tok = a["token"]
    assert sbx.get("/v3.0/users/" + a["id"], tok)[0] == 200
    assert sbx.get("/v3.0/users/" + b["id"], tok)[0] == 404
    assert sbx.get("/v3.0/users/%s/sections" % b["id"], tok)[0] == 404
    assert sbx.get("/v3.0/users/%s/mystudents" % b["id"], tok)[0] == 404
    assert sbx.get("/v3.0/sections/" + b["sections"][0], tok)[0] == 404
    assert sbx.get("/v3.0/sections/%s/users" % b["sections"][0],
                   tok)[0] == 404
    assert sbx.get("/v3.0/users/" + b_only[0], tok)[0] == 404
    # What Library sees of a student: first name, last initial, grade.
    s = sbx.json("/v3.0/users/" + sorted(a_students)[0], tok)["data"]
    full = sbx.json("/v3.0/users/" + sorted(a_students)[0], dtok)["data"]
    assert "district" not in s and "email" not in s
    assert s["name"]["first"] == full["name"]["first"]
    assert s["name"]["last"] == full["name"]["last"][0]
    assert set(s["roles"]["student"]) <= {"grade"}
    sec = sbx.json("/v3.0/sections/" + a["sections"][0], tok)["data"]
    assert not {"school", "district", "sis_id"} & set(sec)


def test_library_token_never_sees_other_teachers(fresh):
    """As Clever: a co-teacher is another teacher, 404 to a Library token."""
    sbx = fresh
    ts = teachers(sbx)
    a = ts[0]
    b = [t for t in ts[1:] if t["sections"]][0]
    sid = a["sections"][0]
    sbx.mutate(op="add_coteacher", section=sid, teacher=b["id"])
    tok = b["token"]
    # b sees the co-taught section and its students ...
    assert sbx.get("/v3.0/sections/" + sid, tok)[0] == 200
    studs = sbx.json("/v3.0/sections/%s/users?role=student" % sid, tok)
    assert studs["data"]
    # ... but not a, a's sections, a's students list, nor a among the users
    assert sbx.get("/v3.0/users/" + a["id"], tok)[0] == 404
    assert sbx.get("/v3.0/users/%s/sections" % a["id"], tok)[0] == 404
    assert sbx.get("/v3.0/users/%s/mystudents" % a["id"], tok)[0] == 404
    users = sbx.json("/v3.0/sections/%s/users" % sid, tok)["data"]
    assert a["id"] not in {u["data"]["id"] for u in users}
    teachers_seen = sbx.json("/v3.0/sections/%s/users?role=teacher" % sid,
                             tok)["data"]
    assert [u["data"]["id"] for u in teachers_seen] == [b["id"]]
    assert a["id"] not in {u["data"]["id"] for u in
                           sbx.json("/v3.0/users", tok)["data"]}


# ---------- rate limit ----------

def test_rate_limit():
    s = Sandbox("--teachers", "2", "--rate-limit", "20")
    try:
        t = teachers(s)
        tok = t[0]["token"]
        first = time.time()
        resets = set()
        for i in range(20):
            st, h, _ = s.get("/v3.0/me", tok)
            assert st == 200
            assert h["x-ratelimit-bucket"] == "bearer"
            assert h["x-ratelimit-limit"] == "20"
            assert h["x-ratelimit-remaining"] == str(19 - i)
            resets.add(int(h["x-ratelimit-reset"]))
        assert len(resets) == 1
        reset = resets.pop()
        assert int(first) + 60 <= reset <= int(time.time()) + 60
        st, h, body = s.get("/v3.0/me", tok)
        assert st == 429 and body == b""
        assert "retry-after" not in h
        assert h["x-ratelimit-remaining"] == "0"
        assert int(h["x-ratelimit-reset"]) == reset
        # Buckets are per token.
        st, h, _ = s.get("/v3.0/me", t[1]["token"])
        assert st == 200 and h["x-ratelimit-remaining"] == "19"
        stats = s.control("GET", "/stats")
        assert stats["rate_limited"] == 1
        assert stats["tokens"]["teacher:" + t[0]["id"]]["rate_limited"] == 1
    finally:
        assert s.stop() == 0


def test_two_buckets():
    s = Sandbox("--teachers", "2", "--rate-limit", "5", "--two-buckets",
                "--app-rate-limit", "7")
    try:
        a, b = [t["token"] for t in teachers(s)[:2]]
        st, h, _ = s.get("/v3.0/me", a)
        assert h["x-ratelimit-bucket"] == "bearer, app"
        assert h["x-ratelimit-limit"] == "5, 7"
        assert h["x-ratelimit-remaining"] == "4, 6"
        assert len(h["x-ratelimit-reset"].split(", ")) == 2
        # The app bucket is shared by every token: b draws from it too.
        st, h, _ = s.get("/v3.0/me", b)
        assert h["x-ratelimit-remaining"] == "4, 5"
        for _ in range(4):
            assert s.get("/v3.0/me", a)[0] == 200
        # a's own bucket is empty: 429 for a, b still gets through
        assert s.get("/v3.0/me", a)[0] == 429
        st, h, _ = s.get("/v3.0/me", b)
        assert st == 200 and h["x-ratelimit-remaining"] == "3, 0"
        # now the shared bucket is empty: b is refused with its own room left
        st, h, body = s.get("/v3.0/me", b)
        assert st == 429 and body == b""
        assert h["x-ratelimit-remaining"] == "3, 0"
        # which bucket was full, per window: a's own once, the app's once
        stats = s.control("GET", "/stats")
        assert stats["app"] == {"windows": 1, "full": 1}
        ta = [v for k, v in stats["tokens"].items()
              if k == "teacher:" + teachers(s)[0]["id"]][0]
        assert ta["bearer"] == {"windows": 1, "full": 1}
    finally:
        assert s.stop() == 0


# ---------- entity tags ----------

def test_express_etag_formula_matches_recording():
    """The formula the sandbox follows, checked on Clever's recorded /me."""
    with open(os.path.join(VCR, "api_me.yml")) as fh:
        rec = yaml.safe_load(fh)["http_interactions"][0]["response"]
    body = rec["body"]["string"].encode()
    assert rec["headers"]["etag"] == ['W/"61-AwqL+qrfGYiYQGkFV/VdyPjPCA8"']
    assert express_etag(body) == rec["headers"]["etag"][0]


def test_etag_on_every_200(fresh):
    t = teachers(fresh)[0]
    for path in ("/v3.0/me", "/v3.0/users/" + t["id"],
                 "/v3.0/users/%s/sections" % t["id"],
                 "/v3.0/users/%s/mystudents" % t["id"]):
        st, h, body = fresh.get(path, t["token"])
        assert st == 200
        assert h["etag"] == express_etag(body), path
    st, h, _ = fresh.get("/v3.0/users/" + "0" * 24, t["token"])
    assert st == 404 and "etag" not in h


def test_if_none_match_304_counted(fresh):
    t = teachers(fresh)[0]
    path = "/v3.0/users/%s/sections" % t["id"]
    st, h, body = fresh.get(path, t["token"])
    tag = h["etag"]
    rem = int(h["x-ratelimit-remaining"])
    st, h, body = fresh.get(path, t["token"], inm=tag)
    assert st == 304 and body == b""
    assert "content-length" not in h and "content-type" not in h
    assert h["etag"] == tag
    # still counted against the window
    assert int(h["x-ratelimit-remaining"]) == rem - 1
    # a list of tags, or "*", matches too; another tag does not
    assert fresh.get(path, t["token"], inm='W/"1-x", ' + tag)[0] == 304
    assert fresh.get(path, t["token"], inm="*")[0] == 304
    st, h, body = fresh.get(path, t["token"], inm='W/"1-x"')
    assert st == 200 and express_etag(body) == tag
    # a change gives a new tag: the old one no longer matches
    fresh.mutate(op="set_subject", section=t["sections"][0], subject="math")
    st, h, body = fresh.get(path, t["token"], inm=tag)
    assert st == 200 and h["etag"] != tag
    stats = fresh.control("GET", "/stats")
    assert stats["not_modified"] == 3
    assert stats["tokens"]["teacher:" + t["id"]]["requests"] == 6


def test_304_is_rate_limited():
    s = Sandbox("--teachers", "2", "--rate-limit", "2")
    try:
        t = teachers(s)[0]
        st, h, _ = s.get("/v3.0/me", t["token"])
        assert s.get("/v3.0/me", t["token"], inm=h["etag"])[0] == 304
        st, h, body = s.get("/v3.0/me", t["token"], inm=h["etag"])
        assert st == 429 and body == b""
    finally:
        assert s.stop() == 0


def test_etag_switch(fresh):
    t = teachers(fresh)[0]
    st, h, _ = fresh.get("/v3.0/me", t["token"])
    tag = h["etag"]
    assert fresh.control("POST", "/faults", {"etag": "ignore"})["etag"] == \
        "ignore"
    st, h, body = fresh.get("/v3.0/me", t["token"], inm=tag)
    assert st == 200 and h["etag"] == tag and body
    fresh.control("POST", "/faults", {"etag": "off"})
    st, h, body = fresh.get("/v3.0/me", t["token"], inm=tag)
    assert st == 200 and "etag" not in h and body
    fresh.control("POST", "/faults", {"etag": "bogus"}, status=400)
    # a reset goes back to the command line's mode (on)
    fresh.control("POST", "/reset", {})
    assert fresh.get("/v3.0/me", t["token"], inm=tag)[0] == 304


def test_etag_off_from_cli():
    s = Sandbox("--teachers", "2", "--etag", "off")
    try:
        t = teachers(s)[0]
        st, h, _ = s.get("/v3.0/me", t["token"])
        assert st == 200 and "etag" not in h
        assert s.get("/v3.0/me", t["token"], inm="*")[0] == 200
    finally:
        assert s.stop() == 0


# ---------- faults ----------

FAULTS = {"500": 0.1, "502": 0.05, "503": 0.1, "429": 0.05,
          "html404": 0.05, "malformed": 0.1}


def outcome_seq(s, tok, path, n):
    out = []
    for _ in range(n):
        st, h, body = s.get(path, tok)
        try:
            json.loads(body) if body else None
            ok = "json" if body else "empty"
        except ValueError:
            ok = "html" if body.startswith(b"<!DOCTYPE") else "bad"
        out.append((st, ok))
    return out


def test_faults_reproducible(fresh):
    t = teachers(fresh)[0]
    path = "/v3.0/users/%s/sections" % t["id"]
    fresh.control("POST", "/faults", {"seed": 1234, "rates": FAULTS})
    a = outcome_seq(fresh, t["token"], path, 80)
    fresh.control("POST", "/faults", {"seed": 1234, "rates": FAULTS})
    b = outcome_seq(fresh, t["token"], path, 80)
    assert a == b
    kinds = set(a)
    assert (200, "json") in kinds and (500, "json") in kinds
    assert (503, "bad") in kinds and (200, "bad") in kinds
    assert (404, "html") in kinds and (429, "empty") in kinds
    fresh.control("POST", "/faults", {"seed": 999, "rates": FAULTS})
    assert outcome_seq(fresh, t["token"], path, 80) != a
    st = fresh.control("GET", "/stats")
    assert sum(st["faults"].values()) > 0
    fresh.control("POST", "/faults", {"rates": {}})


def test_faults_from_cli_reproducible():
    args = ["--teachers", "3", "--fault-seed", "77", "--fault", "500=0.2",
            "--fault", "malformed=0.2"]
    runs = []
    for _ in range(2):
        s = Sandbox(*args)
        try:
            t = teachers(s)[0]
            runs.append(outcome_seq(s, t["token"], "/v3.0/me", 40))
        finally:
            assert s.stop() == 0
    assert runs[0] == runs[1]
    assert len(set(runs[0])) == 3


def test_connection_faults(fresh):
    t = teachers(fresh)[0]
    path = "/v3.0/users/%s/sections" % t["id"]
    fresh.control("POST", "/faults", {"rates": {"truncated": 1}})
    with pytest.raises(http.client.IncompleteRead):
        fresh.get(path, t["token"])
    fresh.control("POST", "/faults", {"rates": {"reset": 1}})
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        fresh.get(path, t["token"])
    fresh.control("POST", "/faults", {"rates": {"stall": 1}})
    with pytest.raises(socket.timeout):
        fresh.get(path, t["token"], timeout=0.3)
    assert fresh.control("GET", "/stats")["pending"] >= 1
    fresh.control("POST", "/faults", {"rates": {}, "latency_ms": 150})
    t0 = time.monotonic()
    assert fresh.get(path, t["token"])[0] == 200
    assert time.monotonic() - t0 >= 0.15
    fresh.control("POST", "/faults", {"rates": {}, "latency_ms": 0})
    st = fresh.control("GET", "/stats")["faults"]
    assert st["truncated"] == st["reset"] == st["stall"] == 1


def test_latency_many_waiting():
    s = Sandbox("--teachers", "2", "--latency-ms", "300")
    try:
        tok = teachers(s)[0]["token"]
        socks = []
        t0 = time.monotonic()
        for _ in range(200):
            c = s.conn()
            c.request("GET", "/v3.0/me",
                      headers={"Authorization": "Bearer " + tok})
            socks.append(c)
        for c in socks:
            r = c.getresponse()
            assert r.status == 200
            r.read()
            c.close()
        # Timers, not a queue: 200 waits overlap.
        assert 0.3 <= time.monotonic() - t0 < 3
    finally:
        assert s.stop() == 0


# ---------- mutations ----------

def section(s, sid, tok):
    return s.json("/v3.0/sections/" + sid, tok)["data"]


def test_mutations(fresh):
    s = fresh
    ts = teachers(s)
    dtok = district_token(s)
    a, b = ts[0], ts[1]
    sid = a["sections"][0]
    tok = a["token"]

    r = s.mutate(op="add_student", section=sid, first="Nuevo", last="Ñandú")
    new = r["id"]
    assert new in section(s, sid, tok)["students"]
    u = s.json("/v3.0/users/" + new, tok)["data"]
    assert u["name"] == {"first": "Nuevo", "last": "Ñ"}
    other = section(s, a["sections"][1], tok)["students"]
    moved = [x for x in other if x not in section(s, sid, tok)["students"]][0]
    s.mutate(op="add_student", section=sid, student=moved)
    assert moved in section(s, sid, tok)["students"]
    s.mutate(status=400, op="add_student", section=sid, student=moved)

    s.mutate(op="remove_student", section=sid, student=new)
    assert new not in section(s, sid, tok)["students"]
    assert s.get("/v3.0/users/" + new, tok)[0] == 404
    s.mutate(status=404, op="remove_student", section=sid, student=new)

    victim = section(s, sid, tok)["students"][0]
    before = s.json("/v3.0/users/" + victim, dtok)["data"]
    s.mutate(op="rename_user", user=victim, first="Renamed", middle=None)
    after = s.json("/v3.0/users/" + victim, dtok)["data"]
    assert after["name"]["first"] == "Renamed"
    assert after["name"]["middle"] is None
    assert after["last_modified"] != before["last_modified"]

    s.mutate(op="set_grade", user=victim, grade="PostGraduate")
    assert s.json("/v3.0/users/" + victim,
                  tok)["data"]["roles"]["student"]["grade"] == "PostGraduate"
    s.mutate(op="set_grade", section=sid, grade="Kindergarten")
    assert section(s, sid, tok)["grade"] == "Kindergarten"
    s.mutate(op="set_subject", section=sid, subject="arts and music")
    assert section(s, sid, tok)["subject"] == "arts and music"

    s.mutate(op="set_email", user=a["id"], email="new@example.org")
    assert s.json("/v3.0/users/" + a["id"], tok)["data"]["email"] == \
        "new@example.org"

    r = s.mutate(op="add_section", teacher=a["id"], name="Extra",
                 subject="math", grade="10", students=[victim])
    nsid = r["id"]
    secs = [d["data"] for d in
            s.json("/v3.0/users/%s/sections" % a["id"], tok)["data"]]
    ns = [x for x in secs if x["id"] == nsid][0]
    assert ns["name"] == "Extra" and ns["students"] == [victim]
    assert ns["teacher"] == a["id"] and ns["teachers"] == [a["id"]]
    assert [x["id"] for x in secs] == sorted(x["id"] for x in secs)

    assert s.get("/v3.0/sections/" + nsid, b["token"])[0] == 404
    s.mutate(op="add_coteacher", section=nsid, teacher=b["id"])
    co = s.json("/v3.0/sections/" + nsid, b["token"])["data"]
    assert co["teachers"] == [a["id"], b["id"]] and co["teacher"] == a["id"]
    assert nsid in [d["data"]["id"] for d in s.json(
        "/v3.0/users/%s/sections" % b["id"], b["token"])["data"]]

    s.mutate(op="delete_section", section=nsid)
    assert s.get("/v3.0/sections/" + nsid, tok)[0] == 404
    assert nsid not in [d["data"]["id"] for d in s.json(
        "/v3.0/users/%s/sections" % a["id"], tok)["data"]]

    s.mutate(op="revoke_token", token=b["token"])
    st, _, body = s.get("/v3.0/me", b["token"])
    assert st == 401 and "message" in json.loads(body)

    s.mutate(status=400, op="no_such_op")
    s.mutate(status=404, op="set_subject", section="f" * 24, subject="math")
    s.mutate(status=400, op="set_authorization", token=dtok,
             authorized_by="district")
    s.control("POST", "/reset", {})
    assert s.get("/v3.0/me", b["token"])[0] == 200
    assert s.json("/v3.0/users/" + a["id"], tok)["data"]["email"] == \
        a["email"]


def test_set_authorization_full_view(fresh):
    t = teachers(fresh)[0]
    sid = t["sections"][0]
    lib = fresh.json("/v3.0/sections/" + sid, t["token"])["data"]
    assert "district" not in lib
    fresh.mutate(op="set_authorization", token=t["token"],
                 authorized_by="district")
    full = fresh.json("/v3.0/sections/" + sid, t["token"])["data"]
    assert full["district"] == t["district"]
    assert fresh.json("/me", t["token"])["data"]["district"] == t["district"]


# ---------- stats ----------

def test_stats_never_show_tokens(fresh):
    t = teachers(fresh)[0]
    for _ in range(3):
        fresh.get("/v3.0/users/%s/sections" % t["id"], t["token"])
    fresh.get("/v3.0/me", t["token"])
    st = fresh.control("GET", "/stats")
    assert st["paths"]["/users/{id}/sections"] == 3
    assert st["paths"]["/me"] == 1
    assert st["tokens"]["teacher:" + t["id"]]["requests"] == 4
    assert st["connections"] >= 4
    assert t["token"] not in json.dumps(st)


# ---------- TLS ----------

def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_tls():
    with tempfile.TemporaryDirectory() as d:
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                "2", "-subj", "/CN=sandbox test CA", "-keyout", "ca.key",
                "-out", "ca.pem", cwd=d)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj",
                "/CN=127.0.0.1", "-keyout", "srv.key", "-out", "srv.csr",
                cwd=d)
        with open(os.path.join(d, "ext.cnf"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey",
                "ca.key", "-CAcreateserial", "-days", "2", "-extfile",
                "ext.cnf", "-out", "srv.pem", cwd=d)
        s = Sandbox("--teachers", "2", "--tls-cert",
                    os.path.join(d, "srv.pem"), "--tls-key",
                    os.path.join(d, "srv.key"))
        try:
            assert s.api.scheme == "https"
            assert s.ctl.scheme == "http"
            s.tls_ctx = ssl.create_default_context(
                cafile=os.path.join(d, "ca.pem"))
            t = teachers(s)[0]
            me = s.json("/v3.0/me", t["token"])
            assert me["data"]["id"] == t["id"]
            # An untrusted client refuses the certificate.
            s.tls_ctx = ssl.create_default_context()
            with pytest.raises(ssl.SSLError):
                s.get("/v3.0/me", t["token"])
        finally:
            assert s.stop() == 0


def test_hostile_responses_per_token_and_route(fresh):
    t, good = teachers(fresh)[0], teachers(fresh)[1]
    mine = "/v3.0/users/%s/mystudents" % t["id"]
    fresh.control("POST", "/hostile", {"token": t["token"], "kind": "huge",
                                       "route": "/users/{id}/mystudents",
                                       "bytes": 3000000})
    st, hdrs, body = fresh.get(mine, t["token"])
    assert st == 200 and "content-length" not in hdrs
    assert "transfer-encoding" not in hdrs, "delimited by the close only"
    assert len(body) == 3000000 and body.startswith(b'{"data":[{"data":')
    # other routes of the token, and other tokens, are normal
    assert fresh.get("/v3.0/users/%s" % t["id"], t["token"])[0] == 200
    fresh.json("/v3.0/users/%s/mystudents" % good["id"], good["token"])
    fresh.control("POST", "/hostile", {"token": t["token"], "kind": "deep"})
    st, _, body = fresh.get("/v3.0/users/%s" % t["id"], t["token"])
    assert st == 200 and body == b"[" * 100000 + b"]" * 100000
    fresh.control("POST", "/hostile", {"token": t["token"], "kind": "badutf8"})
    st, _, body = fresh.get("/v3.0/users/%s" % t["id"], t["token"])
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert b'"first":"\xff\xfe' in body
    fresh.control("POST", "/hostile", {"token": t["token"], "kind": "dribble",
                                       "interval_ms": 5})
    t0 = time.monotonic()
    st, _, body = fresh.get("/v3.0/users/%s" % t["id"], t["token"])
    assert st == 200 and json.loads(body)["data"]["id"] == t["id"]
    assert time.monotonic() - t0 >= len(body) * 0.005
    c = fresh.conn(timeout=0.3)          # a dribble in flight is counted
    c.request("GET", "/v3.0/users/%s" % t["id"],
              headers={"Authorization": "Bearer " + t["token"]})
    assert fresh.control("GET", "/stats")["hostile_active"] == 1
    c.close()
    fresh.control("POST", "/hostile", {"token": t["token"], "kind": "none"})
    fresh.json("/v3.0/users/%s" % t["id"], t["token"])
    st = fresh.control("GET", "/stats")["hostile"]
    assert st == {"huge": 1, "dribble": 2, "deep": 1, "badutf8": 1}
    fresh.control("POST", "/hostile", {"kind": "huge"}, status=400)


# ---------- events ----------

def events(s, tok, query=""):
    """Every event the token can page through now, oldest first."""
    items, _ = all_pages(s, "/v3.0/events" + query, tok)
    return [d["data"] for d in items]


def the_event(s, tok, after):
    """The events recorded since the event id `after` (None: all)."""
    return events(s, tok, "" if after is None else "?starting_after=" + after)


def test_events_envelope_and_paging(fresh):
    s = fresh
    tok = district_token(s)
    a = teachers(s)[0]
    doc = s.json("/v3.0/events", tok)
    assert doc == {"links": [{"rel": "self", "uri": "/v3.0/events?"}],
                   "data": []}
    for i in range(7):
        s.mutate(op="rename_user", user=a["id"], first="N%d" % i)
    items, pages = all_pages(s, "/v3.0/events?limit=3", tok)
    ids = [d["data"]["id"] for d in items]
    assert len(ids) == 7 and ids == sorted(ids) and len(set(ids)) == 7
    assert all(len(i) == 24 and int(i, 16) >= 0 for i in ids)
    for d in items:
        assert d["uri"] == "/v3.0/events/" + d["data"]["id"]
        assert sorted(d["data"]) == ["created", "data", "id", "type"]
    # 3 + 3 + 1: the short last page has no next link.
    assert [len(p["data"]) for p in pages] == [3, 3, 1]
    assert pages[0]["links"] == [
        {"rel": "self", "uri": "/v3.0/events?limit=3"},
        {"rel": "next", "uri": "/v3.0/events?limit=3&starting_after=" +
         ids[2]}]
    assert pages[1]["links"] == [
        {"rel": "self", "uri": "/v3.0/events?limit=3&starting_after=" +
         ids[2]},
        {"rel": "prev", "uri": "/v3.0/events?limit=3&ending_before=" +
         ids[3]},
        {"rel": "next", "uri": "/v3.0/events?limit=3&starting_after=" +
         ids[5]}]
    assert [d["data"]["id"] for d in s.json(
        "/v3.0/events?limit=3&ending_before=" + ids[3], tok)["data"]] == \
        ids[:3]
    # After the newest event: an empty page, as a poller sees it.
    doc = s.json("/v3.1/events?starting_after=" + ids[-1], tok)
    assert doc["data"] == [] and [l["rel"] for l in doc["links"]] == \
        ["self"]
    # v3.1 serves the same events; one event by id.
    assert [e["id"] for e in events(s, tok)] == ids
    one = s.json("/v3.1/events/" + ids[0], tok)
    assert one["data"] == items[0]["data"]
    assert s.control("GET", "/events")["count"] == 7


def test_events_not_for_teacher_tokens(fresh):
    s = fresh
    t = teachers(s)[0]
    s.mutate(op="rename_user", user=t["id"], first="Zed")
    st, _, body = s.get("/v3.0/events", t["token"])
    assert st == 404 and json.loads(body) == {"message": "Resource not found"}
    s.mutate(op="set_authorization", token=t["token"],
             authorized_by="district")
    assert s.get("/v3.0/events", t["token"])[0] == 404


def test_events_per_district():
    s = Sandbox("--teachers", "6", "--districts", "2", "--seed", "3")
    try:
        ds = s.control("GET", "/districts")
        ts = teachers(s)
        for t in ts:
            s.mutate(op="rename_user", user=t["id"], first="E" + t["id"])
        for d in ds:
            evs = events(s, d["token"])
            mine = sorted(t["id"] for t in ts if t["district"] == d["id"])
            assert sorted(e["data"]["object"]["id"] for e in evs) == mine
            assert all(e["data"]["object"]["district"] == d["id"]
                       for e in evs)
            got = s.control("GET", "/events?district=" + d["id"])
            assert got["count"] == len(mine)
            assert got["events"] == evs
    finally:
        assert s.stop() == 0


def one_new(s, tok, after, types):
    evs = the_event(s, tok, after)
    assert [e["type"] for e in evs] == types, evs
    return evs


def test_event_per_mutation(fresh):
    s = fresh
    tok = district_token(s)
    ts = teachers(s)
    a, b = ts[0], ts[1]
    sid, sid2 = a["sections"][0], a["sections"][1]
    sec = section(s, sid, tok)
    mark = None

    # rename: users.updated, previous_attributes.name (changed parts only)
    victim = sec["students"][0]
    old = s.json("/v3.0/users/" + victim, tok)["data"]
    s.mutate(op="rename_user", user=victim, first="Renamed")
    e, = one_new(s, tok, mark, ["users.updated"])
    assert e["data"]["object"] == s.json("/v3.0/users/" + victim,
                                         tok)["data"]
    assert e["data"]["previous_attributes"] == \
        {"name": {"first": old["name"]["first"]}}
    mark = e["id"]
    s.mutate(op="rename_user", user=victim, first="Renamed")  # no change
    one_new(s, tok, mark, [])

    # add an enrolled student elsewhere: sections.updated, old students
    newcomer = [x for x in section(s, sid2, tok)["students"]
                if x not in sec["students"]][0]
    s.mutate(op="add_student", section=sid, student=newcomer)
    e, = one_new(s, tok, mark, ["sections.updated"])
    assert e["data"]["object"]["id"] == sid
    assert newcomer in e["data"]["object"]["students"]
    assert e["data"]["previous_attributes"] == {"students": sec["students"]}
    mark = e["id"]

    # a new student: users.created, then sections.updated
    r = s.mutate(op="add_student", section=sid, first="Nuevo")
    c, u = one_new(s, tok, mark, ["users.created", "sections.updated"])
    assert c["data"]["object"]["id"] == r["id"]
    assert "previous_attributes" not in c["data"]
    assert r["id"] not in u["data"]["previous_attributes"]["students"]
    mark = u["id"]

    # remove
    s.mutate(op="remove_student", section=sid, student=r["id"])
    e, = one_new(s, tok, mark, ["sections.updated"])
    assert r["id"] in e["data"]["previous_attributes"]["students"]
    assert r["id"] not in e["data"]["object"]["students"]
    mark = e["id"]

    # move between sections: two sections.updated, from then to
    before_from = section(s, sid, tok)["students"]
    before_to = section(s, sid2, tok)["students"]
    mover = [x for x in before_from if x not in before_to][0]
    s.mutate(op="move_student", student=mover, **{"from": sid, "to": sid2})
    f, t = one_new(s, tok, mark, ["sections.updated", "sections.updated"])
    assert f["data"]["object"]["id"] == sid and \
        f["data"]["previous_attributes"] == {"students": before_from}
    assert t["data"]["object"]["id"] == sid2 and \
        t["data"]["previous_attributes"] == {"students": before_to}
    assert mover in t["data"]["object"]["students"]
    mark = t["id"]

    # grades, subject, email
    g_old = s.json("/v3.0/users/" + victim, tok)["data"]["roles"][
        "student"].get("grade")
    s.mutate(op="set_grade", user=victim, grade="PostGraduate")
    e, = one_new(s, tok, mark, ["users.updated"])
    assert e["data"]["previous_attributes"] == \
        {"roles": {"student": {"grade": g_old}}}
    mark = e["id"]
    sg_old = section(s, sid, tok).get("grade")
    s.mutate(op="set_grade", section=sid, grade="Kindergarten")
    e, = one_new(s, tok, mark, ["sections.updated"])
    assert e["data"]["previous_attributes"] == {"grade": sg_old}
    mark = e["id"]
    subj = section(s, sid, tok)["subject"]
    s.mutate(op="set_subject", section=sid, subject="arts and music")
    e, = one_new(s, tok, mark, ["sections.updated"])
    assert e["data"]["previous_attributes"] == {"subject": subj}
    mark = e["id"]
    s.mutate(op="set_email", user=a["id"], email="new@example.org")
    e, = one_new(s, tok, mark, ["users.updated"])
    assert e["data"]["previous_attributes"] == {"email": a["email"]}
    assert e["data"]["object"]["email"] == "new@example.org"
    mark = e["id"]

    # co-teacher: sections.updated, old teachers
    s.mutate(op="add_coteacher", section=sid, teacher=b["id"])
    e, = one_new(s, tok, mark, ["sections.updated"])
    assert e["data"]["previous_attributes"] == {"teachers": [a["id"]]}
    assert e["data"]["object"]["teachers"] == [a["id"], b["id"]]
    mark = e["id"]

    # add and delete a section
    r = s.mutate(op="add_section", teacher=a["id"], students=[victim])
    e, = one_new(s, tok, mark, ["sections.created"])
    assert e["data"]["object"]["id"] == r["id"]
    assert e["data"]["object"]["students"] == [victim]
    mark = e["id"]
    s.mutate(op="delete_section", section=r["id"])
    e, = one_new(s, tok, mark, ["sections.deleted"])
    assert e["data"]["object"]["id"] == r["id"]
    assert e["data"]["object"]["teachers"] == [a["id"]]
    mark = e["id"]

    # delete a student: out of each section, then users.deleted
    secs = [d["data"]["id"] for d in s.json(
        "/v3.0/users/%s/sections" % victim, tok)["data"]]
    s.mutate(op="delete_user", user=victim)
    evs = one_new(s, tok, mark, ["sections.updated"] * len(secs) +
                  ["users.deleted"])
    assert sorted(e["data"]["object"]["id"] for e in evs[:-1]) == secs
    assert evs[-1]["data"]["object"]["id"] == victim
    assert s.get("/v3.0/users/" + victim, tok)[0] == 404
    assert victim not in [d["data"]["id"] for d in
                          s.json("/v3.0/users?limit=10000", tok)["data"]]
    s.mutate(status=404, op="delete_user", user=victim)
    s.mutate(status=404, op="delete_user", user=a["id"])


def test_events_30_day_window(fresh):
    s = fresh
    tok = district_token(s)
    a = teachers(s)[0]
    s.mutate(op="rename_user", user=a["id"], first="Old")
    old, = events(s, tok)
    clock = s.control("GET", "/clock")
    assert clock["offset_s"] == 0
    moved = s.control("POST", "/clock", {"advance_s": 20 * 86400})
    assert moved["offset_s"] == 20 * 86400
    assert moved["now"] >= clock["now"] + 20 * 86400
    s.mutate(op="rename_user", user=a["id"], first="Newer")
    newer = events(s, tok)[-1]
    assert newer["id"] > old["id"]
    assert newer["created"] > old["created"]
    # 20 + 11 days: the first event is older than 30 days, gone for good.
    s.control("POST", "/clock", {"advance_s": 11 * 86400})
    assert [e["id"] for e in events(s, tok)] == [newer["id"]]
    st, _, body = s.get("/v3.0/events?starting_after=" + old["id"], tok)
    assert st == 404
    assert json.loads(body) == {
        "message": "Event not found: unknown, or older than 30 days"}
    assert s.get("/v3.0/events?starting_after=" + "f" * 24, tok)[0] == 404
    assert s.get("/v3.0/events?ending_before=" + old["id"], tok)[0] == 404
    assert s.get("/v3.0/events/" + old["id"], tok)[0] == 404
    assert s.json("/v3.0/events?starting_after=" + newer["id"],
                  tok)["data"] == []
    assert s.control("GET", "/events")["count"] == 1
    s.control("POST", "/clock", {"advance_s": -1}, status=400)
    s.control("POST", "/clock", {"advance_s": "1"}, status=400)
    # reset: the generated data, no events, the real clock again
    s.control("POST", "/reset", {})
    assert s.control("GET", "/clock")["offset_s"] == 0
    assert events(s, tok) == []
