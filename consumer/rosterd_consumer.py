#!/usr/bin/env python3
"""rosterd's reference consumer: roster diffs from Redis into PostgreSQL.

Copy it and adapt it.  Run W workers (any hosts), each with its --worker i:
  python3 rosterd_consumer.py --redis redis://host:6379/0 \\
      --pg "dbname=app" --group myapp --worker 0 --workers 2
Worker i reads the partitions p with p % W == i, alone, as consumer
"worker-i" of the app's group, so a teacher's diffs are applied in order,
and a restarted worker re-reads its own unacknowledged entries first.

Each diff entry is applied in ONE PostgreSQL transaction with the
contract's rule, then acknowledged (doc/contract.md, consumer/README.md).
Needs Debian's python3-redis and python3-psycopg2 only.
"""
import argparse
import binascii
import json
import os
import signal
import sys
import time

import psycopg2
import psycopg2.extras
import redis

P = "rosterd:"
JOBS = P + "jobs"
LOST = P + "diffs_lost"
TABLES = ("enrollments", "students", "sections", "teachers", "rosters")
# the columns of each record kind, as in the diff and snapshot formats
COLUMNS = {
    "teachers": ("first", "middle", "last", "email", "grade", "extra"),
    "sections": ("name", "section_number", "subject", "grade", "teachers",
                 "extra"),
    "students": ("first", "last", "grade", "extra"),
}
JSON_COLUMNS = ("teachers", "extra")
ROSTER_COLUMNS = ("fields", "authorized_by", "district")
HELD_COUNTS = ("added", "updated", "removed", "sections_removed",
               "students_removed", "enrollments_removed")
# test hook: exit between the commit and the acknowledgement
CRASH_ENV = "ROSTERD_CONSUMER_CRASH_AFTER_COMMIT"


class Divergence(Exception):
    """The diff does not fit the rows held: reload from the snapshot."""


# ---- keys, partitions ----

def snapshot_key(teacher):
    return "%ssnapshot:{%s}" % (P, teacher)


def partition_of(teacher, n):
    """The partition of a teacher's diffs (the contract's rule)."""
    return binascii.crc32(teacher.encode("ascii")) % n


def stream_of(p, n):
    return P + "diffs" if n == 1 else "%sdiffs:%d" % (P, p)


def lost_field(group, p, n):
    """The group's field in rosterd:diffs_lost for partition p."""
    return group if n == 1 else "%s:%d" % (group, p)


def partitions(r):
    return int(r.get(P + "diffs:partitions") or 1)


def id_key(entry_id):
    """A stream id as a comparable tuple; "" is before every id."""
    return tuple(int(x) for x in entry_id.split("-")) if entry_id else ()


# ---- PostgreSQL: the rows of one roster owner ----

def create_schema(pg):
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "schema.sql")) as f, pg, pg.cursor() as cur:
        cur.execute(f.read())


def value(col, v):
    return psycopg2.extras.Json(v) if col in JSON_COLUMNS and v is not None \
        else v


def insert(cur, table, owner, rec):
    cols = COLUMNS[table]
    marks = ", ".join(["%s"] * (len(cols) + 2))
    cur.execute("INSERT INTO %s (owner, id, %s) VALUES (%s) ON CONFLICT "
                "DO NOTHING" % (table, ", ".join(cols), marks),
                [owner, rec["id"]] + [value(c, rec.get(c)) for c in cols])
    if cur.rowcount != 1:
        raise Divergence("%s %s already present" % (table, rec["id"]))


def delete(cur, table, owner, rid):
    cur.execute("DELETE FROM %s WHERE owner = %%s AND id = %%s" % table,
                (owner, rid))
    if cur.rowcount != 1:
        raise Divergence("%s %s absent" % (table, rid))


def update(cur, table, owner, rid, changes):
    for col, ch in changes.items():
        if col not in COLUMNS[table]:
            raise Divergence("%s: unknown field %s" % (table, col))
        cur.execute("UPDATE %s SET %s = %%s WHERE owner = %%s AND id = %%s"
                    % (table, col), (value(col, ch["new"]), owner, rid))
        if cur.rowcount != 1:
            raise Divergence("%s %s absent" % (table, rid))


def enroll(cur, owner, pairs, add):
    for e in pairs:
        if add:
            cur.execute("INSERT INTO enrollments VALUES (%s, %s, %s) "
                        "ON CONFLICT DO NOTHING",
                        (owner, e["section"], e["student"]))
        else:
            cur.execute("DELETE FROM enrollments WHERE owner = %s AND "
                        "section = %s AND student = %s",
                        (owner, e["section"], e["student"]))
        if cur.rowcount != 1:
            raise Divergence("enrollment %s/%s" % (e["section"], e["student"]))


def apply_diff(cur, owner, diff):
    """Apply one diff (doc/roster-format.md) to the owner's rows, in the
    format's order; Divergence when it does not fit them."""
    set_roster(cur, owner,
               **{k: ch["new"] for k, ch in diff["roster"].items()})
    t = diff["teacher"]
    if t["removed"]:
        delete(cur, "teachers", owner, t["removed"]["id"])
    if t["added"]:
        insert(cur, "teachers", owner, t["added"])
    if t["updated"]:
        cur.execute("SELECT id FROM teachers WHERE owner = %s", (owner,))
        ids = cur.fetchall()
        if len(ids) != 1:
            raise Divergence("teacher updated, %d held" % len(ids))
        update(cur, "teachers", owner, ids[0][0], t["updated"])
    enroll(cur, owner, diff["enrollments"]["removed"], False)
    for table in ("sections", "students"):
        d = diff[table]
        for rec in d["removed"]:
            delete(cur, table, owner, rec["id"])
        for rec in d["added"]:
            insert(cur, table, owner, rec)
        for u in d["updated"]:
            update(cur, table, owner, u["id"], u["changes"])
    enroll(cur, owner, diff["enrollments"]["added"], True)


def set_roster(cur, owner, **cols):
    """Upsert the owner's rosters row with these columns."""
    cur.execute("INSERT INTO rosters (owner) VALUES (%s) "
                "ON CONFLICT DO NOTHING", (owner,))
    for col, v in cols.items():
        assert col in ROSTER_COLUMNS + ("hash", "version", "diff_id")
        cur.execute("UPDATE rosters SET %s = %%s, updated_at = now() "
                    "WHERE owner = %%s" % col, (v, owner))


def forget(cur, owner):
    """The owner's roster is empty: no row of it left, state included."""
    for table in TABLES:
        cur.execute("DELETE FROM %s WHERE owner = %%s" % table, (owner,))


def records(roster):
    """A snapshot's roster with records (format 2: students are arrays,
    a section's students indices into them; format 1 has records)."""
    if roster["format"] == 2:
        roster["students"] = [dict(zip(("id", "first", "last", "grade",
                                        "extra"), s))
                              for s in roster["students"]]
        for sec in roster["sections"]:
            sec["students"] = [roster["students"][i]["id"]
                               for i in sec["students"]]
    return roster


def load_snapshot(cur, r, owner):
    """Replace the owner's rows with its snapshot (none: the empty
    roster).  Returns the snapshot's hash."""
    text, h, diff_id, version = r.hmget(snapshot_key(owner), "roster", "hash",
                                        "diff_id", "version")
    forget(cur, owner)
    if text is None:
        return ""
    roster = records(json.loads(text))
    if roster["teacher"]:
        insert(cur, "teachers", owner, roster["teacher"])
    for sec in roster["sections"]:
        insert(cur, "sections", owner, sec)
        enroll(cur, owner, [{"section": sec["id"], "student": s}
                            for s in sec["students"]], True)
    for st in roster["students"]:
        insert(cur, "students", owner, st)
    set_roster(cur, owner, hash=h or "", version=int(version or 0),
               diff_id=diff_id or "",
               **{k: roster[k] for k in ROSTER_COLUMNS})
    return h or ""


def held_state(cur, owner):
    """(mine, diff_id) of the owner, its row locked for the transaction."""
    cur.execute("SELECT hash, diff_id FROM rosters WHERE owner = %s "
                "FOR UPDATE", (owner,))
    row = cur.fetchone()
    return row if row else ("", "")


# ---- the rule: one entry, one transaction ----

def decide(f, entry_id, mine, my_id):
    """What to do with a diff entry, given what the app holds: the
    contract's rule, after skipping what the rows already include (an
    entry up to the last applied, or to the snapshot last reloaded)."""
    if id_key(entry_id) <= id_key(my_id):
        return "skip"
    if f.get("forgotten") == "1":
        return "forget"             # whatever the app held
    if f.get("base_hash") == mine:
        return "apply"
    if f.get("hash") == mine:
        return "skip"               # a redelivery
    return "reload"                 # a gap, or Redis and we went apart


def handle_entry(pg, r, entry_id, f):
    """Apply one diff entry in one transaction; returns what was done:
    applied, skipped, reloaded, forgotten."""
    owner = f["teacher"]
    try:
        with pg, pg.cursor() as cur:
            mine, my_id = held_state(cur, owner)
            what = decide(f, entry_id, mine, my_id)
            if what == "forget":
                forget(cur, owner)
                return "forgotten"
            if what == "apply":
                apply_diff(cur, owner, json.loads(f["diff"]))
                set_roster(cur, owner, hash=f["hash"], diff_id=entry_id,
                           version=int(f["version"]))
                return "applied"
            if what == "skip":
                return "skipped"
    except Divergence:
        pass                        # rolled back: reload instead
    with pg, pg.cursor() as cur:
        held_state(cur, owner)
        load_snapshot(cur, r, owner)
    return "reloaded"


# ---- held changes, the picker: the app's side of the jobs ----

def held_changes(r, count=10000):
    """Open changes held by the shrink guard, newest per teacher, with
    what each would change: what the app shows the teacher."""
    out = {}
    for eid, f in r.xrevrange(P + "dead", count=count):
        t = f.get("teacher")
        if f.get("state") != "held" or t in out:
            continue
        synced = r.hget(snapshot_key(t), "synced_ms")
        if synced and int(synced) >= int(f.get("failed_ms") or 0):
            out[t] = None           # a sync of the teacher came after it
            continue
        st = r.hgetall(P + "job:" + f["job"])
        out[t] = dict({k: int(st.get(k) or 0) for k in HELD_COUNTS},
                      teacher=t, job=f["job"], entry=eid,
                      message=f.get("message", ""))
    return [h for h in out.values() if h]


def confirm_held(r, teacher):
    """The teacher agreed: a forced sync (rosterd drops the held letter
    when it succeeds).  Returns the job id."""
    return r.xadd(JOBS, {"teacher": teacher, "kind": "sync", "force": "1"})


def discover(r, teacher):
    """Ask for the teacher's section list (the "Sync Classes" picker)."""
    return r.xadd(JOBS, {"teacher": teacher, "kind": "discover"})


def picker_sections(r, teacher):
    """The last section list: {"fetched_ms", "job", "sections": [...]},
    or None before any discovery or full sync."""
    v = r.get("%ssections:{%s}" % (P, teacher))
    return json.loads(v) if v else None


def choose_sections(r, teacher, section_ids):
    """Store the teacher's choice (None: all) and sync it.  Returns the
    sync's job id."""
    key = "%sselection:{%s}" % (P, teacher)
    if section_ids is None:
        r.delete(key)
    else:
        r.set(key, ",".join(section_ids) or "none")
    return r.xadd(JOBS, {"teacher": teacher, "kind": "sync"})


def wait_job(r, job, timeout=60):
    """Poll a job's status until it is final; returns the status."""
    deadline = time.monotonic() + timeout
    while True:
        st = r.hgetall(P + "job:" + job)
        if st.get("state") in ("done", "failed", "dead", "held", "cancelled"):
            return st
        if time.monotonic() > deadline:
            raise TimeoutError("job %s: %s" % (job, st))
        time.sleep(0.1)


# ---- the worker ----

class Worker:
    def __init__(self, r, pg, group, worker, workers, n=None, log=print):
        self.r, self.pg, self.group, self.log = r, pg, group, log
        self.n = n or partitions(r)
        self.mine = [p for p in range(self.n) if p % workers == worker]
        self.name = "worker-%d" % worker
        self.stopping = False
        self.commits = 0
        for p in self.mine:
            if not self.has_group(stream_of(p, self.n)):
                # a new app: its rosters from the snapshots first (the
                # stream may have kept none of a teacher's diffs), then
                # every diff still there, each skipped or applied by rule
                self.reload_partition(p)
                try:
                    r.xgroup_create(stream_of(p, self.n), group, "0",
                                    mkstream=True)
                except redis.ResponseError as e:
                    if "BUSYGROUP" not in str(e):
                        raise

    def has_group(self, stream):
        try:
            return any(g["name"] == self.group
                       for g in self.r.xinfo_groups(stream))
        except redis.ResponseError:
            return False            # no stream yet

    def reload_partition(self, p):
        """Reload every teacher of partition p from its snapshot: those
        with a snapshot, and those the app holds that have none now."""
        owners = {k[len(snapshot_key("")) - 1:-1] for k in
                  self.r.scan_iter(match=snapshot_key("*"), count=1000)}
        with self.pg, self.pg.cursor() as cur:
            cur.execute("SELECT owner FROM rosters")
            owners.update(o for (o,) in cur.fetchall())
        for o in sorted(owners):
            if partition_of(o, self.n) == p:
                with self.pg, self.pg.cursor() as cur:
                    held_state(cur, o)
                    load_snapshot(cur, self.r, o)

    def recover_lost(self):
        """diffs_lost for a partition of ours: reload it, then read on."""
        fields = [lost_field(self.group, p, self.n) for p in self.mine]
        for p, field, lost in zip(self.mine, fields,
                                  self.r.hmget(LOST, fields)):
            if lost is not None:
                self.log("partition %d lost diffs %s: reloading" % (p, lost))
                self.reload_partition(p)
                self.r.hdel(LOST, field)

    def handle(self, stream, entry_id, f):
        if not f:
            what = "empty"          # trimmed or erased: nothing to apply
        else:
            what = handle_entry(self.pg, self.r, entry_id, f)
            self.commits += 1
            if os.environ.get(CRASH_ENV) == str(self.commits):
                self.log("crash after commit %s" % entry_id)
                os._exit(3)
        self.r.xack(stream, self.group, entry_id)
        self.log("%s %s %s %s" % (self.name, entry_id,
                                  f.get("teacher", "-") if f else "-", what))

    def read(self, streams, block_ms):
        reply = self.r.xreadgroup(self.group, self.name, streams, count=100,
                                  block=block_ms)
        n = 0
        for stream, entries in reply or []:
            for entry_id, f in entries:
                self.handle(stream, entry_id, f)
                if streams[stream] != ">":
                    streams[stream] = entry_id  # history: read on after it
                n += 1
        return n

    def pending_first(self):
        """Our own entries delivered but not acknowledged (a crash)."""
        for p in self.mine:
            pos = {stream_of(p, self.n): "0"}
            while self.read(pos, None):
                pass

    def run(self, block_ms=1000):
        self.recover_lost()
        self.pending_first()
        streams = {stream_of(p, self.n): ">" for p in self.mine}
        while not self.stopping:
            self.recover_lost()
            self.read(dict(streams), block_ms)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--pg", required=True, help="PostgreSQL DSN")
    ap.add_argument("--group", required=True, help="the app's group")
    ap.add_argument("--worker", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--partitions", type=int,
                    help="default: rosterd:diffs:partitions, else 1")
    a = ap.parse_args(argv)
    if not 0 <= a.worker < a.workers:
        ap.error("--worker must be 0 to --workers - 1")
    r = redis.Redis.from_url(a.redis, decode_responses=True)
    pg = psycopg2.connect(a.pg)
    create_schema(pg)
    w = Worker(r, pg, a.group, a.worker, a.workers, a.partitions,
               log=lambda m: print(m, flush=True))
    signal.signal(signal.SIGTERM, lambda *_: setattr(w, "stopping", True))
    w.log("%s reads %s" % (w.name, [stream_of(p, w.n) for p in w.mine]))
    w.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
