"""handback.lua: a job handed back at shutdown for another instance."""
from lua_harness import (EVENTS, GROUP, JOBS, T, TP, lock, running, status,
                         taken_over)


def handback(w, eid, lockval, trigger="app", tp=""):
    return w.lua.handback([JOBS, status(eid), lock(T)],
                          [GROUP, eid, lockval, eid, T, "sync", "user-42",
                           "d1", 1234, "1", EVENTS, "c1", trigger, tp])


def test_handback_requeues_the_job_under_its_id_and_request_time(w, events):
    eid = running(w)
    events.all()
    new = handback(w, eid, "c1:" + eid)
    assert new != eid
    [(nid, f)] = w.r.xrange(JOBS, min=new, max=new)
    assert f == {"teacher": T, "kind": "sync", "job_id": eid,
                 "requested_ms": "1234", "ref": "user-42", "district": "d1",
                 "force": "1"}
    assert w.pending() == [], "the old entry is acknowledged"
    assert not w.r.exists(lock(T))
    st = w.r.hgetall(status(eid))
    assert st["state"] == "queued" and "handed back by c1" in st["note"]
    [ev] = events.all()
    assert ev == {"job": eid, "teacher": T, "state": "queued",
                  "ref": "user-42"}


def test_handback_requeues_nothing_for_a_job_another_instance_took(w, events):
    eid = running(w)
    taken_over(w, eid)
    events.all()
    assert handback(w, eid, "c1:" + eid) == ""
    assert w.r.xlen(JOBS) == 1, "no second entry: the job would run twice"
    assert w.pending() == [eid], "the other instance's entry is untouched"
    assert not w.r.exists(lock(T)) and events.all() == []


def test_handback_of_a_job_never_admitted_creates_no_status(w):
    eid = w.take(T)
    handback(w, eid, "")
    assert not w.r.exists(status(eid))
    assert w.r.xlen(JOBS) == 2 and w.pending() == []


def test_handback_keeps_what_triggered_the_job(w):
    eid = running(w)
    new = handback(w, eid, "c1:" + eid, trigger="schedule")
    assert w.r.xrange(JOBS, new, new)[0][1]["trigger"] == "schedule"


def test_handback_keeps_the_apps_traceparent(w, events):
    eid = running(w, tp=TP)
    events.all()
    new = handback(w, eid, "c1:" + eid, tp=TP)
    [(_, f)] = w.r.xrange(JOBS, min=new, max=new)
    assert f["traceparent"] == TP
    [ev] = events.all()
    assert ev["traceparent"] == TP


def test_a_district_jobs_teacher_releases_its_lock_and_queues_nothing(w, events):
    """Its entry is the district job's, which goes back whole after it."""
    eid = running(w)
    events.all()
    assert w.lua.handback([JOBS, status(eid), lock(T)],
                          [GROUP, eid, "c1:" + eid, eid, T, "sync", "",
                           "d1", 1234, "0", EVENTS, "c1", "app", "",
                           "1"]) == "district"
    assert w.r.xlen(JOBS) == 1, "nothing queued for the teacher"
    assert w.pending() == [eid], "the district job's entry stays ours"
    assert not w.r.exists(lock(T)), "the lock is released, not left to expire"
    st = w.r.hgetall(status(eid))
    assert st["state"] == "queued" and "with its district job" in st["note"]
    assert [e["state"] for e in events.all()] == ["queued"]
