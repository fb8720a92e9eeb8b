"""forget.lua: a teacher forgotten: a final diff, then its keys gone."""
from lua_harness import (CONTRACT_VERSION, COUNTS, EVENTS, GROUP, JOBS, P,
                         SCHED_KEYS, STATUS_TTL, T, TP, U, lock, running,
                         snapshot, state, status)


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
    assert d["v"] == CONTRACT_VERSION == "2"
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
