"""fail.lua: a job failed for good or held: its final status, a dead
letter, and the teacher off the schedule where its token was refused."""
from lua_harness import (COUNTS, GROUP, JOBS, LEFT, P, REAUTH, SCHEDULE, T,
                         TP, fail, lock, running, state, status)


def test_fail_deletes_a_malformed_entry_and_keeps_the_others(w):
    eid = running(w)
    fail(w, eid, "c1:" + eid)
    assert [e for e, _ in w.r.xrange(JOBS)] == [eid]
    bad = w.take(T, token="ilc_SECRET")	# malformed: it may carry a secret
    fail(w, bad, "", drop="1")
    assert [e for e, _ in w.r.xrange(JOBS)] == [eid]
    assert w.pending() == []


def test_fail_writes_the_final_status_and_a_dead_letter(w, events):
    eid = running(w)
    events.all()
    assert fail(w, eid, "c1:" + eid) == ["OK"]
    st = w.r.hgetall(status(eid))
    assert st["state"] == "failed" and st["error"] == "not_shared"
    assert st["message"] == "Clever answered 404" and "finished_ms" in st
    [(_, dl)] = w.r.xrange(P + "dead")
    assert dl["job"] == eid and dl["teacher"] == T and dl["state"] == "failed"
    assert dl["error"] == "not_shared" and dl["attempts"] == "1"
    assert dl["entry"] == eid and dl["district"] == "d1"
    assert dl["force"] == "0" and dl["kind"] == "sync"
    assert w.pending() == [] and not w.r.exists(lock(T))
    [ev] = events.all()
    assert ev["state"] == "failed" and ev["error"] == "not_shared"


def test_fail_writes_nothing_for_a_job_another_instance_finished(w, events):
    eid = running(w)
    w.r.xack(JOBS, GROUP, eid)
    w.r.hset(status(eid), mapping={"state": "done", "result": "changed"})
    events.all()
    assert fail(w, eid, "c1:" + eid, state_="dead") == ["GONE"]
    assert w.r.hget(status(eid), "state") == "done"
    assert w.r.xlen(P + "dead") == 0, "no dead letter for a finished job"
    assert not w.r.exists(lock(T)), "our own lock is released"
    assert events.all() == []


def test_fail_holds_a_change_with_its_counts(w):
    eid = running(w)
    fail(w, eid, "c1:" + eid, state_="held", extra='{"removed":30}')
    st = w.r.hgetall(status(eid))
    assert st["state"] == "held" and st["removed"] == "30"


def test_a_held_event_has_the_counts_and_the_state_the_letter(w, events):
    """The app shows what would go without reading the status, and the
    forced sync that confirms it finds the held letters (held_ids)."""
    ids = []
    for _ in range(3):
        eid = running(w)
        events.all()
        fail(w, eid, "c1:" + eid, state_="held", code="shrink_guard",
             extra=COUNTS)
        [ev] = events.all()
        assert ev["state"] == "held"
        assert (ev["added"], ev["updated"], ev["removed"]) == (2, 1, 0)
        ids.append(w.r.xrange(P + "dead")[-1][0])
    assert w.r.hget(state(T), "held_ids") == " ".join(ids)
    # dead letters trimmed by retention leave the list with the next hold
    w.r.xtrim(P + "dead", minid=ids[2], approximate=False)
    eid = running(w)
    fail(w, eid, "c1:" + eid, state_="held", code="shrink_guard",
         extra=COUNTS)
    new = w.r.xrange(P + "dead")[-1][0]
    assert w.r.hget(state(T), "held_ids") == ids[2] + " " + new
    # a failure is no hold: no counts, nothing kept
    eid = running(w)
    events.all()
    fail(w, eid, "c1:" + eid, extra=COUNTS)
    [ev] = events.all()
    assert "removed" not in ev
    assert w.r.hget(state(T), "held_ids") == ids[2] + " " + new


def test_fail_leaves_a_lock_that_is_not_ours(w):
    eid = w.take(T)
    w.r.set(lock(T), "c2:other")
    fail(w, eid, "")		# a malformed job never held the lock
    assert w.r.get(lock(T)) == "c2:other"
    assert w.pending() == []


def test_a_refused_token_takes_the_teacher_off_the_schedule(w):
    w.r.zadd(SCHEDULE, {T: 1})
    w.r.set(P + "token:" + T, "secret-token")
    eid = running(w)
    fail(w, eid, "c1:" + eid, code="reauthorize")
    assert w.r.zscore(SCHEDULE, T) is None
    assert w.r.zscore(LEFT, T) is not None
    st = w.r.hgetall(state(T))
    assert st["schedule_left"] == "reauthorize"
    assert st["reauth_owner"] == "teacher"
    assert len(st["reauth_token"]) == 16 and "secret" not in st["reauth_token"]
    assert w.r.zscore(REAUTH, T) is not None
    assert w.r.xlen(P + "dead") == 1, "the app's job: a dead letter"


def test_a_scheduled_job_that_leaves_adds_no_dead_letter(w):
    w.r.zadd(SCHEDULE, {T: 1})
    eid = running(w)
    fail(w, eid, "c1:" + eid, code="no_token", trigger="schedule")
    assert w.r.zscore(SCHEDULE, T) is None
    assert w.r.hget(state(T), "schedule_left") == "no_token"
    assert w.r.xlen(P + "dead") == 0
    assert w.r.zscore(REAUTH, T) is None, "only reauthorize awaits a token"


def test_a_transient_death_keeps_the_teacher_on_the_schedule(w):
    w.r.zadd(SCHEDULE, {T: 1})
    eid = running(w)
    fail(w, eid, "c1:" + eid, state_="dead", code="clever_unavailable",
         trigger="schedule")
    assert w.r.zscore(SCHEDULE, T) == 1


def test_fail_keeps_the_traceparent_in_the_dead_letter_for_a_retry(w, events):
    eid = running(w, tp=TP)
    events.all()
    assert fail(w, eid, "c1:" + eid) == ["OK"]
    [(_, dl)] = w.r.xrange(P + "dead")
    assert dl["traceparent"] == TP
    [ev] = events.all()
    assert ev["traceparent"] == TP
