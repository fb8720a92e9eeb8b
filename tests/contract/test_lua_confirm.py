"""confirm.lua: a write-back that waited for replicas ([redis]
wait_replicas) ends as writeback.lua would have ended it: the status done,
the entry acknowledged, the lock free, the event; writeback.lua with its
hold argument writes everything but that end."""
from lua_harness import (COUNTS, EVENTS, GROUP, JOBS, P, SCHED_KEYS,
                         STATUS_TTL, T, lock, running, snapshot, state, status)


def held_writeback(w, eid):
    keys = [snapshot(T), P + "diffs", status(eid), JOBS, lock(T), state(T),
            P + "accounts"] + SCHED_KEYS + [P + "sections:{%s}" % T, P + "dead"]
    args = [GROUP, eid, "c1:" + eid, 0, 1, '{"roster":1}', '{"d":1}', eid, T,
            EVENTS, STATUS_TTL, 1000, "", "teacher", COUNTS, 4, "", "user-42",
            "app", 86400000, 0, "1", "", 0, "", "1" * 32, "0"]
    return w.lua.writeback(keys, args)


def confirm(w, eid, lockval=None):
    return w.lua.confirm([status(eid), JOBS, lock(T)],
                         [GROUP, eid, lockval or "c1:" + eid, EVENTS, "app"])


def test_a_held_writeback_writes_all_but_the_end_of_the_job(w, events):
    eid = running(w)
    events.all()
    ok, diff_id, version, _, _ = held_writeback(w, eid)
    assert ok == "OK" and diff_id and version == "1"
    assert w.r.hget(snapshot(T), "version") == "1"
    assert w.r.xlen(P + "diffs") == 1
    st = w.r.hgetall(status(eid))
    assert st["state"] == "running" and st["note"] == "replicating", st
    assert st["result"] == "changed" and st["diff_id"] == diff_id, st
    assert w.pending() == [eid] and w.r.get(lock(T)) == "c1:" + eid
    assert events.all() == []


def test_confirm_ends_the_job_as_a_writeback_would(w, events):
    eid = running(w)
    _, diff_id, _, _, _ = held_writeback(w, eid)
    events.all()
    assert confirm(w, eid) == ["OK"]
    st = w.r.hgetall(status(eid))
    assert st["state"] == "done" and "note" not in st, st
    assert int(st["finished_ms"]) >= int(st["started_ms"]), st
    assert w.pending() == [] and not w.r.exists(lock(T))
    (ev,) = events.all()
    assert ev["state"] == "done" and ev["result"] == "changed", ev
    assert ev["diff_id"] == diff_id and ev["version"] == 1, ev
    assert ev["ref"] == "user-42" and ev["trigger"] == "app", ev


def test_confirm_writes_nothing_once_the_lock_is_lost(w, events):
    eid = running(w)
    held_writeback(w, eid)
    w.r.set(lock(T), "c2:other")	# expired while WAIT waited
    events.all()
    assert confirm(w, eid) == ["LOST"]
    assert w.r.hget(status(eid), "state") == "running"
    assert w.pending() == [eid] and w.r.get(lock(T)) == "c2:other"
    assert events.all() == []
