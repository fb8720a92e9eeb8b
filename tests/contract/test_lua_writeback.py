"""writeback.lua: a full sync's outcome written back at once (diff,
snapshot, status, acknowledgement, unlock), or nothing; and the
schedule joined."""
import json

import pytest

from lua_harness import (CONTRACT_VERSION, COUNTS, EVENTS, GROUP, INTERVAL,
                         JITTER, JOBS, LEFT, P, REAUTH, SCHEDULE, SCHED_KEYS,
                         STATUS_TTL, T, TP, U, fail, lock, running, snapshot,
                         state, status)


SECTIONS = P + "sections:{%s}" % T


H0, H1 = "0" * 32, "1" * 32	# content hashes (roster_hash())


def writeback(w, eid, base, diff, roster='{"roster":1}', email="",
              authorized_by="teacher", district="", lockval=None,
              trigger="app", interval=86400000, jitter=0, picker="", listed=0,
              base_hash=H0, hash_=H1, force="0"):
    keys = [snapshot(T), P + "diffs", status(eid), JOBS, lock(T), state(T),
            P + "accounts"] + SCHED_KEYS + [SECTIONS, P + "dead"]
    args = [GROUP, eid, lockval or "c1:" + eid, base, base + 1, roster, diff,
            eid, T, EVENTS, STATUS_TTL, 1000, email, authorized_by,
            COUNTS, 4, district, "user-42", trigger, interval, jitter, "0",
            picker, listed, base_hash, hash_, force]
    return w.lua.writeback(keys, args)


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
    assert d == {"v": CONTRACT_VERSION, "teacher": T, "job": eid, "ref": "user-42",
                 "base_version": "0", "version": "1", "added": "2",
                 "updated": "1", "removed": "0", "diff": '{"d":1}',
                 "base_hash": H0, "hash": H1}
    sn = w.r.hgetall(snapshot(T))
    assert sn["version"] == "1" and sn["roster"] == '{"roster":1}'
    assert sn["job"] == eid and sn["diff_id"] == diff_id and "synced_ms" in sn
    assert sn["hash"] == H1
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
    assert sn.get("hash") == (H1 if roster else None), \
        "a roster rewritten comes with its hash"
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


def test_the_apps_next_successful_sync_brings_a_teacher_back(w):
    eid = running(w)
    fail(w, eid, "c1:" + eid, code="reauthorize")
    eid = running(w)
    writeback(w, eid, 0, "", interval=INTERVAL, jitter=JITTER)
    assert w.r.zscore(SCHEDULE, T) is not None
    assert w.r.zscore(LEFT, T) is None and w.r.zscore(REAUTH, T) is None
    st = w.r.hgetall(state(T))
    assert not {"schedule_left", "reauth_token", "reauth_owner"} & set(st)


def test_writeback_carries_the_jobs_traceparent_to_the_diff_and_event(w, events):
    eid = running(w, tp=TP)
    events.all()
    reply = writeback(w, eid, 0, '{"d":1}')
    [(_, d)] = w.r.xrange(P + "diffs")
    assert d["traceparent"] == TP and reply[1]
    [ev] = events.all()
    assert ev["traceparent"] == TP


PICKER = '[{"id":"s1","name":"Art/Design","teachers":["t/1"]},{"id":"s2"}]'


def test_a_full_sync_refreshes_the_pickers_list(w):
    w.r.set(SECTIONS, '{"fetched_ms":1,"job":"1-1","sections":[{"id":"s0"}]}')
    eid = running(w)
    reply = writeback(w, eid, 0, '{"d":1}', picker=PICKER, listed=2)
    assert reply[0] == "OK"
    raw = w.r.get(SECTIONS)
    assert "\\/" not in raw, "no '/' escaped, like the snapshot"
    got = json.loads(raw)
    assert got["job"] == eid and got["fetched_ms"] >= w.now_ms() - 60000
    assert got["sections"] == json.loads(PICKER)
    tst = w.r.hgetall(state(T))
    assert (tst["sections_started_ms"], tst["sections_job"],
            tst["sections"]) == ("1000", eid, "2")


def test_a_sync_that_fetched_no_list_leaves_the_pickers_alone(w):
    before = '{"fetched_ms":1,"job":"1-1","sections":[{"id":"s0"}]}'
    w.r.set(SECTIONS, before)
    eid = running(w)
    assert writeback(w, eid, 0, "")[0] == "OK"	# not modified: no list
    assert w.r.get(SECTIONS) == before
    assert w.r.hget(state(T), "sections_started_ms") is None


def test_without_a_snapshot_versions_go_on_from_the_forgotten_one(w):
    """A forget leaves the version in the state: the next sync's diff
    goes on from it (4 -> 5), never back to 0 -> 1."""
    w.r.hset(state(T), mapping={"version": 4, "forgotten_ms": 1})
    eid = running(w)
    assert writeback(w, eid, 0, '{"d":1}', base_hash="") == ["CONFLICT", "4"]
    reply = writeback(w, eid, 4, '{"d":1}', base_hash="")
    assert reply[0] == "OK" and reply[2] == "5"
    [(_, d)] = w.r.xrange(P + "diffs")
    assert d["base_version"] == "4" and d["version"] == "5"
    assert d["base_hash"] == "" and d["hash"] == H1
    assert w.r.hget(snapshot(T), "version") == "5"
    assert w.r.hget(state(T), "version") is None, "the snapshot has it now"


def test_the_diff_entry_names_the_matched_account(w):
    w.r.hset(P + "accounts", "jane@example.org", "app-7")
    eid = running(w)
    writeback(w, eid, 0, '{"d":1}', email="jane@example.org")
    eid = running(w)
    writeback(w, eid, 1, '{"d":2}', email="nobody@example.org")
    [(_, d1), (_, d2)] = w.r.xrange(P + "diffs")
    assert d1["account"] == "app-7"
    assert "account" not in d2, "no match: no account field"


def test_the_state_keeps_the_teachers_diff_ids_still_in_the_stream(w):
    ids = []
    for v in range(3):
        eid = running(w)
        ids.append(writeback(w, eid, v, '{"d":%d}' % v)[1])
    assert w.r.hget(state(T), "diff_ids") == " ".join(ids)
    # another teacher's entry, then the first two trimmed by retention
    w.r.xadd(P + "diffs", {"teacher": U})
    w.r.xtrim(P + "diffs", minid=ids[2], approximate=False)
    eid = running(w)
    new = writeback(w, eid, 3, '{"d":3}')[1]
    assert w.r.hget(state(T), "diff_ids") == ids[2] + " " + new
    # no diff: the list stays
    eid = running(w)
    writeback(w, eid, 4, "", roster="")
    assert w.r.hget(state(T), "diff_ids") == ids[2] + " " + new


def test_a_forced_sync_that_succeeds_removes_the_held_dead_letters(w):
    """Whoever queued it (the app's XADD ... force 1, or rosterctl held
    confirm): the teacher's held letters go, nobody else's, no other kind."""
    for t in (T, T, U):
        if t == T:
            eid = running(w)
        else:
            w.r.xadd(JOBS, {"teacher": U})
            eid = w.r.xreadgroup(GROUP, "c1", {JOBS: ">"})[0][1][0][0]
        fail(w, eid, "c1:" + eid, state_="held", teacher=t,
             code="shrink_guard", extra=COUNTS)
    eid = running(w)
    fail(w, eid, "c1:" + eid, code="not_shared")	# a failure, not a hold
    dead = lambda: [(f["teacher"], f["state"])
                    for _, f in w.r.xrange(P + "dead")]
    assert dead() == [(T, "held"), (T, "held"), (U, "held"), (T, "failed")]
    eid = running(w)
    writeback(w, eid, 0, '{"d":1}')	# not forced: the holds stay
    assert len(dead()) == 4
    eid = running(w)
    assert writeback(w, eid, 1, '{"d":2}', force="1")[0] == "OK"
    assert dead() == [(U, "held"), (T, "failed")]
    assert w.r.hget(state(T), "held_ids") is None
