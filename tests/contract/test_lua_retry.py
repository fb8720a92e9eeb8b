"""retry.lua: a job retried after a transient failure, its entry kept."""
from lua_harness import (EVENTS, GROUP, JOBS, STATUS_TTL, T, TP, lock, running,
                         status, taken_over)


def retry(w, eid, lockval, code="clever_unavailable", delay=5000):
    return w.lua.retry([status(eid), lock(T), JOBS],
                       [lockval, eid, T, code, "503", delay, EVENTS,
                        STATUS_TTL, "r", GROUP, eid, "c1"])


def test_retry_keeps_the_entry_pending_and_frees_the_lock(w, events):
    eid = running(w)
    events.all()
    before = w.now_ms()
    assert retry(w, eid, "c1:" + eid) == ["OK"]
    st = w.r.hgetall(status(eid))
    assert st["state"] == "retrying" and st["error"] == "clever_unavailable"
    assert before + 5000 <= int(st["next_attempt_ms"]) <= w.now_ms() + 5000
    assert w.pending() == [eid], "the job stays with this consumer"
    assert not w.r.exists(lock(T))
    [ev] = events.all()
    assert ev["state"] == "retrying"


def test_retry_leaves_a_lock_that_is_not_ours(w):
    eid = running(w)
    w.r.set(lock(T), "c2:other")
    retry(w, eid, "c1:" + eid, delay=1)
    assert w.r.get(lock(T)) == "c2:other"


def test_retry_never_touches_a_job_another_instance_took_or_finished(w, events):
    # frozen past the lock and claim_idle_ms: the entry was taken over,
    # the job run to its end elsewhere
    eid = running(w)
    taken_over(w, eid)
    w.r.hset(status(eid), mapping={"state": "done", "result": "changed"})
    events.all()
    assert retry(w, eid, "c1:" + eid, code="lock_lost") == ["GONE"]
    assert w.r.hget(status(eid), "state") == "done"
    assert "error" not in w.r.hgetall(status(eid))
    assert not w.r.exists(lock(T)), "our own lock is released"
    assert events.all() == []
    # acknowledged: the same
    w.r.xack(JOBS, GROUP, eid)
    assert retry(w, eid, "c1:" + eid) == ["GONE"]
    assert w.r.hget(status(eid), "state") == "done"


def test_retry_tells_the_jobs_traceparent(w, events):
    eid = running(w, tp=TP)
    events.all()
    assert retry(w, eid, "c1:" + eid) == ["OK"]
    [ev] = events.all()
    assert ev["traceparent"] == TP and ev["state"] == "retrying"
