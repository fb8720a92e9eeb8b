"""queue_stats.lua: the queue, the dead letters and the diff stream in
figures for the metrics and rosterctl stats: a backlog even when Redis
cannot tell a group's lag, dead letters by state within a bound, no error
on missing streams, read only."""
from lua_harness import GROUP, JOBS, P

DEAD, DIFFS = P + "dead", P + "diffs"


def queue_stats(w, dead_max=10000, diffs=(DIFFS,)):
    return w.lua.queue_stats([JOBS, DEAD] + list(diffs), [GROUP, dead_max])


def lag(w, stream, group):
    (g,) = [g for g in w.r.xinfo_groups(stream) if g["name"] == group]
    return g["lag"]


def test_nothing_there_is_zeros_and_no_error(w):
    assert queue_stats(w) == [0, 0, 0, 0, [], [0, 0, 0], [], [0]]
    w.r.delete(JOBS)
    assert queue_stats(w) == [0, 0, 0, 0, [], [0, 0, 0], [], [0]]
    assert w.r.dbsize() == 0, "read only: nothing created"


def test_waiting_is_counted_when_redis_cannot_tell_the_lag(w):
    w.take("t0", consumer="c1")			# read, pending
    bad = w.r.xadd(JOBS, {"junk": "1"})		# a malformed job, deleted
    w.r.xdel(JOBS, bad)
    for i in range(3):
        w.r.xadd(JOBS, {"teacher": "t%d" % i, "kind": "sync"})
    assert lag(w, JOBS, GROUP) is None		# Redis 7.0 cannot tell
    length, waiting, pending, age, names, _, _, _ = queue_stats(w)
    assert (length, waiting, pending, names) == (4, 3, 1, ["c1"])
    assert age >= 0


def test_both_sides_counted_by_batches_past_a_thousand(w):
    for i in range(1500):
        w.r.xadd(JOBS, {"teacher": "t", "kind": "sync"})
    w.r.xreadgroup(GROUP, "c1", {JOBS: ">"}, count=1500)
    w.r.xack(JOBS, GROUP, *[e for e, _ in w.r.xrange(JOBS)])
    bad = w.r.xadd(JOBS, {"junk": "1"})
    w.r.xdel(JOBS, bad)
    for i in range(2500):
        w.r.xadd(JOBS, {"teacher": "t", "kind": "sync"})
    assert lag(w, JOBS, GROUP) is None
    assert queue_stats(w)[:3] == [4000, 2500, 0]
    w.r.xreadgroup(GROUP, "c1", {JOBS: ">"}, count=1001)
    w.r.xadd(JOBS, {"junk": "2"})
    w.r.xdel(JOBS, w.r.xrevrange(JOBS, count=1)[0][0])
    assert queue_stats(w)[:3] == [4000, 1499, 1001]


def test_oldest_waiting_age_is_of_the_first_entry_not_read(w):
    now = w.now_ms()
    w.r.xadd(JOBS, {"teacher": "t"}, id="%d-0" % (now - 90000))
    w.r.xreadgroup(GROUP, "c1", {JOBS: ">"}, count=1)	# read it
    w.r.xadd(JOBS, {"teacher": "u"}, id="%d-0" % (now - 5000))
    age = queue_stats(w)[3]
    assert 5000 <= age < 90000
    w.r.xreadgroup(GROUP, "c1", {JOBS: ">"})
    assert queue_stats(w)[3] == 0


def test_without_the_group_every_entry_waits(w):
    w.r.xgroup_destroy(JOBS, GROUP)
    w.r.xadd(JOBS, {"teacher": "t"})
    w.r.xadd(JOBS, {"teacher": "u"})
    got = queue_stats(w)
    # the oldest wait is an age (it grows between two calls): only its sign
    assert got[:3] + got[4:5] == [2, 2, 0, []] and got[3] >= 0, got


def test_dead_letters_by_state_the_newest_within_the_bound(w):
    for s in ["failed"] * 3 + ["dead"] * 2 + ["held", "other"]:
        w.r.xadd(DEAD, {"job": "j", "state": s})
    assert queue_stats(w)[5] == [3, 2, 1]
    assert queue_stats(w, dead_max=5)[5] == [1, 2, 1]	# the newest 5


def test_dead_letters_past_a_batch(w):
    for i in range(2100):
        w.r.xadd(DEAD, {"state": "held" if i % 3 else "failed"})
    assert queue_stats(w)[5] == [700, 0, 1400]


def test_every_diffs_group_has_its_lag_and_pending(w):
    ids = [w.r.xadd(DIFFS, {"teacher": "t", "n": i}) for i in range(5)]
    w.r.xgroup_create(DIFFS, "app", id="0")
    w.r.xreadgroup("app", "a1", {DIFFS: ">"}, count=2)
    w.r.xgroup_create(DIFFS, "late", id=ids[1])	# lag unknown to Redis
    assert lag(w, DIFFS, "late") is None
    assert queue_stats(w)[6] == [["app", 3, 2, 0], ["late", 3, 0, 0]]
    assert queue_stats(w)[7] == [5]


def test_every_partition_has_its_groups_and_length(w):
    parts = [P + "diffs:%d" % p for p in range(3)]
    for p, stream in enumerate(parts):
        for i in range(p + 1):			# 1, 2, 3 entries
            w.r.xadd(stream, {"teacher": "t%d" % p, "n": i})
    w.r.xgroup_create(parts[0], "app", id="0")
    w.r.xgroup_create(parts[2], "app", id="0")
    w.r.xreadgroup("app", "w0", {parts[2]: ">"}, count=1)
    # partition 1 has no group yet: no row, but its length counts
    assert queue_stats(w, diffs=parts)[6:] == [
        [["app", 1, 0, 0], ["app", 2, 1, 2]], [1, 2, 3]]
