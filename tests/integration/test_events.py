"""Clever's Events per district (daemon/events.c, doc/contract.md "Events
(Secure Sync)"): the poller maps each event to the teachers it touches
and adds their sync jobs (trigger events) with the cursor's move; the
cursor survives SIGKILL and another instance takes the district over; a
cursor older than Clever's 30-day window falls back to a district job.

Runs against the sandbox's /events (tests/sandbox/README.md)."""
import json
import signal
import urllib.error
import urllib.request

import pytest

from conftest import SLOW, api_get, wait_for

FAST = dict(events__interval_ms=100, events__lock_ttl_ms=2000)


def start_rosterd(env, **conf):
    """An instance with FAST polling and its /metrics (d.metrics)."""
    d = env.start_rosterd(metrics__listen="127.0.0.1:0", **dict(FAST, **conf))
    _, m = d.proc.wait_line(r"event=metrics_listening .*(http://\S+/metrics)")
    d.metrics = m.group(1)
    return d


def metrics(d):
    """The events counters of an instance's /metrics."""
    with urllib.request.urlopen(d.metrics, timeout=10) as r:
        text = r.read().decode()
    return {ln.split()[0]: int(float(ln.split()[1]))
            for ln in text.splitlines() if ln.startswith("rosterd_events_")}


class District:
    """The sandbox's first district, its token stored, Events enabled."""

    def __init__(self, env, sbx, follow="all", events="1"):
        (self.d,) = sbx.get("/districts")[:1]
        self.id, self.token = self.d["id"], self.d["token"]
        self.env, self.sbx = env, sbx
        env.store_district_token(self.id, self.token)
        env.r.hset("rosterd:district:{%s}" % self.id,
                   mapping={"follow": follow, "events": events})
        env.r.sadd("rosterd:districts", self.id)
        self.cursor = "rosterd:event_cursor:{%s}" % self.id
        self.lock = "rosterd:event_lock:{%s}" % self.id

    def teachers(self):
        return [t for t in self.sbx.teachers() if t["district"] == self.id]

    def newest_event(self):
        evs, after = [], ""
        while True:
            page = api_get(self.sbx, "/events?limit=1000" + after, self.token)
            if not page["data"]:
                return evs[-1]["data"]["id"] if evs else ""
            evs += page["data"]
            after = "&starting_after=" + evs[-1]["data"]["id"]

    def section_teachers(self, section):
        s = api_get(self.sbx, "/sections/" + section, self.token)["data"]
        return set(s.get("teachers") or []) | ({s["teacher"]} if
                                               s.get("teacher") else set())

    def student_teachers(self, student):
        out = set()
        for s in api_get(self.sbx, "/users/%s/sections?limit=10000" % student,
                         self.token)["data"]:
            out |= self.section_teachers(s["data"]["id"])
        return out

    def caught_up(self):
        """Wait until the cursor holds the sandbox's newest event."""
        want = self.newest_event()
        wait_for(lambda: self.env.r.hget(self.cursor, "last_id") == want,
                 20, "the cursor at the newest event %s" % want)

    def jobs_after(self, mark):
        return [(eid, f) for eid, f in
                self.env.r.xrange("rosterd:jobs", "(" + mark, "+")
                if f.get("trigger") == "events"]


def mark(env):
    last = env.r.xrevrange("rosterd:jobs", count=1)
    return last[0][0] if last else "0-0"


def paused(env):
    """An instance polling while the deployment is paused: the jobs it
    adds stay in the stream (on this branch nothing runs kind district)."""
    env.r.set("rosterd:paused", "events test")
    d = start_rosterd(env)
    d.proc.wait_line(r"event=paused")
    return d


def a_student(sbx, dist, t):
    """A student of one of teacher t's sections."""
    for sec in t["sections"]:
        users = api_get(sbx, "/sections/%s/users?role=student" % sec,
                        dist.token)["data"]
        if users:
            return users[0]["data"]["id"], sec
    raise AssertionError("teacher %s has no students" % t["id"])


def started(env, dist, **conf):
    """rosterd polling dist from the newest event (no job for the start)."""
    d = start_rosterd(env, **conf)
    dist.caught_up()
    assert env.r.hget(dist.cursor, "started_why") == "no cursor yet"
    return d


def resync_and_check(env, dist, op, expected, diff_has):
    """Mutate the sandbox; exactly the expected teachers get one events
    job each, and each one's diff shows the change (diff_has: teacher ->
    a string of it, or a function of the mutation's answer giving that)."""
    m = mark(env)
    ps = env.subscribe()
    try:
        res = env.sandbox.mutate(**op)
        if callable(diff_has):
            diff_has = diff_has(res)
        dist.caught_up()
        jobs = dist.jobs_after(m)
        got = sorted(f["teacher"] for _, f in jobs)
        assert got == sorted(expected), (op, got, expected)
        assert all(f == {"kind": "sync", "teacher": f["teacher"],
                         "district": dist.id, "trigger": "events"}
                   for _, f in jobs)
        sts = env.wait_jobs(ps, [eid for eid, _ in jobs])
    finally:
        ps.close()
    for eid, f in jobs:
        assert sts[eid]["state"] == "done", sts[eid]
        assert sts[eid]["trigger"] == "events", sts[eid]
        t = f["teacher"]
        if t in diff_has:
            d = env.diffs(t)[-1]
            assert d["job"] == eid and diff_has[t] in json.dumps(
                d["diff"], ensure_ascii=False), (t, diff_has[t], d)
    return res


def test_events_reach_exactly_the_affected_teachers(env):
    """A student renamed, moved between sections, a section added and
    deleted, a co-teacher added: each reaches exactly the teachers it
    touches, with trigger events, and their diffs show it."""
    sbx = env.start_sandbox()
    dist = District(env, sbx)
    ts = [t for t in dist.teachers() if t["sections"]]
    a, b = ts[0], ts[1]
    started(env, dist)
    # the teachers involved synced once: the diffs below are changes
    ps = env.subscribe()
    jids = [env.enqueue(t["id"], district=dist.id) for t in ts[:4]]
    env.wait_jobs(ps, jids)
    ps.close()

    # renamed: the teachers of every section of the student
    s, _ = a_student(sbx, dist, a)
    who = dist.student_teachers(s)
    resync_and_check(env, dist, dict(op="rename_user", user=s,
                                     first="Renamed"),
                     who, {t: "Renamed" for t in who})

    # moved from a's section to b's: the teachers of both sections
    s, frm = a_student(sbx, dist, a)
    to = b["sections"][0]
    who = dist.section_teachers(frm) | dist.section_teachers(to)
    resync_and_check(env, dist, dict(op="move_student", student=s,
                                     **{"from": frm, "to": to}),
                     who, {a["id"]: s, b["id"]: s})

    # a section added to b, then deleted: b (and its co-teachers)
    sec_id = resync_and_check(env, dist, dict(op="add_section",
                                              teacher=b["id"],
                                              name="Events 101"),
                              {b["id"]}, lambda res: {b["id"]: res["id"]})["id"]
    who = dist.section_teachers(sec_id)
    assert who == {b["id"]}
    resync_and_check(env, dist, dict(op="delete_section", section=sec_id),
                     who, {b["id"]: sec_id})

    # a co-teacher added to a's section: its teachers before and after
    sec = a["sections"][0]
    who = dist.section_teachers(sec) | {b["id"]}
    resync_and_check(env, dist, dict(op="add_coteacher", section=sec,
                                     teacher=b["id"]),
                     who, {b["id"]: sec})
    v = env.r.hgetall(dist.cursor)
    assert int(v["jobs"]) >= 5 and int(v["events"]) >= 5, v
    m = metrics(env.daemons[0])
    assert m["rosterd_events_jobs_total"] == int(v["jobs"]), m
    assert m["rosterd_events_polled_total"] == int(v["events"]), m
    assert m["rosterd_events_fallbacks_total"] == 0, m


def test_follow_set_resyncs_only_the_followed_teachers(env):
    sbx = env.start_sandbox()
    dist = District(env, sbx, follow="set")
    ts = [t for t in dist.teachers() if t["sections"]]
    a, b = ts[0], ts[1]
    env.r.sadd("rosterd:district_teachers:{%s}" % dist.id, b["id"])
    started(env, dist)
    m = mark(env)
    sec = a["sections"][0]
    sbx.mutate(op="add_coteacher", section=sec, teacher=b["id"])
    dist.caught_up()
    assert [f["teacher"] for _, f in dist.jobs_after(m)] == [b["id"]]


def test_the_cursor_survives_sigkill_and_another_instance_takes_over(env):
    """The poller is SIGKILLed: its lock expires, a second instance takes
    the district over and goes on from the cursor: the events of the gap
    are polled once (their jobs are there), none twice."""
    sbx = env.start_sandbox()
    dist = District(env, sbx)
    t = [t for t in dist.teachers() if t["sections"]][0]
    first = started(env, dist)
    wait_for(lambda: env.r.get(dist.lock) == first.proc.name, 20, "the lock")
    first.proc.p.send_signal(signal.SIGKILL)
    first.proc.p.wait(30 * SLOW)
    env.daemons.remove(first)
    cur = env.r.hget(dist.cursor, "last_id")
    m = mark(env)
    sbx.mutate(op="add_coteacher", section=t["sections"][0],
               teacher=[x for x in dist.teachers() if x["id"] != t["id"]][0]
               ["id"])
    second = env.start_rosterd(name="second", **FAST)
    second.proc.wait_line(r"event=events_poller .*polled by this "
                          r"instance now", timeout=30 * SLOW)
    assert env.r.get(dist.lock) == second.proc.name
    dist.caught_up()
    assert env.r.hget(dist.cursor, "poller") == second.proc.name
    assert env.r.hget(dist.cursor, "last_id") != cur
    jobs = dist.jobs_after(m)
    who = dist.section_teachers(t["sections"][0])
    assert sorted(f["teacher"] for _, f in jobs) == sorted(who)
    assert "started_why" in env.r.hgetall(dist.cursor)
    assert env.r.hget(dist.cursor, "fallbacks") is None


def test_two_instances_poll_a_district_once(env):
    sbx = env.start_sandbox()
    dist = District(env, sbx)
    t = [t for t in dist.teachers() if t["sections"]][0]
    started(env, dist)
    env.start_rosterd(name="other", **FAST)
    m = mark(env)
    sbx.mutate(op="set_subject", section=t["sections"][0], subject="Art")
    dist.caught_up()
    who = dist.section_teachers(t["sections"][0])
    assert sorted(f["teacher"] for _, f in dist.jobs_after(m)) == sorted(who)


def test_a_cursor_past_the_30_day_window_falls_back_to_a_district_job(env):
    """The cursor's event left Clever's 30-day window (the sandbox's clock
    moved on): one district job (trigger events), the cursor restarted at
    the newest event.  The job itself is the bulk sync's (kind district):
    the deployment is paused so that its entry stays in the stream."""
    sbx = env.start_sandbox()
    dist = District(env, sbx, events="0")
    t = [t for t in dist.teachers() if t["sections"]][0]
    sbx.mutate(op="set_subject", section=t["sections"][0], subject="Old")
    old = dist.newest_event()
    assert old
    sbx.post("/clock", {"advance_s": 31 * 86400})
    sbx.mutate(op="set_subject", section=t["sections"][0], subject="New")
    with pytest.raises(urllib.error.HTTPError) as e:
        api_get(sbx, "/events?starting_after=" + old, dist.token)
    assert e.value.code == 404       # gone from Clever's window
    d = paused(env)
    env.r.hset(dist.cursor, "last_id", old)
    m = mark(env)
    env.r.hset("rosterd:district:{%s}" % dist.id, "events", "1")
    d.proc.wait_line(r"event=events_fallback .*fell back to a district "
                     r"sync \(Clever answered HTTP 404", timeout=30 * SLOW)
    dist.caught_up()
    jobs = [f for _, f in env.r.xrange("rosterd:jobs", "(" + m, "+")]
    assert jobs == [{"kind": "district", "district": dist.id,
                     "trigger": "events"}]
    v = env.r.hgetall(dist.cursor)
    assert v["fallbacks"] == "1" and "404" in v["fallback_why"], v
    assert v["last_id"] == dist.newest_event() != old
    c = metrics(d)
    assert c["rosterd_events_fallbacks_total"] == 1, c
    assert c["rosterd_events_jobs_total"] == 1, c
    env.r.delete("rosterd:paused")


def test_a_deleted_student_falls_back_to_a_district_job(env):
    """Clever lists a deleted student's sections no more: the event
    cannot be mapped, and the batch becomes one district job."""
    sbx = env.start_sandbox()
    dist = District(env, sbx, events="0")
    t = [t for t in dist.teachers() if t["sections"]][0]
    s, _ = a_student(sbx, dist, t)
    d = paused(env)
    env.r.hset("rosterd:district:{%s}" % dist.id, "events", "1")
    dist.caught_up()
    m = mark(env)
    sbx.mutate(op="delete_user", user=s)
    d.proc.wait_line(r"event=events_fallback .*a student was deleted",
                     timeout=30 * SLOW)
    dist.caught_up()
    assert [f for _, f in env.r.xrange("rosterd:jobs", "(" + m, "+")] == [
        {"kind": "district", "district": dist.id, "trigger": "events"}]
    assert "deleted" in env.r.hget(dist.cursor, "fallback_why")
    env.r.delete("rosterd:paused")


def test_a_district_starts_at_the_newest_event_once_enabled(env):
    """Events the district had before the app enabled them add no job:
    the cursor starts at the newest."""
    sbx = env.start_sandbox()
    dist = District(env, sbx, events="0")
    t = [t for t in dist.teachers() if t["sections"]][0]
    sbx.mutate(op="set_subject", section=t["sections"][0], subject="X")
    env.start_rosterd(**FAST)
    env.r.hset("rosterd:district:{%s}" % dist.id, "events", "1")
    dist.caught_up()
    assert env.r.hget(dist.cursor, "started_why") == "no cursor yet"
    assert not dist.jobs_after("0-0")


def pulled(env, dist):
    """A district job run to its end: the requests of its pull (what the
    poller weighs per-teacher resyncs against)."""
    ps = env.subscribe()
    try:
        jid = env.r.xadd("rosterd:jobs", {"kind": "district",
                                          "district": dist.id})
        st = env.wait_jobs(ps, [jid])[jid]
    finally:
        ps.close()
    assert st["state"] == "done", st
    return int(st["requests"])


def held_off(env, dist):
    """Events turned off for dist until the returned function turns them
    on again: what Clever records meanwhile is polled as one batch."""
    env.r.hset("rosterd:district:{%s}" % dist.id, "events", "0")
    wait_for(lambda: env.r.get(dist.lock) is None, 20, "the lock released")
    return lambda: env.r.hset("rosterd:district:{%s}" % dist.id,
                              "events", "1")


def students_of_teachers(sbx, dist, n):
    """n students, each of another teacher's section, and the teachers of
    all their sections."""
    students, who = [], set()
    for t in [t for t in dist.teachers() if t["sections"]]:
        s, _ = a_student(sbx, dist, t)
        if s not in students:
            students.append(s)
            who |= dist.student_teachers(s)
        if len(students) == n:
            return students, who
    raise AssertionError("fewer than %d students" % n)


def test_a_batch_touching_many_teachers_becomes_one_district_job(env):
    """Students renamed in one batch touch more teachers than a district
    pull costs requests (a lookup each, 3 a teacher): the batch becomes one
    district job (trigger events) and no per-teacher job, with the cursor
    at the newest event, and the pull's diffs show the renames."""
    sbx = env.start_sandbox()
    dist = District(env, sbx)
    d = started(env, dist)
    pull = pulled(env, dist)
    students, who = students_of_teachers(sbx, dist, 3)
    assert len(students) + 3 * len(who) > pull     # the test's premise
    enable = held_off(env, dist)
    m = mark(env)
    ps = env.subscribe()
    try:
        for s in students:
            sbx.mutate(op="rename_user", user=s, first="Bulky")
        enable()
        d.proc.wait_line(r"event=events_bulk .*per teacher ~\d+ requests "
                         r".*> a district pull ~%d \(its last\)" % pull,
                         timeout=30 * SLOW)
        dist.caught_up()
        jobs = list(env.r.xrange("rosterd:jobs", "(" + m, "+"))
        assert [f for _, f in jobs] == [
            {"kind": "district", "district": dist.id, "trigger": "events"}]
        st = env.wait_jobs(ps, [jobs[0][0]])[jobs[0][0]]
    finally:
        ps.close()
    assert st["state"] == "done" and st["trigger"] == "events", st
    v = env.r.hgetall(dist.cursor)
    assert v["bulks"] == "1" and v["bulk_requests"] == str(pull), v
    assert "fallbacks" not in v and "per teacher" in v["bulk_why"], v
    for t in who:
        assert "Bulky" in json.dumps(env.diffs(t)[-1]["diff"]), t
    assert metrics(d)["rosterd_events_fallbacks_total"] == 0


def test_a_small_change_still_resyncs_only_its_teachers(env):
    """Once a pull's cost is known, a change that costs less per teacher
    (one section of one teacher: 3 requests) still enqueues exactly the
    affected teacher, and the cursor keeps the pull's figure."""
    sbx = env.start_sandbox()
    dist = District(env, sbx)
    started(env, dist)
    pull = pulled(env, dist)
    sec = next(s for t in dist.teachers() for s in t["sections"]
               if len(dist.section_teachers(s)) == 1)
    assert 3 <= pull                                # the test's premise
    (t,) = dist.section_teachers(sec)
    resync_and_check(env, dist, dict(op="set_subject", section=sec,
                                     subject="Small"), {t}, {t: sec})
    v = env.r.hgetall(dist.cursor)
    assert v["bulk_requests"] == str(pull) and "bulks" not in v, v


def test_without_a_known_pull_lookups_resync_each_teacher(env):
    """No district pull done yet (nothing to weigh against): students
    renamed in one batch are looked up (several at once) and exactly the
    teachers of their sections get a job each."""
    sbx = env.start_sandbox()
    dist = District(env, sbx)
    started(env, dist)
    students, who = students_of_teachers(sbx, dist, 3)
    enable = held_off(env, dist)
    m = mark(env)
    for s in students:
        sbx.mutate(op="rename_user", user=s, first="Looked")
    enable()
    dist.caught_up()
    assert sorted(f["teacher"] for _, f in dist.jobs_after(m)) == \
        sorted(who)
    assert "bulk_requests" not in env.r.hgetall(dist.cursor)
