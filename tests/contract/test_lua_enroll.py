"""enroll.lua: teachers synced before the schedule existed enrolled."""
from lua_harness import INTERVAL, JITTER, LEFT, P, SCHEDULE, T, U


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
