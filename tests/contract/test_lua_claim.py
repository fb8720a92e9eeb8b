"""claim.lua: due teachers claimed for freshness syncs (the second half
of a scheduler tick), and include/schedule.lua's slots they move to."""
from lua_harness import (INTERVAL, JITTER, JOBS, SCHEDULE, T, U, claim, lock,
                         state)


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


def test_a_teacher_synced_just_now_or_running_gets_no_job_but_moves_on(w):
    now = w.now_ms()
    w.r.zadd(SCHEDULE, {T: now - 5, U: now - 5})
    w.r.hset(state(T), "done_started_ms", now - 10)
    w.r.set(lock(U), "c9:1-1")
    assert claim(w, T, U) == [0, 2]
    assert w.r.xlen(JOBS) == 0
    assert w.r.zscore(SCHEDULE, T) > now and w.r.zscore(SCHEDULE, U) > now
