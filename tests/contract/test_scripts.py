"""The Redis contract's scripts (daemon/lua/), each on its own, on a real
redis-server and without rosterd: these tests are the specification of
what each script does with its KEYS and ARGV."""
import pytest

from lua_harness import EVENTS, GROUP, JOBS, P

T = "58da8c63d7dc0ca068000478"	# a teacher
U = "58da8c63d7dc0ca068000479"	# another one
LOCK_TTL = 30000
STATUS_TTL = 3600


def status(t):
    return P + "job:" + t


def state(t):
    return P + "state:{%s}" % t


def lock(t):
    return P + "lock:{%s}" % t


def snapshot(t):
    return P + "snapshot:{%s}" % t


SCHEDULE, LEFT, REAUTH = P + "schedule", P + "schedule:left", P + "reauthorize"
SCHED_KEYS = [SCHEDULE, LEFT, REAUTH]


# ---- admit ----

def admit(w, *jobs, trigger="app", ttl=STATUS_TTL):
    """jobs: (entry id, teacher, kind, ref, request ms); job id = entry id,
    lock value = consumer:job id, as rosterd does."""
    keys, args = [JOBS], [GROUP, "c1", LOCK_TTL, EVENTS, len(jobs)]
    for eid, teacher, kind, ref, req in jobs:
        keys += [status(eid), state(teacher), lock(teacher)]
        args += [eid, eid, teacher, kind, ref, req, "c1:" + eid, trigger,
                 ttl]
    return w.lua.admit(keys, args)


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


def test_a_discovery_is_satisfied_by_any_later_sync_a_sync_only_by_a_full_one(w):
    e1, e2 = w.take(T, kind="discover"), w.take(T)
    req = int(e2.split("-")[0])
    # the last discovery started after both requests, the last full sync before
    w.r.hset(state(T), mapping={"any_started_ms": req + 10, "any_job": "9-1",
                                "done_started_ms": req - 10, "done_job": "8-1"})
    r1, r2 = admit(w, (e1, T, "discover", "", req), (e2, T, "sync", "", req))
    assert r1 == ["C", "9-1"]
    assert r2[0] == "R"


def taken_over(w, eid, by="c2"):
    """Another instance takes the entry over (XAUTOCLAIM does this to an
    entry idle past claim_idle_ms while its consumer is frozen)."""
    w.r.xclaim(JOBS, GROUP, by, 0, [eid], justid=True)


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


# ---- load ----

def load(w, t, kind="sync"):
    return w.lua.load([P + "token:" + t, state(t), snapshot(t),
                       P + "selection:{%s}" % t], [kind])


def test_load_returns_what_a_sync_needs(w):
    w.r.set(P + "token:" + T, "tok")
    w.r.hset(state(T), mapping={"district": "d1", "unrecognised": "{}"})
    w.r.hset(snapshot(T), mapping={"version": 4, "roster": '{"v":4}'})
    w.r.set(P + "selection:{%s}" % T, "none")
    assert load(w, T) == ["tok", "d1", "4", '{"v":4}', "none", None, "{}"]


def test_load_answers_false_where_absent_and_version_0(w):
    assert load(w, T) == [None, None, "0", None, None, None, None]


def test_load_leaves_the_roster_out_where_it_is_not_needed_yet(w):
    w.r.hset(snapshot(T), mapping={"version": 4, "roster": '{"v":4}'})
    assert load(w, T, "discover")[2:4] == ["4", None]
    # an ETag record: the sync most likely ends without diffing
    w.r.hset(state(T), "etags", "E1 ...")
    assert load(w, T)[2:4] == ["4", None]
    assert load(w, T)[5] == "E1 ..."


# ---- writeback ----

COUNTS = ('{"added":2,"updated":1,"removed":0,"sections_added":1,'
          '"sections_updated":0,"sections_removed":0,"students_added":1,'
          '"students_updated":1,"students_removed":0,"enrollments_added":0,'
          '"enrollments_removed":0,"teacher_updated":0}')


def writeback(w, eid, base, diff, roster='{"roster":1}', email="",
              authorized_by="teacher", district="", lockval=None,
              trigger="app", interval=86400000, jitter=0):
    keys = [snapshot(T), P + "diffs", status(eid), JOBS, lock(T), state(T),
            P + "accounts"] + SCHED_KEYS
    args = [GROUP, eid, lockval or "c1:" + eid, base, base + 1, roster, diff,
            eid, T, EVENTS, STATUS_TTL, 1000, email, authorized_by,
            COUNTS, 4, district, "user-42", trigger, interval, jitter]
    return w.lua.writeback(keys, args)


def running(w):
    """A sync of T admitted by consumer c1: entry pending, lock held."""
    eid = w.take(T)
    req = int(eid.split("-")[0])
    [reply] = admit(w, (eid, T, "sync", "user-42", req))
    assert reply[0] == "R"
    return eid


def test_writeback_refuses_a_moved_version_and_writes_nothing(w, events):
    eid = running(w)
    w.r.hset(snapshot(T), mapping={"version": 2, "roster": "v2"})
    events.all()
    assert writeback(w, eid, 1, '{"d":1}') == ["CONFLICT", "2"]
    assert w.r.hgetall(snapshot(T)) == {"version": "2", "roster": "v2"}
    assert w.r.xlen(P + "diffs") == 0
    assert w.r.hget(status(eid), "state") == "running"
    assert w.pending() == [eid] and w.r.get(lock(T)) == "c1:" + eid
    assert events.all() == []


def test_writeback_refuses_once_the_lock_is_lost(w):
    eid = running(w)
    w.r.set(lock(T), "c2:other")	# expired, then taken by another sync
    assert writeback(w, eid, 0, '{"d":1}') == ["LOST"]
    assert not w.r.exists(snapshot(T)) and w.r.xlen(P + "diffs") == 0
    assert w.pending() == [eid] and w.r.get(lock(T)) == "c2:other"


def test_writeback_writes_diff_snapshot_status_ack_and_unlock_together(w, events):
    eid = running(w)
    events.all()
    reply = writeback(w, eid, 0, '{"d":1}', district="d1")
    assert reply[0] == "OK" and reply[2] == "1"
    diff_id = reply[1]
    [(did, d)] = w.r.xrange(P + "diffs")
    assert did == diff_id
    assert d == {"v": "1", "teacher": T, "job": eid, "ref": "user-42",
                 "base_version": "0", "version": "1", "added": "2",
                 "updated": "1", "removed": "0", "diff": '{"d":1}'}
    sn = w.r.hgetall(snapshot(T))
    assert sn["version"] == "1" and sn["roster"] == '{"roster":1}'
    assert sn["job"] == eid and sn["diff_id"] == diff_id and "synced_ms" in sn
    tst = w.r.hgetall(state(T))
    assert tst["done_started_ms"] == tst["any_started_ms"] == "1000"
    assert tst["done_job"] == tst["any_job"] == eid
    assert tst["done_version"] == "1" and tst["district"] == "d1"
    st = w.r.hgetall(status(eid))
    assert st["state"] == "done" and st["result"] == "changed"
    assert st["version"] == "1" and st["base_version"] == "0"
    assert st["diff_id"] == diff_id and st["requests"] == "4"
    assert st["added"] == "2" and st["students_updated"] == "1"
    assert 0 < w.r.ttl(status(eid)) <= STATUS_TTL
    assert w.pending() == [] and not w.r.exists(lock(T))
    [ev] = events.all()
    assert ev["state"] == "done" and ev["result"] == "changed"
    assert ev["diff_id"] == diff_id and ev["version"] == 1
    assert ev["ref"] == "user-42"


@pytest.mark.parametrize("roster,kept", [("", "v3"),
                                         ("v3 format 2", "v3 format 2")])
def test_writeback_without_changes_writes_no_diff(w, roster, kept):
    """Without a diff the snapshot keeps its version; a roster given is
    the same one in the current snapshot format, replacing an older text."""
    w.r.hset(snapshot(T), mapping={"version": 3, "roster": "v3",
                                   "diff_id": "5-0", "synced_ms": 1})
    eid = running(w)
    reply = writeback(w, eid, 3, "", roster=roster)
    assert reply == ["OK", "", "3", "", ""]
    assert w.r.xlen(P + "diffs") == 0
    sn = w.r.hgetall(snapshot(T))
    assert sn["version"] == "3" and sn["roster"] == kept
    assert sn["diff_id"] == "5-0"
    assert int(sn["synced_ms"]) > 1, "the snapshot says when it was confirmed"
    st = w.r.hgetall(status(eid))
    assert st["result"] == "no changes" and st["diff_id"] == ""
    assert w.r.hget(state(T), "done_version") == "3"
    assert w.pending() == []


def test_writeback_reports_the_account_and_a_changed_authorization(w):
    w.r.hset(P + "accounts", "jane@example.org", "app-7")
    w.r.hset(state(T), "authorized_by", "teacher")
    eid = running(w)
    reply = writeback(w, eid, 0, '{"d":1}', email="jane@example.org",
                      authorized_by="district")
    assert reply[3:] == ["app-7", "teacher->district"]
    st = w.r.hgetall(status(eid))
    assert st["account"] == "app-7"
    assert st["authorized_by_changed"] == "teacher->district"


# ---- discovered ----

def discovered(w, eid, lockval=None):
    keys = [P + "sections:{%s}" % T, status(eid), JOBS, lock(T), state(T)]
    args = [GROUP, eid, lockval or "c1:" + eid, '[{"id":"s1"}]', eid, T,
            EVENTS, STATUS_TTL, 2000, 1, 3, "teacher", "r"]
    return w.lua.discovered(keys, args)


def test_discovered_stores_the_section_list_for_the_picker(w, events):
    w.r.hset(state(T), mapping={"done_started_ms": 5, "any_started_ms": 5})
    eid = running(w)
    events.all()
    assert discovered(w, eid) == ["OK"]
    assert w.r.get(P + "sections:{%s}" % T) == '[{"id":"s1"}]'
    tst = w.r.hgetall(state(T))
    assert tst["any_started_ms"] == "2000" and tst["any_job"] == eid
    assert tst["done_started_ms"] == "5", "a discovery satisfies no full sync"
    st = w.r.hgetall(status(eid))
    assert st["result"] == "discovered" and st["sections"] == "1"
    assert w.pending() == [] and not w.r.exists(lock(T))
    [ev] = events.all()
    assert ev["result"] == "discovered" and ev["sections"] == 1


def test_discovered_refuses_once_the_lock_is_lost(w):
    eid = running(w)
    assert discovered(w, eid, lockval="c1:someone-else") == ["LOST"]
    assert not w.r.exists(P + "sections:{%s}" % T)
    assert w.pending() == [eid]


# ---- fail ----

def fail(w, eid, lockval, state_="failed", extra="{}", teacher=T, drop="0",
         code="not_shared", trigger="app", owner="teacher"):
    keys = [status(eid), JOBS, lock(teacher), P + "dead", state(teacher)] + \
        SCHED_KEYS + [P + "token:" + teacher]
    args = [GROUP, eid, lockval, eid, teacher, "sync", "r", state_,
            code, "Clever answered 404", EVENTS, STATUS_TTL, extra,
            "d1", "0", "c1", drop, trigger, owner]
    return w.lua.fail(keys, args)


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


def test_fail_leaves_a_lock_that_is_not_ours(w):
    eid = w.take(T)
    w.r.set(lock(T), "c2:other")
    fail(w, eid, "")		# a malformed job never held the lock
    assert w.r.get(lock(T)) == "c2:other"
    assert w.pending() == []


# ---- retry ----

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


# ---- handback ----

def handback(w, eid, lockval, trigger="app"):
    return w.lua.handback([JOBS, status(eid), lock(T)],
                          [GROUP, eid, lockval, eid, T, "sync", "user-42",
                           "d1", 1234, "1", EVENTS, "c1", trigger])


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


# ---- touch ----

def test_touch_keeps_our_entries_fresh_and_names_those_not_ours(w):
    mine, theirs, done = w.take(T), w.take(T), w.take(U)
    taken_over(w, theirs)
    w.r.xack(JOBS, GROUP, done)
    w.r.execute_command("XCLAIM", JOBS, GROUP, "c1", 0, mine, "IDLE", 60000,
                        "JUSTID")
    idle = {p["message_id"]: p for p in
            w.r.xpending_range(JOBS, GROUP, "-", "+", 10)}
    assert idle[mine]["time_since_delivered"] >= 60000
    lost = w.lua.touch([JOBS], [GROUP, "c1", mine, theirs, done])
    assert sorted(lost) == sorted([theirs, done])
    p = {p["message_id"]: p for p in
         w.r.xpending_range(JOBS, GROUP, "-", "+", 10)}
    assert p[mine]["consumer"] == "c1" and p[mine]["time_since_delivered"] < 60000
    assert p[theirs]["consumer"] == "c2", "never claimed back"
    assert done not in p


# ---- renew ----

def test_renew_extends_our_lock_only(w):
    w.r.set(lock(T), "c1:j", px=1000)
    assert w.lua.renew([lock(T)], ["c1:j", LOCK_TTL]) == 1
    assert w.r.pttl(lock(T)) > 1000
    w.r.set(lock(T), "c2:k", px=1000)
    assert w.lua.renew([lock(T)], ["c1:j", LOCK_TTL]) == 0
    assert w.r.pttl(lock(T)) <= 1000 and w.r.get(lock(T)) == "c2:k"


# ---- permit and observe: the shared rate-limit buckets ----

RL = P + "ratelimit:{rl}:teacher:%s" % T
RL2 = P + "ratelimit:{rl}:teacher:%s" % ("b" * 24)
APP = P + "ratelimit:{rl}:app"
WINDOW = 60000


def permit(w, n, limit=10, key=RL, share=100):
    return w.lua.permit([key, APP], [n, limit, WINDOW, share])


def observe(w, buckets, was_429=0, key=RL):
    """buckets: (name, scope 't'|'a', limit, remaining, reset_s) tuples."""
    args = [was_429, WINDOW, len(buckets)]
    for b in buckets:
        args += list(b)
    return w.lua.observe([key, APP], args)


def bearer(limit, remaining, reset_s):
    return [("bearer", "t", limit, remaining, reset_s)]


def warm(w):
    """Headers seen: the app's buckets (none) are known for a window."""
    observe(w, [])


def test_permit_opens_a_window_with_the_first_request(w):
    warm(w)
    before = w.now_ms()
    # a window of ours, not yet confirmed by Clever: observe the responses
    assert permit(w, 3) == [3, 0, 1]
    h = w.r.hgetall(RL)
    assert h["bearer.used"] == "3" and h["bearer.limit"] == "10"
    assert before + WINDOW <= int(h["bearer.reset"]) <= w.now_ms() + WINDOW


def test_permit_grants_fewer_than_asked_when_the_window_runs_out(w):
    warm(w)
    assert permit(w, 8) == [8, 0, 1]
    granted, wait, _ = permit(w, 5)
    assert granted == 2
    assert 0 < wait <= WINDOW
    granted, wait, _ = permit(w, 1)
    assert granted == 0 and 0 < wait <= WINDOW
    assert w.r.hget(RL, "bearer.used") == "10"


def test_permit_starts_a_new_window_after_the_reset(w):
    warm(w)
    w.r.hset(RL, mapping={"bearer.reset": w.now_ms() - 1, "bearer.used": 10,
                          "bearer.limit": 10})
    assert permit(w, 4) == [4, 0, 1]
    assert w.r.hget(RL, "bearer.used") == "4"


def test_cold_permits_stop_at_the_tightest_limit_until_headers_come(w):
    # rosterd's start: nothing known of the app's buckets
    assert permit(w, 20, limit=30) == [20, 0, 1]
    # another token: the cold budget (the tightest limit) is the app's
    granted, wait, cold = permit(w, 20, limit=30, key=RL2)
    assert (granted, cold) == (10, 1)
    assert 0 < wait < 1000, "a short wait: headers are on their way"
    assert permit(w, 1, limit=30, key=RL2)[0] == 0
    # the first response: an app bucket of 50, 20 left; known now
    reset_s = w.now_ms() // 1000 + 30
    observe(w, bearer(30, 10, reset_s) + [("app", "a", 50, 20, reset_s)])
    granted, wait, cold = permit(w, 30, limit=30, key=RL2)
    assert granted == 20, "the app bucket's 20 left bind"
    assert 20000 < wait <= WINDOW


def test_a_window_clever_spoke_of_needs_no_more_observing(w):
    warm(w)
    assert permit(w, 2)[2] == 1
    reset_s = w.now_ms() // 1000 + 30
    observe(w, bearer(10, 8, reset_s))
    assert permit(w, 2) == [2, 0, 0]
    # our next window is ours again until Clever confirms it
    w.r.hset(RL, "bearer.reset", w.now_ms() - 1)
    assert permit(w, 2)[2] == 1


def test_every_request_draws_from_every_bucket(w):
    reset_s = w.now_ms() // 1000 + 30
    observe(w, bearer(10, 10, reset_s) + [("app", "a", 12, 12, reset_s)])
    assert permit(w, 8) == [8, 0, 0]
    # another token's own bucket is fresh, the shared one has 4 left
    assert permit(w, 8, key=RL2)[0] == 4
    assert w.r.hget(APP, "app.used") == "12"
    assert w.r.hget(APP, "names") == "app"
    assert w.r.hget(RL, "names") == "bearer"


def test_observe_adopts_clevers_limit_count_and_reset(w):
    reset_s = w.now_ms() // 1000 + 30
    assert observe(w, bearer(50, 20, reset_s)) == 0
    h = w.r.hgetall(RL)
    assert h["bearer.limit"] == "50" and h["bearer.used"] == "30"
    # Clever's reset has one-second resolution: the end of that second
    assert h["bearer.reset"] == str((reset_s + 1) * 1000)
    granted, _, _ = permit(w, 100, limit=1200)
    assert granted == 20, "permits follow Clever's count, not the default"


def test_observe_keeps_the_larger_count_of_responses_out_of_order(w):
    reset_s = w.now_ms() // 1000 + 30
    observe(w, bearer(50, 10, reset_s))
    observe(w, bearer(50, 30, reset_s))	# an older response, arriving late
    assert w.r.hget(RL, "bearer.used") == "40"


def test_observe_restarts_from_clevers_count_when_its_window_rolled_over(w):
    now_s = w.now_ms() // 1000
    observe(w, bearer(50, 0, now_s + 2))
    observe(w, bearer(50, 45, now_s + 62))	# Clever's next window
    h = w.r.hgetall(RL)
    assert h["bearer.used"] == "5"
    assert h["bearer.reset"] == str((now_s + 63) * 1000)


def test_observe_blocks_the_window_after_a_429_until_the_reset(w):
    warm(w)
    permit(w, 1)
    observe(w, [], was_429=1)
    assert w.r.hget(RL, "bearer.blocked") is not None
    granted, wait, _ = permit(w, 1)
    assert granted == 0 and 50000 < wait <= WINDOW


def test_a_429_of_the_app_bucket_blocks_that_bucket_only(w):
    reset_s = w.now_ms() // 1000 + 20
    observe(w, bearer(30, 10, reset_s) + [("app", "a", 50, 0, reset_s)],
            was_429=1)
    assert w.r.hget(APP, "app.blocked") is not None
    assert w.r.hget(RL, "bearer.blocked") is None
    granted, wait, _ = permit(w, 1, key=RL2)
    assert granted == 0 and 18000 < wait <= 22000


def test_observe_blocks_the_window_when_nothing_remains(w):
    reset_s = w.now_ms() // 1000 + 20
    observe(w, bearer(50, 0, reset_s))
    assert permit(w, 1)[0] == 0


def test_a_response_without_headers_changes_nothing_but_cold(w):
    permit(w, 2)
    before = w.r.hgetall(RL)
    observe(w, [])
    after = w.r.hgetall(RL)
    assert after["bearer.used"] == before["bearer.used"]
    assert "bearer.blocked" not in after
    assert int(w.r.hget(APP, "known_until")) > w.now_ms()


# ---- probe: what the ACL allows, without doing it ----

def test_probe_names_the_denied_checks_and_touches_nothing(w):
    import redis as redislib
    w.r.acl_setuser("u", enabled=True, passwords=["+pw"],
                    commands=["+@all", "-xadd"], keys=["rosterd:*"],
                    channels=["rosterd:events"])
    u = redislib.Redis(host="127.0.0.1", port=w.r.connection_pool
                       .connection_kwargs["port"], username="u",
                       password="pw", decode_responses=True)
    probe = u.register_script(w.lua._s["probe"].script)
    checks = [["GET", P + "token:T"],			# 1 allowed
              ["XADD", P + "diffs", "*", "f", "v"],	# 2 command denied
              ["GET", "other:key"],			# 3 key denied
              ["PUBLISH", P + "events", "m"],		# 4 allowed
              ["PUBLISH", "other", "m"]]			# 5 channel denied
    args = [len(checks)]
    for c in checks:
        args += [len(c)] + c
    assert probe(keys=[], args=args) == [2, 3, 5]
    assert w.r.dbsize() == 1, "only the stream of the fixture exists"
    assert probe(keys=[], args=[1, 1, "TIME"]) == []


# ---- beat and reap: instances and their consumers ----

INST = P + "instance:c1"


def test_beat_writes_the_heartbeat_with_an_expiry(w):
    before = w.now_ms()
    assert w.lua.beat([INST], [20000, "consumer", "c1", "jobs", 3]) == 1
    h = w.r.hgetall(INST)
    assert h["consumer"] == "c1" and h["jobs"] == "3"
    assert int(h["last_beat_ms"]) >= before
    assert h["started_ms"] == h["last_beat_ms"]
    assert 0 < w.r.pttl(INST) <= 20000
    w.lua.beat([INST], [20000, "jobs", 0])
    h2 = w.r.hgetall(INST)
    assert h2["started_ms"] == h["started_ms"], "the first beat stays"
    assert h2["jobs"] == "0"


def reap(w, consumer, idle_ms):
    return w.lua.reap([JOBS, P + "instance:" + consumer],
                      [GROUP, consumer, idle_ms])


def consumers(w):
    return [c["name"] for c in w.r.xinfo_consumers(JOBS, GROUP)]


def test_reap_removes_a_gone_consumer_with_nothing_pending(w):
    w.r.xgroup_createconsumer(JOBS, GROUP, "gone")
    assert "gone" in consumers(w)
    assert reap(w, "gone", 0) == 1
    assert "gone" not in consumers(w)


def test_reap_spares_a_consumer_with_a_heartbeat(w):
    w.r.xgroup_createconsumer(JOBS, GROUP, "alive")
    w.r.hset(P + "instance:alive", "consumer", "alive")
    assert reap(w, "alive", 0) == 0
    assert "alive" in consumers(w)


def test_reap_spares_a_consumer_that_holds_entries(w):
    w.take(T, consumer="holder")	# an entry pending with it
    assert reap(w, "holder", 0) == 0
    assert "holder" in consumers(w)


def test_reap_spares_a_consumer_idle_for_less_than_asked(w):
    w.r.xgroup_createconsumer(JOBS, GROUP, "fresh")
    assert reap(w, "fresh", 60000) == 0
    assert "fresh" in consumers(w)


# ---- trim: bounded streams, nothing unread lost unsaid ----

DIFFS, DEAD, LOST, TRIM_LOCK = P + "diffs", P + "dead", P + "diffs_lost", P + "trim_lock"


def trim(w, dead_max=100, dead_age_ms=10 ** 12, diffs_max=0):
    w.r.delete(TRIM_LOCK)
    return w.lua.trim([JOBS, DEAD, DIFFS, LOST, TRIM_LOCK],
                      [GROUP, 60000, dead_max, dead_age_ms, diffs_max, EVENTS])


def test_trim_keeps_jobs_until_acknowledged(w):
    done = [w.take(T) for _ in range(3)]
    w.r.xack(JOBS, GROUP, *done[:2])		# the third is still pending
    later = w.r.xadd(JOBS, {"teacher": T})	# not delivered yet
    assert trim(w)[0] == 2
    assert [e for e, _ in w.r.xrange(JOBS)] == [done[2], later]


def test_trim_bounds_dead_letters_by_count_and_age(w):
    for i in range(5):
        w.r.xadd(DEAD, {"job": str(i)})
    assert trim(w, dead_max=3)[1] == 2
    assert [f["job"] for _, f in w.r.xrange(DEAD)] == ["2", "3", "4"]


def test_trim_removes_dead_letters_older_than_the_age(w):
    for ms in (1000, 2000, 3000):	# failed long ago (ids are times)
        w.r.xadd(DEAD, {"job": str(ms)}, id="%d-0" % ms)
    w.r.xadd(DEAD, {"job": "now"})
    # keep what failed at 2500 ms since the epoch or later
    assert trim(w, dead_age_ms=w.now_ms() - 2500)[1] == 2
    assert [f["job"] for _, f in w.r.xrange(DEAD)] == ["3000", "now"]


def test_trim_keeps_the_diffs_a_group_still_needs(w):
    ids = [w.r.xadd(DIFFS, {"d": str(i)}) for i in range(6)]
    w.r.xgroup_create(DIFFS, "fast", id="0")
    w.r.xgroup_create(DIFFS, "slow", id="0")
    w.r.xreadgroup("fast", "a", {DIFFS: ">"}, count=6)
    w.r.xack(DIFFS, "fast", *ids)
    w.r.xreadgroup("slow", "a", {DIFFS: ">"}, count=3)	# 3 delivered,
    w.r.xack(DIFFS, "slow", ids[0])			# 2 pending
    assert trim(w)[2] == 1
    assert [e for e, _ in w.r.xrange(DIFFS)] == ids[1:]


def test_trim_removes_diffs_every_group_has_acknowledged(w):
    ids = [w.r.xadd(DIFFS, {"d": str(i)}) for i in range(4)]
    w.r.xgroup_create(DIFFS, "app", id="0")
    w.r.xreadgroup("app", "a", {DIFFS: ">"}, count=4)
    w.r.xack(DIFFS, "app", *ids)
    assert trim(w)[2] == 4 and w.r.xlen(DIFFS) == 0


def test_trim_cap_says_which_group_lost_what(w, events):
    ids = [w.r.xadd(DIFFS, {"d": str(i)}) for i in range(6)]
    w.r.xgroup_create(DIFFS, "lagging", id="0")
    w.r.xreadgroup("lagging", "a", {DIFFS: ">"}, count=1)
    w.r.xack(DIFFS, "lagging", ids[0])		# it needs ids[1] on
    assert trim(w, diffs_max=2) == [0, 0, 4, 1]
    assert [e for e, _ in w.r.xrange(DIFFS)] == ids[4:]
    assert w.r.hgetall(LOST) == {"lagging": ids[1]}
    [ev] = events.all()
    assert ev == {"event": "diffs_lost", "group": "lagging",
                  "first_lost": ids[1], "resume_from": ids[4]}


def test_trim_runs_once_per_interval(w):
    w.r.xadd(DEAD, {"job": "1"})
    w.r.xadd(DEAD, {"job": "2"})
    assert trim(w, dead_max=1)[1] == 1
    assert w.lua.trim([JOBS, DEAD, DIFFS, LOST, TRIM_LOCK],
                      [GROUP, 60000, 1, 10 ** 12, 0, EVENTS]) == [-1]


# ---- forget ----

def forget(w, eid, base, diff, delete_token=0, lockval=None):
    keys = [snapshot(T), P + "diffs", status(eid), JOBS, lock(T), state(T),
            P + "sections:{%s}" % T, P + "selection:{%s}" % T,
            P + "token:" + T, P + "ratelimit:{rl}:teacher:" + T] + SCHED_KEYS
    args = [GROUP, eid, lockval or "c1:" + eid, base, diff, eid, T, EVENTS,
            STATUS_TTL, COUNTS, delete_token, "r"]
    return w.lua.forget(keys, args)


def test_forget_writes_the_final_diff_and_deletes_the_teachers_keys(w, events):
    w.r.hset(snapshot(T), mapping={"version": 2, "roster": "v2"})
    for k in (state(T), P + "sections:{%s}" % T, P + "selection:{%s}" % T,
              P + "token:" + T):
        w.r.set(k, "x") if "state" not in k else w.r.hset(k, "a", 1)
    eid = running(w)
    events.all()
    reply = forget(w, eid, 2, '{"d":"all gone"}')
    assert reply[0] == "OK" and reply[2] == "3"
    [(did, d)] = w.r.xrange(P + "diffs")
    assert did == reply[1] and d["base_version"] == "2" and d["version"] == "3"
    assert d["forgotten"] == "1" and d["teacher"] == T
    assert w.r.exists(P + "token:" + T), "the token is the app's"
    assert not any(w.r.exists(k) for k in (snapshot(T), state(T), lock(T),
                   P + "sections:{%s}" % T, P + "selection:{%s}" % T))
    st = w.r.hgetall(status(eid))
    assert st["result"] == "forgotten" and "teacher" not in st
    assert w.pending() == []
    [ev] = events.all()
    assert ev["result"] == "forgotten" and ev["teacher"] == T


def test_forget_deletes_the_token_only_when_asked(w):
    w.r.set(P + "token:" + T, "tok")
    eid = running(w)
    assert forget(w, eid, 0, "", delete_token=1)[0] == "OK"
    assert not w.r.exists(P + "token:" + T)
    assert w.r.xlen(P + "diffs") == 0, "nothing synced: no diff"


def test_forget_refuses_a_moved_version(w):
    w.r.hset(snapshot(T), mapping={"version": 4, "roster": "v4"})
    eid = running(w)
    assert forget(w, eid, 3, '{"d":1}') == ["CONFLICT", "4"]
    assert w.r.hget(snapshot(T), "version") == "4"


def test_forget_statuses_deletes_only_the_teachers(w):
    w.r.hset(status("1-1"), "teacher", T)
    w.r.hset(status("1-2"), "teacher", U)
    assert w.lua.forget_statuses([status("1-1"), status("1-2")], [T]) == 1
    assert not w.r.exists(status("1-1")) and w.r.exists(status("1-2"))


def test_admit_never_coalesces_a_forget(w):
    eid = w.take(T, kind="forget")
    req = int(eid.split("-")[0])
    w.r.hset(state(T), mapping={"done_started_ms": req + 5, "done_job": "1-1"})
    [reply] = admit(w, (eid, T, "forget", "", req))
    assert reply[0] == "R"


# ---- the freshness schedule ----

INTERVAL, JITTER = 10000, 1000


def due(w, n=100, interval=INTERVAL, jitter=JITTER):
    return w.lua.due([SCHEDULE, JOBS], [GROUP, n, interval, jitter])


def claim(w, *teachers, interval=INTERVAL, jitter=JITTER):
    keys = [SCHEDULE, JOBS]
    for t in teachers:
        keys += [state(t), lock(t)]
    return w.lua.claim(keys, [interval, jitter, len(teachers)] + list(teachers))


def drain(w):
    """Deliver every job entry, as an instance reading the stream does."""
    w.r.xreadgroup(GROUP, "c1", {JOBS: ">"}, count=1000)


def test_an_apps_successful_sync_joins_the_schedule_within_an_interval(w):
    eid = running(w)
    now = w.now_ms()
    assert writeback(w, eid, 0, "", interval=INTERVAL, jitter=JITTER)[0] == "OK"
    d = w.r.zscore(SCHEDULE, T)
    assert now < d <= now + INTERVAL + JITTER + 50


def test_a_scheduled_sync_never_puts_back_a_teacher_that_left(w):
    eid = running(w)
    writeback(w, eid, 0, "", trigger="schedule", interval=INTERVAL)
    assert w.r.zscore(SCHEDULE, T) is None


def test_teachers_spread_evenly_over_the_interval(w):
    """However they joined (here all at once), 2,000 teachers' phases fill
    each tenth of the interval about equally."""
    now = w.now_ms()
    ts = ["%024x" % (0x58da8c63d7dc0ca068000000 + i) for i in range(2000)]
    for t in ts:
        w.r.zadd(SCHEDULE, {t: 0})
    for i in range(0, len(ts), 100):
        claim(w, *ts[i:i + 100], interval=INTERVAL, jitter=0)
    tenths = [0] * 10
    for t in ts:
        d = w.r.zscore(SCHEDULE, t)
        assert now < d <= now + INTERVAL + 1000
        tenths[int((d % INTERVAL) * 10 // INTERVAL)] += 1
    assert all(140 <= n <= 260 for n in tenths), tenths


def test_due_names_the_teachers_due_and_claim_makes_them_jobs(w):
    now = w.now_ms()
    w.r.zadd(SCHEDULE, {T: now - 5, U: now + 5000})
    r = due(w)
    assert r == [0, 0, T]
    assert claim(w, T) == [1, 0]
    [(eid, f)] = w.r.xrange(JOBS)
    assert f == {"teacher": T, "kind": "sync", "trigger": "schedule"}
    nxt = w.r.zscore(SCHEDULE, T)
    assert now < nxt <= now + INTERVAL + JITTER + 50
    assert claim(w, T) == [0, 0], "claimed once: no second job"
    assert w.r.xlen(JOBS) == 1


def next_due(w, teacher, now, interval=INTERVAL, jitter=JITTER):
    """include/schedule.lua's next_due, at a chosen time."""
    import os
    from lua_harness import LUA, embed
    src = embed.expand(os.path.join(LUA, "include", "schedule.lua"))
    return int(w.r.eval(src + "\nreturn next_due(ARGV[1], tonumber(ARGV[2]),"
                        " tonumber(ARGV[3]), tonumber(ARGV[4]))", 0,
                        teacher, now, interval, jitter))


def test_consecutive_due_times_are_an_interval_apart_within_the_jitter(w):
    now = 1796190000000
    for t in (T, U, "x1", "x2", "x3"):
        d = next_due(w, t, now)
        assert now < d <= now + INTERVAL + JITTER
        for _ in range(20):
            d2 = next_due(w, t, d)		# claimed when due
            assert INTERVAL - JITTER <= d2 - d <= INTERVAL + JITTER
            d = d2


def test_a_late_claim_keeps_the_teachers_slots(w):
    """After an outage the teachers due together go back to their own
    slots: they do not stay bunched."""
    now = 1796190000000
    d = next_due(w, T, now)
    late = next_due(w, T, d + 5 * INTERVAL + 1234)
    assert abs((late - d) % INTERVAL) <= JITTER or \
        INTERVAL - (late - d) % INTERVAL <= JITTER
    assert late - (d + 5 * INTERVAL + 1234) <= INTERVAL + JITTER


def test_scheduled_work_yields_while_the_apps_requests_wait(w):
    now = w.now_ms()
    w.r.zadd(SCHEDULE, {T: now - 5})
    w.r.xadd(JOBS, {"teacher": U})		# not read by any instance yet
    assert due(w) == [1, 0]
    drain(w)
    assert due(w) == [0, 0, T]


def test_a_teacher_synced_just_now_or_running_gets_no_job_but_moves_on(w):
    now = w.now_ms()
    w.r.zadd(SCHEDULE, {T: now - 5, U: now - 5})
    w.r.hset(state(T), "done_started_ms", now - 10)
    w.r.set(lock(U), "c9:1-1")
    assert claim(w, T, U) == [0, 2]
    assert w.r.xlen(JOBS) == 0
    assert w.r.zscore(SCHEDULE, T) > now and w.r.zscore(SCHEDULE, U) > now


def test_due_plans_again_members_of_a_longer_interval(w):
    now = w.now_ms()
    w.r.zadd(SCHEDULE, {T: now + 86400000})
    assert due(w)[1] == 1
    assert now < w.r.zscore(SCHEDULE, T) <= now + INTERVAL + JITTER + 50


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


def test_the_apps_next_successful_sync_brings_a_teacher_back(w):
    eid = running(w)
    fail(w, eid, "c1:" + eid, code="reauthorize")
    eid = running(w)
    writeback(w, eid, 0, "", interval=INTERVAL, jitter=JITTER)
    assert w.r.zscore(SCHEDULE, T) is not None
    assert w.r.zscore(LEFT, T) is None and w.r.zscore(REAUTH, T) is None
    st = w.r.hgetall(state(T))
    assert not {"schedule_left", "reauth_token", "reauth_owner"} & set(st)


def unrenewed(w, after_ms, *teachers):
    keys = [REAUTH, JOBS]
    for t in teachers:
        keys += [state(t), P + "token:" + t]
    return w.lua.unrenewed(keys, [after_ms, len(teachers)] + list(teachers))


def test_unrenewed_forgets_only_past_the_limit_and_not_a_renewed_token(w):
    now = w.now_ms()
    for t in (T, U):
        w.r.set(P + "token:" + t, "refused-" + t)
        eid = running(w) if t == T else None
        if eid:
            fail(w, eid, "c1:" + eid, code="reauthorize")
    w.r.zadd(REAUTH, {U: now - 100})
    w.r.hset(state(U), mapping={"reauth_owner": "teacher",
             "reauth_token": w.r.hget(state(T), "reauth_token")})
    w.r.set(P + "token:" + U, "a-brand-new-token")
    w.r.zadd(REAUTH, {T: now - 100})
    assert unrenewed(w, 60000, T, U) == [0, 0], "not yet"
    assert unrenewed(w, 50, T, U) == [1, 1]
    jobs = [f for _, f in w.r.xrange(JOBS) if f.get("trigger")]
    assert jobs == [{"teacher": T, "kind": "forget", "trigger": "unrenewed"}]
    assert w.r.zcard(REAUTH) == 0
    assert "reauth_token" not in w.r.hgetall(state(U))


def test_forget_takes_the_teacher_out_of_every_schedule_set(w):
    for k in SCHED_KEYS:
        w.r.zadd(k, {T: 1, U: 1})
    eid = running(w)
    assert forget(w, eid, 0, "")[0] == "OK"
    for k in SCHED_KEYS:
        assert w.r.zscore(k, T) is None and w.r.zscore(k, U) == 1


def test_scheduled_requests_use_only_their_share_of_a_window(w):
    warm(w)
    assert permit(w, 10, share=50)[0] == 5
    assert permit(w, 10, share=50)[0] == 0
    assert permit(w, 10)[0] == 5, "the app's requests have the rest"


def test_handback_keeps_what_triggered_the_job(w):
    eid = running(w)
    new = handback(w, eid, "c1:" + eid, trigger="schedule")
    assert w.r.xrange(JOBS, new, new)[0][1]["trigger"] == "schedule"


ENROLLED = P + "schedule:enrolled"


def enroll(w, at, nxt, *teachers):
    return w.lua.enroll([SCHEDULE, LEFT, ENROLLED],
                        [at, nxt, INTERVAL, JITTER] + list(teachers))


def test_enroll_plans_teachers_synced_before_the_schedule_once(w):
    w.r.zadd(LEFT, {U: 1})
    w.r.zadd(SCHEDULE, {"kept": 5})
    assert enroll(w, "0", "17", T, U, "kept") == [1, "17"]
    assert w.r.zscore(SCHEDULE, T) > w.now_ms() - 1
    assert w.r.zscore(SCHEDULE, U) is None, "it left: it stays out"
    assert w.r.zscore(SCHEDULE, "kept") == 5
    # another instance that scanned from 0 too writes nothing
    assert enroll(w, "0", "17", "x1") == [0, "17"]
    assert w.r.zscore(SCHEDULE, "x1") is None
    assert enroll(w, "17", "0", "x2") == [1, "done"]
    assert w.r.get(ENROLLED) == "done"


def test_due_drops_a_member_that_is_not_a_teacher_id(w):
    now = w.now_ms()
    w.r.zadd(SCHEDULE, {"bad id!": now - 10, T: now - 5})
    assert due(w) == [0, 0, T]
    assert w.r.zscore(SCHEDULE, "bad id!") is None


def test_admit_gives_each_job_its_own_status_ttl(w):
    a, b = w.take(T), w.take(U)
    r = admit(w, (a, T, "sync", "", 1), ttl=100)
    r += admit(w, (b, U, "sync", "", 1), trigger="schedule", ttl=50)
    assert [x[0] for x in r] == ["R", "R"]
    assert 90 < w.r.ttl(status(a)) <= 100 and 40 < w.r.ttl(status(b)) <= 50
    assert w.r.hget(status(b), "trigger") == "schedule"
