"""The reference consumer (consumer/rosterd_consumer.py) against a real
PostgreSQL, a real redis-server, the sandbox and rosterd: whatever happens
on the way (changes, a selection, a held change, a forget, a crash between
commit and acknowledgement, lost diffs, several workers), PostgreSQL ends
equal to every snapshot.

PostgreSQL is Debian's (postgresql-15), started by the test on a loopback
port in a temp dir it owns; as root it runs as the postgres user (it
refuses root).  Without it, or without python3-psycopg2, the tests skip."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import pytest

from conftest import Proc, SLOW, TOP, free_port, roster_records, wait_for
from test_held import hold_one

sys.path.insert(0, os.path.join(TOP, "consumer"))
try:
    import psycopg2
    import rosterd_consumer as rc
except ImportError as e:
    psycopg2 = rc = None
    IMPORT_ERROR = str(e)

PG_BIN = "/usr/lib/postgresql/15/bin"
CONSUMER = os.path.join(TOP, "consumer", "rosterd_consumer.py")
GROUP = "myapp"


class Postgres:
    """A PostgreSQL server of the test's own (initdb in a temp dir, trust
    authentication on 127.0.0.1 only), run as the postgres user when the
    test runs as root."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="rosterd-pg-")
        as_pg = []
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            as_pg = ["setpriv", "--reuid=postgres", "--regid=postgres",
                     "--init-groups", "--"]
        data = os.path.join(self.dir, "data")
        out = subprocess.run(as_pg + [
            PG_BIN + "/initdb", "-D", data, "-A", "trust", "-U", "postgres",
            "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"],
            capture_output=True, text=True, timeout=120 * SLOW)
        assert out.returncode == 0, out.stdout + out.stderr
        self.port = free_port()
        self.proc = Proc(as_pg + [
            PG_BIN + "/postgres", "-D", data, "-k", self.dir,
            "-h", "127.0.0.1", "-p", str(self.port), "-c", "fsync=off"],
            "postgres")
        self.proc.wait_line(r"ready to accept connections", timeout=60)
        self.dsn = ("host=127.0.0.1 port=%d user=postgres dbname=postgres" %
                    self.port)

    def connect(self):
        return psycopg2.connect(self.dsn)

    def stop(self):
        self.proc.stop(signal.SIGINT)   # fast shutdown: clients or not
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def pg():
    if rc is None:
        pytest.skip("python3-psycopg2 missing (%s)" % IMPORT_ERROR)
    if not os.path.exists(PG_BIN + "/initdb"):
        pytest.skip("PostgreSQL 15 missing (%s/initdb)" % PG_BIN)
    server = Postgres()
    try:
        yield server
    finally:
        server.stop()


# ---- PostgreSQL equals the snapshots ----

def canon(v):
    return json.dumps(v, sort_keys=True)


def expected_rows(text):
    """What the tables must hold for a snapshot's roster (None: none)."""
    if text is None:
        return {}
    r = roster_records(text)
    t = r["teacher"]
    return {
        "rosters": {(r["fields"], r["authorized_by"], r["district"])},
        "teachers": {(t["id"], t["first"], t.get("middle"), t["last"],
                      t.get("email"), t["grade"], canon(t.get("extra")))}
        if t else set(),
        "sections": {(s["id"], s["name"], s["section_number"], s["subject"],
                      s["grade"], canon(s["teachers"]), canon(s.get("extra")))
                     for s in r["sections"]},
        "students": {(s["id"], s["first"], s["last"], s["grade"],
                      canon(s.get("extra"))) for s in r["students"]},
        "enrollments": {(s["id"], u) for s in r["sections"]
                        for u in s["students"]},
    }


QUERIES = {
    "rosters": "SELECT fields, authorized_by, district FROM rosters",
    "teachers": "SELECT id, first, middle, last, email, grade, extra "
                "FROM teachers",
    "sections": "SELECT id, name, section_number, subject, grade, teachers, "
                "extra FROM sections",
    "students": "SELECT id, first, last, grade, extra FROM students",
    "enrollments": "SELECT section, student FROM enrollments",
}
JSON_AT = {"teachers": (6,), "sections": (5, 6), "students": (4,)}


def pg_rows(conn, owner):
    out = {}
    with conn, conn.cursor() as cur:
        for table, q in QUERIES.items():
            cur.execute(q + " WHERE owner = %s", (owner,))
            rows = {tuple(canon(v) if i in JSON_AT.get(table, ()) else v
                          for i, v in enumerate(row))
                    for row in cur.fetchall()}
            if rows:
                out[table] = rows
    return out


def owners(conn):
    with conn, conn.cursor() as cur:
        cur.execute(" UNION ".join("SELECT owner FROM %s" % t
                                   for t in rc.TABLES))
        return {o for (o,) in cur.fetchall()}


def assert_equals_snapshots(env, conn, teachers):
    """Every teacher's rows are its snapshot's; no other owner has rows."""
    for t in teachers:
        snap = env.snapshot(t)
        want = expected_rows(snap.get("roster"))
        want = {k: v for k, v in want.items() if v}
        assert pg_rows(conn, t) == want, t
        if snap and "hash" in snap:
            with conn, conn.cursor() as cur:
                cur.execute("SELECT hash FROM rosters WHERE owner = %s", (t,))
                assert cur.fetchone() == (snap["hash"],), t
    assert owners(conn) <= set(teachers)


# ---- what works with any contract version: applying, reloading ----

def sync_all(env, ids, **job):
    ps = env.subscribe()
    try:
        jobs = [env.enqueue(t, **job) for t in ids]
        for st in env.wait_jobs(ps, jobs, timeout=60).values():
            assert st["state"] == "done", st
    finally:
        ps.close()


def change_rosters(sbx, ts):
    """A change of each kind in the teachers' rosters."""
    a, b, c = ts[:3]
    sbx.mutate(op="rename_user", user=a["id"], first="Zebedee")
    sbx.mutate(op="add_student", section=a["sections"][0])
    sbx.mutate(op="set_subject", section=b["sections"][0], subject="Biology")
    sbx.mutate(op="set_grade", section=b["sections"][-1], grade="7th")
    sbx.mutate(op="delete_section", section=c["sections"][-1])
    sbx.mutate(op="add_section", teacher=c["id"], name="Robotics Club")


def test_diffs_applied_in_one_transaction_each_equal_the_snapshots(env, pg):
    """Each teacher's diffs applied in order from nothing (apply_diff), and
    each snapshot loaded (load_snapshot), give the snapshot's rows; a
    forgotten teacher's final diff leaves no row."""
    sbx = env.start_sandbox("--teachers", 8, "--seed", 4)
    env.start_rosterd()
    ts = [t for t in sbx.teachers() if t["sections"]][:5]
    ids = [t["id"] for t in ts]
    for t in ts:
        env.store_token(t["id"], t["token"])
    sync_all(env, ids)
    change_rosters(sbx, ts)
    env.r.set("rosterd:selection:{%s}" % ids[3], ts[3]["sections"][0])
    sync_all(env, ids)
    _, st = env.run(ids[4], kind="forget")
    assert st["result"] == "forgotten", st
    conn = pg.connect()
    rc.create_schema(conn)
    rc.create_schema(conn)              # again: nothing to do
    for t in ids:
        for d in env.diffs(t):
            with conn, conn.cursor() as cur:
                if d.get("forgotten") == "1":
                    rc.forget(cur, t)
                else:
                    rc.apply_diff(cur, t, d["diff"])
                    # as handle_entry records what the rows now are
                    rc.set_roster(cur, t, hash=d["hash"], diff_id=d["id"],
                                  version=int(d["version"]))
    assert_equals_snapshots(env, conn, ids)
    assert not pg_rows(conn, ids[4])
    # a diff that does not fit the rows: nothing of it stays
    first = env.diffs(ids[0])[0]["diff"]
    before = pg_rows(conn, ids[0])
    with pytest.raises(rc.Divergence):
        with conn, conn.cursor() as cur:
            rc.apply_diff(cur, ids[0], first)
    assert pg_rows(conn, ids[0]) == before
    # the snapshots, loaded over whatever was there
    with conn, conn.cursor() as cur:
        cur.execute("DELETE FROM sections WHERE owner = %s", (ids[1],))
        cur.execute("INSERT INTO students (owner, id, first, last, grade) "
                    "VALUES (%s, 'stray', 'A', 'B', '')", (ids[1],))
        for t in ids:
            rc.load_snapshot(cur, env.r, t)
    assert_equals_snapshots(env, conn, ids)
    conn.close()


def test_a_new_group_starts_from_the_snapshots(env, pg):
    """A worker of a new group loads every teacher from the snapshots
    before reading the stream (it may have kept none of a teacher's
    diffs); the diffs still there are then older than what it holds.  A
    diffs_lost field for its group makes it reload the same way."""
    sbx = env.start_sandbox("--teachers", 6, "--seed", 8)
    env.start_rosterd()
    ids = [t["id"] for t in sbx.teachers()]
    for t in sbx.teachers():
        env.store_token(t["id"], t["token"])
    sync_all(env, ids)
    change_rosters(sbx, [t for t in sbx.teachers() if t["sections"]])
    sync_all(env, ids)
    conn = pg.connect()
    rc.create_schema(conn)
    lines = []
    w = rc.Worker(env.r, conn, GROUP, 0, 1, log=lines.append)
    assert w.n == 1 and w.mine == [0]
    assert_equals_snapshots(env, conn, ids)
    assert w.read({"rosterd:diffs": ">"}, None) == len(env.diffs())
    assert lines and all(l.endswith(" skipped") for l in lines), lines
    # the rows went wrong, and the group lost diffs: all reloaded
    with conn, conn.cursor() as cur:
        cur.execute("DELETE FROM students WHERE owner = %s", (ids[0],))
        cur.execute("INSERT INTO rosters (owner) VALUES ('gone')")
    env.r.hset("rosterd:diffs_lost", GROUP, "0-1")
    w.recover_lost()
    assert not env.r.hexists("rosterd:diffs_lost", GROUP)
    assert_equals_snapshots(env, conn, ids)
    conn.close()


def test_held_change_shown_and_confirmed(env):
    """held_changes lists the held change with its counts; confirm_held
    queues the forced sync that applies it, and the change is answered."""
    if rc is None:
        pytest.skip("python3-psycopg2 missing (%s)" % IMPORT_ERROR)
    sbx = env.start_sandbox("--teachers", 6, "--seed", 2)
    env.start_rosterd()
    t = [t for t in sbx.teachers() if t["sections"]][0]
    jid, gone = hold_one(env, sbx, t)
    [h] = rc.held_changes(env.r)
    assert h["teacher"] == t["id"] and h["job"] == jid, h
    assert h["enrollments_removed"] == gone and h["removed"] >= gone, h
    assert "students" in h["message"], h
    st = rc.wait_job(env.r, rc.confirm_held(env.r, t["id"]), 30 * SLOW)
    assert st["state"] == "done" and st["result"] == "changed", st
    assert st["enrollments_removed"] == str(gone), st
    assert rc.held_changes(env.r) == []


def test_the_rule(pg):
    """Not after what the rows include: skip; forgotten: forget; base is
    mine: apply; new is mine: a redelivery; else reload."""
    d = rc.decide
    f = {"base_hash": "a", "hash": "b"}
    assert d(dict(f, forgotten="1"), "10-0", "z", "9-0") == "forget"
    assert d(dict(f, forgotten="1"), "5-0", "z", "9-0") == "skip"
    assert d(f, "5-0", "a", "6-0") == "skip"
    assert d(f, "7-0", "a", "6-0") == "apply"
    assert d(f, "7-0", "b", "6-0") == "skip"
    assert d(f, "7-0", "c", "6-0") == "reload"
    assert d({"base_hash": "", "hash": "b"}, "1-0", "", "") == "apply"
    assert rc.id_key("10-1") > rc.id_key("9-3") > rc.id_key("")
    assert rc.partition_of("58da8c63d7dc0ca068000478", 4) == \
        __import__("zlib").crc32(b"58da8c63d7dc0ca068000478") % 4


# ---- the whole scenario: needs contract version 2 ----

class Workers:
    """W consumer processes (the CLI), worker i of W each."""

    def __init__(self, env, pg, workers=2):
        self.env, self.pg, self.n = env, pg, workers
        self.procs = {}

    def start(self, i, crash_after=None):
        e = dict(os.environ)
        if crash_after:
            e[rc.CRASH_ENV] = str(crash_after)
        self.procs[i] = Proc([sys.executable, CONSUMER, "--redis",
                              "redis://127.0.0.1:%d/0" % self.env.redis.port,
                              "--pg", self.pg.dsn, "--group", GROUP,
                              "--worker", str(i), "--workers", str(self.n)],
                             "worker%d" % i, env=e)
        self.procs[i].wait_line(r"worker-%d reads" % i, timeout=30)
        return self.procs[i]

    def start_all(self):
        for i in range(self.n):
            self.start(i)

    def stop_all(self):
        for i, p in self.procs.items():
            assert p.stop() == 0, p.text()[-3000:]
        self.procs = {}

    def text(self):
        return "\n".join(p.text() for p in self.procs.values())


def caught_up(r, n):
    """The group has read every diff of every partition, acknowledged all,
    and no loss is left to recover."""
    if any(f == GROUP or f.startswith(GROUP + ":")
           for f in r.hkeys("rosterd:diffs_lost")):
        return False
    for p in range(n):
        s = rc.stream_of(p, n)
        last = r.xrevrange(s, count=1)
        g = [g for g in r.xinfo_groups(s) if g["name"] == GROUP]
        if not g or g[0]["pending"]:
            return False
        if last and rc.id_key(g[0]["last-delivered-id"]) < \
                rc.id_key(last[0][0]):
            return False
    return True


def worker_of(teacher, n, workers=2):
    return rc.partition_of(teacher, n) % workers


def test_consumer_scenario_ends_equal_to_every_snapshot(env, pg):
    env.start_redis(tls=False)          # the CLI's URL is plain redis://
    sbx = env.start_sandbox("--teachers", 10, "--seed", 6)
    d = env.start_rosterd(diffs__partitions=4)
    n = 4
    wait_for(lambda: rc.partitions(env.r) == n, 10,
             "rosterd:diffs:partitions = %d" % n)
    ts = [t for t in sbx.teachers() if t["sections"]]
    ids = [t["id"] for t in sbx.teachers()]
    for t in sbx.teachers():
        env.store_token(t["id"], t["token"])
    conn = pg.connect()
    w = Workers(env, pg)
    w.start_all()
    settle = lambda: wait_for(lambda: caught_up(env.r, n), 60,  # noqa: E731
                              "the consumers to catch up")

    # first syncs of every teacher, then changes
    sync_all(env, ids)
    settle()
    assert_equals_snapshots(env, conn, ids)
    change_rosters(sbx, ts)
    sync_all(env, [t["id"] for t in ts[:3]])

    # the picker: discover, choose one section, sync it
    pick = ts[3]["id"]
    st = rc.wait_job(env.r, rc.discover(env.r, pick), 30 * SLOW)
    assert st["state"] == "done", st
    listed = rc.picker_sections(env.r, pick)
    assert listed["job"] and listed["fetched_ms"], listed
    assert {s["id"] for s in listed["sections"]} <= set(ts[3]["sections"])
    chosen = listed["sections"][0]["id"]
    st = rc.wait_job(env.r, rc.choose_sections(env.r, pick, [chosen]),
                     30 * SLOW)
    assert st["state"] == "done" and st["result"] == "changed", st
    settle()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM sections WHERE owner = %s", (pick,))
        assert cur.fetchall() == [(chosen,)]

    # a held change, shown with its counts, confirmed by the app
    held_t = ts[4]
    jid, gone = hold_one(env, sbx, held_t)
    [h] = [h for h in rc.held_changes(env.r) if h["teacher"] == held_t["id"]]
    assert h["job"] == jid and h["enrollments_removed"] == gone, h
    st = rc.wait_job(env.r, rc.confirm_held(env.r, held_t["id"]), 30 * SLOW)
    assert st["state"] == "done" and st["result"] == "changed", st
    assert not [h for h in rc.held_changes(env.r)
                if h["teacher"] == held_t["id"]]
    assert not [f for _, f in env.r.xrange("rosterd:dead")
                if f["teacher"] == held_t["id"] and f["state"] == "held"]
    settle()
    assert_equals_snapshots(env, conn, ids)

    # worker 0 dies between the commit and the acknowledgement: once back,
    # it reads its own pending entry first and skips it (the hash is mine)
    w.stop_all()
    crash = next(t for t in ts if worker_of(t["id"], n) == 0)
    sbx.mutate(op="rename_user", user=crash["id"], first="Crash")
    _, st = env.run(crash["id"])
    p = w.start(0, crash_after=1)
    assert p.p.wait(30 * SLOW) == 3, p.text()
    assert env.r.xpending(rc.stream_of(rc.partition_of(crash["id"], n), n),
                          GROUP)["pending"] == 1
    p = w.start(0)
    p.wait_line(r"worker-0 %s %s skipped" % (st["diff_id"], crash["id"]),
                timeout=30)
    w.start(1)
    settle()

    # a lost diff entry: the next one does not fit, the teacher is reloaded
    w.stop_all()
    lost = ts[5]["id"]
    sbx.mutate(op="rename_user", user=lost, first="Lost")
    _, st = env.run(lost)
    assert env.r.xdel(rc.stream_of(rc.partition_of(lost, n), n),
                      st["diff_id"]) == 1
    sbx.mutate(op="rename_user", user=lost, first="Found")
    _, st = env.run(lost)
    # and a forget, while the workers are away
    gone_t = ts[6]["id"]
    _, st2 = env.run(gone_t, kind="forget")
    assert st2["result"] == "forgotten", st2
    w.start_all()
    w.procs[worker_of(lost, n)].wait_line(r"%s %s reloaded" %
                                          (st["diff_id"], lost), timeout=30)
    settle()
    assert not pg_rows(conn, gone_t)
    assert_equals_snapshots(env, conn, ids)

    # diffs_lost: a tiny cap trims what the stopped workers had not read
    w.stop_all()
    d.stop()
    env.start_rosterd(diffs__partitions=n, sync__diff_stream_maxlen=1,
                      retention__interval_ms=100)
    env.r.delete("rosterd:trim_lock")   # the first one's, a minute long
    for i, t in enumerate(ts[:4]):
        sbx.mutate(op="rename_user", user=t["id"], first="Round%d" % i)
    # forced: a co-teacher of the held section would be held too
    sync_all(env, [t["id"] for t in ts[:4]], force=1)
    for i, t in enumerate(ts[:4]):
        sbx.mutate(op="rename_user", user=t["id"], first="Again%d" % i)
    sync_all(env, [t["id"] for t in ts[:4]], force=1)
    wait_for(lambda: env.r.hlen("rosterd:diffs_lost") > 0, 30,
             "a diffs_lost field")
    w.start_all()
    settle()
    assert "lost diffs" in w.text()

    # every worker applied only the teachers of its partitions
    for i, proc in w.procs.items():
        for line in proc.text().splitlines():
            f = line.split()
            if len(f) == 4 and f[0] == "worker-%d" % i and f[2] != "-":
                assert worker_of(f[2], n) == i, line
    w.stop_all()
    assert_equals_snapshots(env, conn, ids)
    conn.close()
