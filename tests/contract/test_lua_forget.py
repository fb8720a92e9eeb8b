"""forget.lua: a teacher forgotten: a final diff, then its keys gone."""
from lua_harness import (CONTRACT_VERSION, COUNTS, EVENTS, GROUP, JOBS, P,
                         SCHED_KEYS, STATUS_TTL, T, TP, U, lock, running,
                         snapshot, state, status)


H2 = "2" * 32	# the content hash of the roster forgotten


def forget(w, eid, base, diff, delete_token=0, lockval=None, email=""):
    keys = [snapshot(T), P + "diffs", status(eid), JOBS, lock(T), state(T),
            P + "sections:{%s}" % T, P + "selection:{%s}" % T,
            P + "token:" + T, P + "ratelimit:{rl}:teacher:" + T] + \
        SCHED_KEYS + [P + "accounts"]
    args = [GROUP, eid, lockval or "c1:" + eid, base, diff, eid, T, EVENTS,
            STATUS_TTL, COUNTS, delete_token, "r", H2 if diff else "", email]
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
    assert d["v"] == CONTRACT_VERSION == "2"
    assert d["base_hash"] == H2 and d["hash"] == "" and d["erased"] == "0"
    assert w.r.exists(P + "token:" + T), "the token is the app's"
    assert not any(w.r.exists(k) for k in (snapshot(T), lock(T),
                   P + "sections:{%s}" % T, P + "selection:{%s}" % T))
    # the state keeps only the version, for the next sync to go on from
    tst = w.r.hgetall(state(T))
    assert set(tst) == {"version", "forgotten_ms"} and tst["version"] == "3"
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


def test_forget_takes_the_teacher_out_of_every_schedule_set(w):
    for k in SCHED_KEYS:
        w.r.zadd(k, {T: 1, U: 1})
    eid = running(w)
    assert forget(w, eid, 0, "")[0] == "OK"
    for k in SCHED_KEYS:
        assert w.r.zscore(k, T) is None and w.r.zscore(k, U) == 1


def test_forget_carries_the_jobs_traceparent_to_the_diff_and_event(w, events):
    w.r.hset(snapshot(T), mapping={"version": 1, "roster": "v1"})
    eid = running(w, tp=TP)
    events.all()
    assert forget(w, eid, 1, '{"d":"all gone"}')[0] == "OK"
    [(_, d)] = w.r.xrange(P + "diffs")
    assert d["traceparent"] == TP
    [ev] = events.all()
    assert ev["traceparent"] == TP


def test_forget_erases_the_teachers_earlier_diffs_and_no_one_elses(w):
    mine = [w.r.xadd(P + "diffs", {"teacher": T, "diff": "names"})
            for _ in range(3)]
    other = w.r.xadd(P + "diffs", {"teacher": U, "diff": "names"})
    w.r.hset(state(T), "diff_ids", " ".join(mine))
    w.r.xdel(P + "diffs", mine[0])	# gone already (another way)
    w.r.hset(snapshot(T), mapping={"version": 3, "roster": "v3"})
    w.r.hset(P + "accounts", "jane@example.org", "app-7")
    eid = running(w)
    reply = forget(w, eid, 3, '{"d":"all gone"}', email="jane@example.org")
    assert reply[0] == "OK"
    [(o, _), (final, d)] = w.r.xrange(P + "diffs")
    assert o == other and final == reply[1]
    assert d["erased"] == "2" and d["account"] == "app-7"
    assert w.r.hget(status(eid), "erased") == "2"


def test_a_forgotten_teacher_forgotten_again_keeps_its_version(w):
    w.r.hset(state(T), mapping={"version": 5, "forgotten_ms": 1})
    eid = running(w)
    assert forget(w, eid, 3, "") == ["CONFLICT", "5"]
    assert forget(w, eid, 5, "") == ["OK", "", "5"]
    assert w.r.xlen(P + "diffs") == 0, "nothing synced since: no diff"
    assert w.r.hget(state(T), "version") == "5"


def test_forgetting_a_teacher_never_synced_leaves_no_state(w):
    eid = running(w)
    assert forget(w, eid, 0, "") == ["OK", "", "0"]
    assert not w.r.exists(state(T))
