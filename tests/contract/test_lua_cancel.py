"""cancel.lua: a queued job deleted from the stream before any instance
reads it, or a job held between attempts ended there; state 'cancelled',
an event, no dead letter."""
from lua_harness import (EVENTS, GROUP, JOBS, STATUS_TTL, T, lock, running,
                         status, taken_over)

DEAD = "rosterd:dead"


def cancel(w, eid, consumer="", lockval=""):
    return w.lua.cancel([JOBS, status(eid), lock(T)],
                        [GROUP, eid, consumer, lockval, eid, T, "sync",
                         "user-1", "app", "by ops", EVENTS, STATUS_TTL])


def test_a_queued_job_leaves_the_stream_cancelled(w, events):
    eid = w.r.xadd(JOBS, {"teacher": T, "kind": "sync"})
    assert cancel(w, eid) == ["OK"]
    assert w.r.xrange(JOBS) == []
    st = w.r.hgetall(status(eid))
    assert st["state"] == "cancelled" and st["error"] == "cancelled", st
    assert st["message"] == "by ops" and st["ref"] == "user-1", st
    assert 0 < w.r.ttl(status(eid)) <= STATUS_TTL
    [ev] = events.all()
    assert ev["state"] == "cancelled" and ev["job"] == eid, ev
    assert not w.r.exists(DEAD), "no dead letter"


def test_a_job_an_instance_has_read_is_not_cancelled_as_queued(w, events):
    eid = w.take(T)
    assert cancel(w, eid) == ["NOT_QUEUED"]
    assert cancel(w, "1-1") == ["NOT_QUEUED"], "not in the stream"
    assert w.pending() == [eid] and not w.r.exists(status(eid))
    assert events.all() == []


def test_a_held_job_is_acknowledged_and_its_lock_released(w, events):
    eid = running(w)
    events.all()
    assert cancel(w, eid, "c1", "c1:" + eid) == ["OK"]
    assert w.pending() == [] and not w.r.exists(lock(T))
    assert w.r.hget(status(eid), "state") == "cancelled"
    assert w.r.xrange(JOBS, eid, eid) != [], "acknowledged, not deleted"
    [ev] = events.all()
    assert ev["state"] == "cancelled"


def test_a_job_taken_over_is_left_to_its_new_holder(w, events):
    eid = running(w)
    taken_over(w, eid)
    events.all()
    assert cancel(w, eid, "c1") == ["GONE"]
    assert w.r.hget(status(eid), "state") == "running"
    assert events.all() == []
