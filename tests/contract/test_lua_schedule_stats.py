"""schedule_stats.lua: the freshness schedule in figures, for the metrics
(rosterd_schedule_teachers): read only, on the Redis clock."""
from lua_harness import LEFT, REAUTH, SCHEDULE, T, U

OVERDUE_MS = 60000


def schedule_stats(w, overdue_ms=OVERDUE_MS):
    return w.lua.schedule_stats([SCHEDULE, LEFT, REAUTH], [overdue_ms])


def test_schedule_stats_counts_scheduled_due_overdue_left_and_awaiting(w):
    now = w.now_ms()
    w.r.zadd(SCHEDULE, {"late": now - 10 * OVERDUE_MS,	# due, overdue
                        "due": now - OVERDUE_MS // 2,	# due, not overdue
                        "just": now - 1,		# due just now
                        "later": now + OVERDUE_MS})	# not due yet
    w.r.zadd(LEFT, {T: 1, U: 2})
    w.r.zadd(REAUTH, {U: 3})
    before = {k: w.r.zrange(k, 0, -1, withscores=True)
              for k in (SCHEDULE, LEFT, REAUTH)}
    assert schedule_stats(w) == [4, 3, 1, 2, 1]
    assert {k: w.r.zrange(k, 0, -1, withscores=True)
            for k in before} == before, "read only"


def test_schedule_stats_of_no_schedule_are_zeros(w):
    assert schedule_stats(w) == [0, 0, 0, 0, 0]
    assert w.r.dbsize() == 1, "only the stream of the fixture exists"
