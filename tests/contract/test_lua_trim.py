"""trim.lua: bounded streams, nothing unread lost unsaid."""
import json

from lua_harness import EVENTS, GROUP, JOBS, P, T


DIFFS, DEAD, LOST, TRIM_LOCK = P + "diffs", P + "dead", P + "diffs_lost", P + "trim_lock"


def trim(w, dead_max=100, dead_age_ms=10 ** 12, diffs_max=0, diffs=(DIFFS,)):
    w.r.delete(TRIM_LOCK)
    return w.lua.trim([JOBS, DEAD, LOST, TRIM_LOCK] + list(diffs),
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
    before = w.now_ms()
    assert trim(w, diffs_max=2) == [0, 0, 4, 1]
    assert [e for e, _ in w.r.xrange(DIFFS)] == ids[4:]
    lost = json.loads(w.r.hget(LOST, "lagging"))
    assert lost["at_ms"] >= before
    assert lost == {"first_lost": ids[1], "resume_from": ids[4],
                    "at_ms": lost["at_ms"]}
    [ev] = events.all()
    assert ev == {"event": "diffs_lost", "group": "lagging",
                  "field": "lagging", "first_lost": ids[1],
                  "resume_from": ids[4], "at_ms": lost["at_ms"]}


def test_a_later_loss_keeps_the_first_lost_and_moves_resume_from(w, events):
    w.r.xgroup_create(DIFFS, "app", id="0", mkstream=True)
    ids = [w.r.xadd(DIFFS, {"d": str(i)}) for i in range(4)]
    trim(w, diffs_max=2)			# the app lost ids[0], ids[1]
    more = [w.r.xadd(DIFFS, {"d": str(i)}) for i in range(3)]
    trim(w, diffs_max=2)			# and then ids[2:] and more[0]
    lost = json.loads(w.r.hget(LOST, "app"))
    assert (lost["first_lost"], lost["resume_from"]) == (ids[0], more[1])


def test_a_version_1_field_keeps_its_first_lost(w, events):
    w.r.xgroup_create(DIFFS, "app", id="0", mkstream=True)
    ids = [w.r.xadd(DIFFS, {"d": str(i)}) for i in range(3)]
    w.r.hset(LOST, "app", "1-1")		# a bare id, as version 1 wrote
    trim(w, diffs_max=1)
    assert json.loads(w.r.hget(LOST, "app"))["first_lost"] == "1-1"
    assert json.loads(w.r.hget(LOST, "app"))["resume_from"] == ids[2]


def test_partitions_are_trimmed_and_capped_each_on_its_own(w, events):
    parts = [P + "diffs:%d" % p for p in range(2)]
    ids = {}
    for p, stream in enumerate(parts):
        w.r.xgroup_create(stream, "app", id="0", mkstream=True)
        ids[p] = [w.r.xadd(stream, {"d": str(i)}) for i in range(5)]
    # partition 0's consumer keeps up; partition 1's read nothing
    w.r.xreadgroup("app", "w0", {parts[0]: ">"})
    w.r.xack(parts[0], "app", *ids[0])
    # the cap, 4 in all, is 2 per partition
    assert trim(w, diffs_max=4, diffs=parts) == [0, 0, 5 + 3, 1]
    assert w.r.xlen(parts[0]) == 0
    assert [e for e, _ in w.r.xrange(parts[1])] == ids[1][3:]
    lost = json.loads(w.r.hget(LOST, "app:1"))
    assert (lost["first_lost"], lost["resume_from"]) == (ids[1][0], ids[1][3])
    assert w.r.hkeys(LOST) == ["app:1"]
    [ev] = events.all()
    assert (ev["group"], ev["field"], ev["partition"]) == ("app", "app:1", 1)


def test_trim_runs_once_per_interval(w):
    w.r.xadd(DEAD, {"job": "1"})
    w.r.xadd(DEAD, {"job": "2"})
    assert trim(w, dead_max=1)[1] == 1
    assert w.lua.trim([JOBS, DEAD, LOST, TRIM_LOCK, DIFFS],
                      [GROUP, 60000, 1, 10 ** 12, 0, EVENTS]) == [-1]
