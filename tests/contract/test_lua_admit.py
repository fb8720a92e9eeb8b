"""admit.lua: a batch of jobs read from the stream, each run (the teacher
lock taken), coalesced with a later sync, told to wait, or let go."""
from lua_harness import (GROUP, JOBS, LOCK_TTL, STATUS_TTL, T, TP, U, admit,
                         lock, running, state, status, taken_over)


def test_admit_takes_the_free_lock_and_runs_the_job(w, events):
    eid = w.take(T)
    req = int(eid.split("-")[0])
    [reply] = admit(w, (eid, T, "sync", "user-42", req))
    assert reply[0] == "R" and reply[2] == 1
    started = int(reply[1])
    assert started >= req
    assert w.r.get(lock(T)) == "c1:" + eid
    assert 0 < w.r.pttl(lock(T)) <= LOCK_TTL
    st = w.r.hgetall(status(eid))
    assert st["state"] == "running" and st["attempts"] == "1"
    assert st["consumer"] == "c1" and st["started_ms"] == str(started)
    assert st["ref"] == "user-42" and st["created_ms"] == str(req)
    assert st["trigger"] == "app"
    assert 0 < w.r.ttl(status(eid)) <= STATUS_TTL
    assert w.pending() == [eid], "a running job's entry stays pending"
    [ev] = events.all()
    assert ev == {"job": eid, "teacher": T, "state": "running",
                  "attempts": 1, "trigger": "app", "ref": "user-42"}


def test_admit_counts_each_attempt(w):
    eid = w.take(T)
    admit(w, (eid, T, "sync", "", 1))
    w.r.delete(lock(T))		# as a retry releases it
    [reply] = admit(w, (eid, T, "sync", "", 1))
    assert reply[0] == "R" and reply[2] == 2


def test_admit_reports_busy_while_another_sync_holds_the_lock(w, events):
    w.r.set(lock(T), "c2:other", px=LOCK_TTL)
    eid = w.take(T)
    assert admit(w, (eid, T, "sync", "", 1)) == [["B"]]
    assert admit(w, (eid, T, "sync", "", 1)) == [["B"]]
    assert w.r.get(lock(T)) == "c2:other", "the other sync's lock is untouched"
    st = w.r.hgetall(status(eid))
    assert st["state"] == "queued" and "waiting" in st["note"]
    assert "attempts" not in st, "waiting is not an attempt"
    assert w.pending() == [eid]
    assert [e["state"] for e in events.all()] == ["queued"], \
        "a job still waiting is not announced again"


def test_admit_coalesces_a_request_that_a_later_sync_satisfied(w, events):
    eid = w.take(T)
    req = int(eid.split("-")[0])
    w.r.hset(state(T), mapping={"done_started_ms": req + 5,
                                "done_job": "1-1", "done_version": 3})
    ref = 'the "app\'s" ref'
    assert admit(w, (eid, T, "sync", ref, req)) == [["C", "1-1"]]
    st = w.r.hgetall(status(eid))
    assert st["state"] == "done" and st["result"] == "coalesced"
    assert st["coalesced_with"] == "1-1" and st["version"] == "3"
    assert st["ref"] == ref
    assert w.pending() == [], "the satisfied request is acknowledged"
    assert not w.r.exists(lock(T)), "no sync runs for it"
    [ev] = events.all()
    assert ev == {"job": eid, "teacher": T, "state": "done",
                  "result": "coalesced", "coalesced_with": "1-1", "ref": ref}


def test_admit_does_not_coalesce_with_a_sync_that_started_before(w):
    eid = w.take(T)
    req = int(eid.split("-")[0])
    w.r.hset(state(T), mapping={"done_started_ms": req - 1,
                                "done_job": "1-1", "done_version": 3})
    [reply] = admit(w, (eid, T, "sync", "", req))
    assert reply[0] == "R"


def test_a_discovery_is_satisfied_by_any_later_listing_a_sync_only_by_a_full_one(w, events):
    e1, e2 = w.take(T, kind="discover"), w.take(T)
    req = int(e2.split("-")[0])
    # the last discovery started after both requests, the last full sync before
    w.r.hset(state(T), mapping={"sections_started_ms": req + 10,
                                "sections_job": "9-1", "sections": 7,
                                "done_started_ms": req - 10, "done_job": "8-1"})
    r1, r2 = admit(w, (e1, T, "discover", "", req), (e2, T, "sync", "", req))
    assert r1 == ["C", "9-1"]
    assert r2[0] == "R"
    st = w.r.hgetall(status(e1))
    assert (st["result"], st["coalesced_with"], st["sections"]) == (
        "coalesced", "9-1", "7")
    ev = [e for e in events.all() if e["job"] == e1][0]
    assert (ev["coalesced_with"], ev["sections"]) == ("9-1", 7)


def test_a_discovery_is_not_satisfied_by_a_sync_that_listed_no_sections(w):
    # a sync that started later but fetched no list (every answer
    # unchanged: nothing parsed) leaves the picker's list as it was
    e1 = w.take(T, kind="discover")
    req = int(e1.split("-")[0])
    w.r.hset(state(T), mapping={"any_started_ms": req + 10, "any_job": "9-1",
                                "sections_started_ms": req - 10,
                                "sections_job": "8-1"})
    [r1] = admit(w, (e1, T, "discover", "", req))
    assert r1[0] == "R"


def test_admit_forgets_a_job_whose_entry_another_instance_took(w, events):
    eid = running(w)
    taken_over(w, eid)
    w.r.delete(lock(T))
    w.r.hset(status(eid), mapping={"state": "running", "consumer": "c2"})
    events.all()
    assert admit(w, (eid, T, "sync", "", 1)) == [["G"]]
    assert w.r.hget(status(eid), "consumer") == "c2", "nothing written"
    assert not w.r.exists(lock(T)) and events.all() == []


def test_admit_never_moves_a_finished_status_back(w, events):
    eid = running(w)
    # another instance ran the job to its end: acknowledged, done
    w.r.xack(JOBS, GROUP, eid)
    w.r.delete(lock(T))
    w.r.hset(status(eid), mapping={"state": "done", "result": "changed"})
    events.all()
    assert admit(w, (eid, T, "sync", "", 1)) == [["G"]]
    st = w.r.hgetall(status(eid))
    assert st["state"] == "done" and st["result"] == "changed"
    assert not w.r.exists(lock(T)) and events.all() == []


def test_admit_answers_each_job_of_a_batch_in_order(w):
    e1, e2, e3 = w.take(T), w.take(T), w.take(U)
    req = int(e3.split("-")[0])
    w.r.hset(state(U), mapping={"done_started_ms": req + 1, "done_job": "7-1"})
    r1, r2, r3 = admit(w, (e1, T, "sync", "", req), (e2, T, "sync", "", req),
                       (e3, U, "sync", "", req))
    assert r1[0] == "R"
    assert r2 == ["B"], "the batch's first job of the teacher took the lock"
    assert r3 == ["C", "7-1"]
    assert w.pending() == [e1, e2]


def test_admit_never_coalesces_a_forget(w):
    eid = w.take(T, kind="forget")
    req = int(eid.split("-")[0])
    w.r.hset(state(T), mapping={"done_started_ms": req + 5, "done_job": "1-1"})
    [reply] = admit(w, (eid, T, "forget", "", req))
    assert reply[0] == "R"


def test_admit_gives_each_job_its_own_status_ttl(w):
    a, b = w.take(T), w.take(U)
    r = admit(w, (a, T, "sync", "", 1), ttl=100)
    r += admit(w, (b, U, "sync", "", 1), trigger="schedule", ttl=50)
    assert [x[0] for x in r] == ["R", "R"]
    assert 90 < w.r.ttl(status(a)) <= 100 and 40 < w.r.ttl(status(b)) <= 50
    assert w.r.hget(status(b), "trigger") == "schedule"


def test_admit_keeps_the_apps_traceparent_in_the_status_and_events(w, events):
    eid = w.take(T)
    req = int(eid.split("-")[0])
    [reply] = admit(w, (eid, T, "sync", "r", req, TP))
    assert reply[0] == "R"
    assert w.r.hget(status(eid), "traceparent") == TP
    [ev] = events.all()
    assert ev["traceparent"] == TP
    # coalesced (its event built by hand) and queued alike
    w.r.hset(state(U), mapping={"done_started_ms": req + 5, "done_job": "1-1",
                                "done_version": 3})
    other = w.take(U)
    assert admit(w, (other, U, "sync", "r", req, TP)) == [["C", "1-1"]]
    assert w.r.hget(status(other), "traceparent") == TP
    busy = w.take(T)
    assert admit(w, (busy, T, "sync", "r", req, TP)) == [["B"]]
    assert w.r.hget(status(busy), "traceparent") == TP
    assert [e["traceparent"] for e in events.all()] == [TP, TP]
    # none given: none kept, none told
    plain = w.take(U)
    admit(w, (plain, U, "sync", "r", req + 10))
    assert "traceparent" not in w.r.hgetall(status(plain))
    assert all("traceparent" not in e for e in events.all())
