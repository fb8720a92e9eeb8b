"""due.lua: which teachers are due (the first half of a scheduler tick)."""
from lua_harness import (GROUP, INTERVAL, JITTER, JOBS, LEFT, P, SCHEDULE, T, U,
                         claim, state)


def due(w, n=100, interval=INTERVAL, jitter=JITTER):
    return w.lua.due([SCHEDULE, JOBS, P + "districts", LEFT],
                     [GROUP, n, interval, jitter])


def drain(w):
    """Deliver every job entry, as an instance reading the stream does."""
    w.r.xreadgroup(GROUP, "c1", {JOBS: ">"}, count=1000)


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


def test_scheduled_work_yields_while_the_apps_requests_wait(w):
    now = w.now_ms()
    w.r.zadd(SCHEDULE, {T: now - 5})
    w.r.xadd(JOBS, {"teacher": U})		# not read by any instance yet
    assert due(w) == [1, 0]
    drain(w)
    assert due(w) == [0, 0, T]


def test_due_plans_again_members_of_a_longer_interval(w):
    now = w.now_ms()
    w.r.zadd(SCHEDULE, {T: now + 86400000})
    assert due(w)[1] == 1
    assert now < w.r.zscore(SCHEDULE, T) <= now + INTERVAL + JITTER + 50


def test_due_drops_a_member_that_is_not_a_teacher_id(w):
    now = w.now_ms()
    w.r.zadd(SCHEDULE, {"bad id!": now - 10, T: now - 5})
    assert due(w) == [0, 0, T]
    assert w.r.zscore(SCHEDULE, "bad id!") is None


def test_a_district_is_planned_as_one_member_and_its_teachers_leave(w):
    D = "58da8a43cc70ab00017a1a87"
    w.r.sadd(P + "districts", D)
    w.r.hset(state(T), "district", D)
    w.r.zadd(SCHEDULE, {T: 0})
    due(w, n=0)
    assert w.r.zscore(SCHEDULE, "district:" + D) is not None
    w.r.zadd(SCHEDULE, {"district:" + D: 0})
    names = due(w)[2:]
    assert sorted(names) == sorted([T, "district:" + D])
    assert claim(w, *names) == [1, 1]
    jobs = [f for _, f in w.r.xrange(JOBS)]
    assert jobs == [{"kind": "district", "district": D, "trigger": "schedule"}]
    assert w.r.zscore(SCHEDULE, T) is None      # the district syncs it
    # a district that left the schedule (its token refused) is not re-added
    w.r.zrem(SCHEDULE, "district:" + D)
    w.r.zadd(LEFT, {"district:" + D: 1})
    due(w, n=0)
    assert w.r.zscore(SCHEDULE, "district:" + D) is None
