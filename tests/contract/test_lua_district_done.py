"""district_done.lua: a district job ends once its teachers are written:
its status done with the counts, the district's state (what later district
jobs coalesce with), the entry acknowledged, the district lock released,
one event; nothing once the lock or the entry is not ours.  Also the
'teacher of a district job' argument of writeback.lua and fail.lua: the
entry is the district job's, so they leave it pending."""
import json

from lua_harness import (COUNTS, EVENTS, GROUP, JOBS, P, SCHED_KEYS,
                         STATUS_TTL, T, admit, fail, lock, running, snapshot,
                         state, status, taken_over)

D = "58da8a43cc70ab00017a1a87"
NAME = "district:" + D
CNT = ('{"teachers":3,"changed":1,"unchanged":1,"coalesced":0,"held":1,'
       '"failed":0,"requests":5}')


def running_district(w):
    eid = w.take(NAME)
    [reply] = admit(w, (eid, NAME, "district", "r", int(eid.split("-")[0])))
    assert reply[0] == "R"
    return eid


def done(w, eid, lockval=None, started=1000):
    return w.lua.district_done(
        [status(eid), JOBS, lock(NAME), state(NAME)],
        [GROUP, eid, lockval or "c1:" + eid, eid, NAME, D, started, CNT,
         EVENTS, STATUS_TTL, "r", "app", "c1"])


def test_the_district_job_ends_with_its_counts(w, events):
    eid = running_district(w)
    events.all()
    assert done(w, eid) == ["OK", "changed"]
    st = w.r.hgetall(status(eid))
    assert st["state"] == "done" and st["kind"] == "district", st
    assert st["district"] == D and st["teacher"] == NAME, st
    assert (st["teachers"], st["changed"], st["held"]) == ("3", "1", "1"), st
    assert w.pending() == [] and not w.r.exists(lock(NAME))
    assert w.r.hget(state(NAME), "done_started_ms") == "1000"
    (ev,) = events.all()
    assert ev["state"] == "done" and ev["district"] == D, ev
    assert ev["teachers"] == 3 and ev["requests"] == 5, ev
    # a later district job requested before that pull coalesces with it
    eid2 = w.take(NAME)
    [reply] = admit(w, (eid2, NAME, "district", "r", 999))
    assert reply == ["C", eid]


def test_nothing_once_the_lock_or_the_entry_is_not_ours(w, events):
    eid = running_district(w)
    w.r.set(lock(NAME), "c2:other")
    events.all()
    assert done(w, eid) == ["LOST"]
    assert w.r.hget(status(eid), "state") == "running" and w.pending() == [eid]
    w.r.set(lock(NAME), "c1:" + eid)
    taken_over(w, eid)
    assert done(w, eid) == ["GONE"]
    assert not w.r.exists(lock(NAME)) and events.all() == []


def test_a_district_teacher_leaves_the_entry_pending(w, events):
    eid = running(w)
    keys = [snapshot(T), P + "diffs", status(eid + "." + T), JOBS, lock(T),
            state(T), P + "accounts"] + SCHED_KEYS + \
        [P + "sections:{%s}" % T, P + "dead"]
    args = [GROUP, eid, "c1:" + eid, 0, 1, '{"roster":1}', '{"d":1}',
            eid + "." + T, T, EVENTS, STATUS_TTL, 1000, "", "district",
            COUNTS, 0, D, "r", "app", 86400000, 0, "0", "", 0, "", "1" * 32,
            "0", "1"]
    assert w.lua.writeback(keys, args)[0] == "OK"
    assert w.r.hget(status(eid + "." + T), "state") == "done"
    assert w.pending() == [eid] and not w.r.exists(lock(T))
    w.r.set(lock(T), "c1:x")
    assert fail(w, eid, "c1:x", drop="0") == ["OK"] and w.pending() == []
    eid2 = w.take(T)
    keys = [status(eid2 + "." + T), JOBS, lock(T), P + "dead", state(T)] + \
        SCHED_KEYS + [P + "token:" + T]
    args = [GROUP, eid2, "", eid2 + "." + T, T, "sync", "r", "failed",
            "not_shared", "not listed", EVENTS, STATUS_TTL, "{}", D, "0",
            "c1", "0", "app", "district", "1"]
    assert w.lua.fail(keys, args) == ["OK"]
    assert w.pending() == [eid2]
    assert json.loads(json.dumps(w.r.hgetall(status(eid2 + "." + T))))["state"] == "failed"
