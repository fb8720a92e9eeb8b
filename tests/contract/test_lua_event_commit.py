"""event_commit.lua: a batch's jobs and the cursor's move, in one step."""
from lua_harness import JOBS, P

D = "58da8a43cc70ab00017a1a87"
CUR, LK = P + "event_cursor:{%s}" % D, P + "event_lock:{%s}" % D
DH, DT = P + "district:{%s}" % D, P + "district_teachers:{%s}" % D
T1, T2, T3 = ("58da8c63d7dc0ca06800047%d" % i for i in (1, 2, 3))


def commit(w, frm, to, mode="teachers", teachers=(), why="", n=None,
           consumer="c1", bulk=0):
    n = len(teachers) if n is None else n
    return w.lua.event_commit(
        [CUR, LK, JOBS, DH, DT],
        [consumer, D, frm, to, mode, why, n, bulk, len(teachers)] +
        list(teachers))


def jobs(w):
    return [f for _, f in w.r.xrange(JOBS)]


def test_jobs_added_once_per_teacher_and_cursor_moved(w):
    w.r.set(LK, "c1")
    assert commit(w, "", "e1", mode="start", why="no cursor") == [1, 0]
    assert jobs(w) == []
    assert commit(w, "e1", "e5", teachers=[T1, T2, T1], n=4) == [1, 2]
    assert jobs(w) == [
        {"kind": "sync", "teacher": t, "district": D, "trigger": "events"}
        for t in (T1, T2)]
    c = w.r.hgetall(CUR)
    assert c["last_id"] == "e5" and c["events"] == "4" and c["jobs"] == "2"
    assert int(c["polled_ms"]) > 0 and c["poller"] == "c1"


def test_follow_set_keeps_only_the_followed_teachers(w):
    w.r.set(LK, "c1")
    w.r.hset(DH, "follow", "set")
    w.r.sadd(DT, T2)
    assert commit(w, "", "e2", teachers=[T1, T2, T3]) == [1, 1]
    assert [j["teacher"] for j in jobs(w)] == [T2]


def test_fallback_adds_one_district_job(w):
    w.r.set(LK, "c1")
    w.r.hset(CUR, "last_id", "old")
    assert commit(w, "old", "e9", mode="district", why="window") == [1, 1]
    assert jobs(w) == [{"kind": "district", "district": D,
                        "trigger": "events"}]
    c = w.r.hgetall(CUR)
    assert c["last_id"] == "e9" and c["fallback_why"] == "window"
    assert c["fallbacks"] == "1"


def test_nothing_written_without_the_lock_or_from_a_moved_cursor(w):
    """A poller that lost its lock, or read a cursor that moved since,
    neither adds jobs nor moves the cursor: no double advance."""
    w.r.set(LK, "c2")
    w.r.hset(CUR, "last_id", "e1")
    assert commit(w, "e1", "e5", teachers=[T1]) == [0, 0]
    w.r.set(LK, "c1")
    assert commit(w, "e0", "e5", teachers=[T1]) == [-1, 0]
    assert jobs(w) == [] and w.r.hget(CUR, "last_id") == "e1"


def test_the_same_batch_twice_moves_the_cursor_once(w):
    w.r.set(LK, "c1")
    w.r.hset(CUR, "last_id", "e1")
    assert commit(w, "e1", "e5", teachers=[T1]) == [1, 1]
    assert commit(w, "e1", "e5", teachers=[T1]) == [-1, 0]
    assert len(jobs(w)) == 1 and w.r.hget(CUR, "last_id") == "e5"


def test_bulk_adds_one_district_job_counted_apart_from_fallbacks(w):
    """The cheaper way chosen by the poller: one district job, the cursor
    at the newest event, counted as bulks (not fallbacks)."""
    w.r.set(LK, "c1")
    w.r.hset(CUR, "last_id", "e1")
    assert commit(w, "e1", "e9", mode="bulk", why="per teacher ~40 > 11",
                  n=30, bulk=11) == [1, 1]
    assert jobs(w) == [{"kind": "district", "district": D,
                        "trigger": "events"}]
    c = w.r.hgetall(CUR)
    assert c["last_id"] == "e9" and c["bulks"] == "1"
    assert c["bulk_why"] == "per teacher ~40 > 11" and int(c["bulk_ms"]) > 0
    assert "fallbacks" not in c and c["events"] == "30"


def test_the_last_pulls_requests_are_kept_until_a_new_figure(w):
    """bulk_requests keeps the last figure the poller knew (its job status
    expires); 0 (not known) leaves it."""
    w.r.set(LK, "c1")
    assert commit(w, "", "e1", teachers=[T1], bulk=11) == [1, 1]
    assert w.r.hget(CUR, "bulk_requests") == "11"
    assert commit(w, "e1", "e2", teachers=[T1]) == [1, 1]
    assert w.r.hget(CUR, "bulk_requests") == "11"
    assert commit(w, "e2", "e3", teachers=[T1], bulk=14) == [1, 1]
    assert w.r.hget(CUR, "bulk_requests") == "14"
