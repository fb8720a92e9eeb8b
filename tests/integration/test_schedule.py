"""The freshness schedule ([schedule]): rosterd keeps the teachers it has
synced fresh on its own, planned once for the deployment in Redis; a
teacher whose token is gone or refused leaves it and comes back with the
app's next successful sync; a refused token not renewed in time gets the
teacher forgotten ([sync] forget_unrenewed_s)."""
import json
import os
import re
import time

import pytest

from conftest import BUILD, SLOW, TERMINAL, WRAP, rosterctl

INTERVAL_S = 10
JITTER_MS = INTERVAL_S * 1000 * 10 // 100	# jitter_pct = 10


def statuses(env):
    out = []
    for k in env.r.scan_iter("rosterd:job:*", count=1000):
        st = env.r.hgetall(k)
        if st:
            out.append(st)
    return out


def sync_all(env, teachers, timeout=60):
    """The app syncs each teacher once (what makes it join the schedule)."""
    ps = env.subscribe()
    jids = [env.enqueue(t["id"]) for t in teachers]
    got = env.wait_jobs(ps, jids, timeout)
    ps.close()
    assert all(st["state"] == "done" for st in got.values()), got
    return got


def wait_for(pred, timeout, what):
    """Poll Redis for a state the daemon reaches on its own clock (the
    schedule has no event of its own to await before its jobs exist)."""
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def scheduled_job_of(env, ps, teacher, timeout=30):
    """The next job of the teacher's that the schedule made, once final."""
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        m = ps.get_message(timeout=1.0)
        if m is None or m["type"] != "message":
            continue
        ev = json.loads(m["data"])
        if ev.get("teacher") == teacher and ev.get("state") in TERMINAL and \
                ev.get("trigger") == "schedule":
            return env.r.hgetall("rosterd:job:" + ev["job"])
    raise AssertionError("no scheduled job of %s finished" % teacher)


@pytest.mark.skipif(bool(WRAP) or "asan" in os.path.basename(BUILD),
                    reason="a minute of timing, run on the plain build (CI's "
                    "20 minutes); the shorter schedule tests run here")
def test_fifty_teachers_two_instances_each_synced_once_per_interval(env):
    """50 teachers, 2 instances, a 10 s interval, a minute, no enqueue from
    the test after the app's first sync of each teacher."""
    sbx = env.start_sandbox("--teachers", 50, "--seed", 7)
    ts = sbx.teachers()[:50]
    for t in ts:
        env.store_token(t["id"], t["token"])
    conf = dict(schedule__interval_s=INTERVAL_S, schedule__jitter_pct=10,
                log__level="info")
    d1 = env.start_rosterd(**conf)
    env.start_rosterd(**conf)
    d1.proc.wait_line(r"event=ready")
    sync_all(env, ts)
    assert env.r.zcard("rosterd:schedule") == 50
    t0 = env.r.time()
    t0 = t0[0] * 1000 + t0[1] // 1000
    time.sleep(60)	# the minute under observation: nothing to await
    t1 = env.r.time()
    t1 = t1[0] * 1000 + t1[1] // 1000

    sts = statuses(env)
    sched = [s for s in sts if s.get("trigger") == "schedule"]
    assert sched and all(s["kind"] == "sync" for s in sched)
    assert {s["consumer"] for s in sched if "consumer" in s} == \
        {"rosterd0", "rosterd1"}, "both instances take scheduled work"
    assert not [s for s in sched if s["state"] not in TERMINAL + ("running",
                                                                   "queued")]
    starts, windows = {}, {}
    for s in sts:
        if "started_ms" not in s:
            continue		# coalesced: never ran
        windows.setdefault(s["teacher"], []).append(
            (int(s["started_ms"]), int(s.get("finished_ms", t1 + 60000))))
        if s.get("trigger") == "schedule" and int(s["started_ms"]) < t1:
            starts.setdefault(s["teacher"], []).append(int(s["started_ms"]))
    assert set(starts) == {t["id"] for t in ts}, "every teacher kept fresh"
    slack = 1500		# ticks (500 ms), two instances, the sync itself
    for t, ss in starts.items():
        ss.sort()
        n = len([x for x in ss if x >= t0])
        assert 5 <= n <= 7, (t, n, ss)	# 60 s / 10 s, either side of the edges
        for a, b in zip(ss, ss[1:]):
            assert INTERVAL_S * 1000 - JITTER_MS - slack <= b - a <= \
                INTERVAL_S * 1000 + JITTER_MS + slack, (t, ss)
        # the app's sync, then a scheduled one within an interval + jitter
        assert ss[0] - t0 <= INTERVAL_S * 1000 + JITTER_MS + slack, (t, ss)
    for t, ws in windows.items():
        ws.sort()
        for (a0, a1), (b0, _) in zip(ws, ws[1:]):
            assert b0 >= a1, "two syncs of %s at once: %s" % (t, ws)
    # spread over the interval, not bunched after the app's burst of syncs
    per_second = {}
    for ss in starts.values():
        for x in ss:
            if x >= t0 + INTERVAL_S * 1000:
                per_second[x // 1000] = per_second.get(x // 1000, 0) + 1
    gaps = [b - a for ss in starts.values() for a, b in zip(ss, ss[1:])]
    print("schedule: %d scheduled syncs of %d teachers in %.1f s; per teacher "
          "%d-%d; gaps %d-%d ms (interval %d, jitter %d); at most %d starts "
          "in one second" % (sum(map(len, starts.values())), len(starts),
                             (t1 - t0) / 1000,
                             min(map(len, starts.values())),
                             max(map(len, starts.values())), min(gaps),
                             max(gaps), INTERVAL_S * 1000, JITTER_MS,
                             max(per_second.values())))
    assert max(per_second.values()) <= 15, sorted(per_second.items())
    assert env.r.zcard("rosterd:schedule") == 50
    assert env.r.xlen("rosterd:dead") == 0


def test_a_lost_token_leaves_the_schedule_and_the_apps_sync_brings_it_back(env):
    sbx = env.start_sandbox("--teachers", 3)
    t = sbx.teachers()[0]
    env.store_token(t["id"], t["token"])
    d = env.start_rosterd(schedule__interval_s=2, schedule__status_ttl_s=300,
                          log__level="info")
    d.proc.wait_line(r"event=ready")
    ps = env.subscribe()
    app, st = env.run(t["id"])
    assert st["state"] == "done" and st["trigger"] == "app", st
    assert env.r.zscore("rosterd:schedule", t["id"]) is not None
    st = scheduled_job_of(env, ps, t["id"])
    assert st["state"] == "done" and st["trigger"] == "schedule", st
    # a scheduled status lives [schedule] status_ttl_s, the app's longer
    assert 0 < env.r.ttl("rosterd:job:" + st["job"]) <= 300
    assert env.r.ttl("rosterd:job:" + app) > 300
    # its outcome line says what made it (ROSTERD_TRIGGER in the journal)
    d.proc.wait_line(r"event=synced job=%s .*trigger=schedule" % st["job"])
    out = rosterctl("-c", d.conf_path, "schedule", t["id"])
    assert out.returncode == 0 and "scheduled" in out.stdout, out

    env.r.delete("rosterd:token:" + t["id"])		# the token expired
    st = scheduled_job_of(env, ps, t["id"])
    assert st["state"] == "failed" and st["error"] == "no_token", st
    assert env.r.zscore("rosterd:schedule", t["id"]) is None
    assert env.r.xlen("rosterd:dead") == 0, "nobody asked: no dead letter"
    out = rosterctl("-c", d.conf_path, "--json", "schedule", t["id"])
    assert out.returncode == 0, out
    me = json.loads(out.stdout)
    assert me["state"] == "left" and me["left_because"] == "no_token", me
    out = rosterctl("-c", d.conf_path, "--json", "schedule")
    summary = json.loads(out.stdout)
    assert summary["scheduled"] == 0 and summary["left"] == 1, summary

    env.store_token(t["id"], t["token"])		# the teacher came back
    _, st = env.run(t["id"])
    assert st["state"] == "done", st
    assert env.r.zscore("rosterd:schedule", t["id"]) is not None
    assert env.r.zscore("rosterd:schedule:left", t["id"]) is None
    st = scheduled_job_of(env, ps, t["id"])
    assert st["state"] == "done", st
    ps.close()


def test_schedule_summary_counts_due_next_hour_and_overdue(env):
    env.start_sandbox("--teachers", 1)
    d = env.start_rosterd(schedule__interval_s=0)	# off: nothing claims
    now = env.r.time()
    now = now[0] * 1000 + now[1] // 1000
    env.r.zadd("rosterd:schedule", {"a1": now - 3600000, "a2": now - 10,
                                    "a3": now + 60000, "a4": now + 7200000})
    out = rosterctl("-c", d.conf_path, "--json", "schedule")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert (s["scheduled"], s["due_now"], s["due_next_hour"], s["overdue"]) \
        == (4, 2, 1, 1), s
    out = rosterctl("-c", d.conf_path, "schedule")
    assert "due now:         2" in out.stdout, out.stdout
    assert "the schedule is off" in out.stdout


def test_a_refused_token_not_renewed_in_time_gets_the_teacher_forgotten(env):
    sbx = env.start_sandbox("--teachers", 4)
    a, b = sbx.teachers()[:2]
    d = env.start_rosterd(sync__forget_unrenewed_s=1,
                          retention__interval_ms=200, log__level="info")
    d.proc.wait_line(r"event=ready")
    for t in (a, b):
        env.store_token(t["id"], t["token"])
        _, st = env.run(t["id"])
        assert st["state"] == "done", st
        env.store_token(t["id"], "revoked-" + t["id"])	# Clever: 401
        _, st = env.run(t["id"])
        assert st["error"] == "reauthorize", st
    assert env.r.zcard("rosterd:reauthorize") == 2
    env.store_token(b["id"], b["token"])	# b's teacher authorized again
    ps = env.subscribe()
    got = {}
    deadline = time.monotonic() + 30 * SLOW
    while "forgotten" not in got and time.monotonic() < deadline:
        m = ps.get_message(timeout=1.0)
        if m and m["type"] == "message":
            ev = json.loads(m["data"])
            if ev.get("result") == "forgotten":
                got["forgotten"] = ev
    ps.close()
    ev = got["forgotten"]
    assert ev["teacher"] == a["id"], ev
    st = env.r.hgetall("rosterd:job:" + ev["job"])
    assert st["trigger"] == "unrenewed" and st["kind"] == "forget", st
    wait_for(lambda: env.r.zcard("rosterd:reauthorize") == 0, 10,
             "both teachers looked at")
    assert not env.r.exists("rosterd:snapshot:{%s}" % a["id"])
    assert env.r.exists("rosterd:snapshot:{%s}" % b["id"]), \
        "a renewed token: not forgotten"
    assert env.diffs(a["id"])[-1]["forgotten"] == "1"


def test_the_apps_requests_never_wait_behind_scheduled_work(env):
    """One slot, slow Clever, the schedule wanting 20 syncs a second: an
    app request finds no scheduled work queued ahead of it (scheduled
    jobs are added only when the app's requests have all been read and a
    slot is free), so the only thing it may wait for is the sync running
    when it came."""
    sbx = env.start_sandbox("--teachers", 30, "--latency-ms", 100)
    ts = sbx.teachers()
    for t in ts:
        env.store_token(t["id"], t["token"])
    d = env.start_rosterd(schedule__interval_s=1, sync__concurrency=1,
                          log__level="info")
    d.proc.wait_line(r"event=ready")
    sync_all(env, ts[:20], timeout=120)
    ps = env.subscribe()
    scheduled_job_of(env, ps, ts[0]["id"], timeout=60)	# the schedule runs
    ps.close()

    def eid(s):
        return tuple(int(x) for x in s.split("-"))
    for t in ts[20:25]:
        jid, st = env.run(t["id"], timeout=60)
        assert st["state"] == "done", st
        came = eid(jid)
        ahead = [s for s in statuses(env) if s.get("trigger") == "schedule"
                 and eid(s["job"]) < came and "started_ms" in s and
                 int(s["started_ms"]) > came[0]]
        # 1: a tick that claimed in the same millisecond as the request
        assert len(ahead) <= 1, (jid, ahead)
    assert env.r.xlen("rosterd:jobs") < 40, "scheduled work never piles up"


def test_teachers_synced_before_the_schedule_existed_join_it(env):
    """An upgraded deployment: snapshots but no plan.  Every instance
    walks the snapshot keys at start-up; each teacher joins once."""
    sbx = env.start_sandbox("--teachers", 30)
    ts = sbx.teachers()[:25]
    for t in ts:
        env.store_token(t["id"], t["token"])
    d = env.start_rosterd(schedule__interval_s=0)
    d.proc.wait_line(r"event=ready")
    sync_all(env, ts)
    d.stop()
    env.r.delete("rosterd:schedule", "rosterd:schedule:enrolled")  # as before
    env.r.zadd("rosterd:schedule:left", {ts[0]["id"]: 1})	# it left since
    d1 = env.start_rosterd(schedule__interval_s=3600)
    d2 = env.start_rosterd(schedule__interval_s=3600)
    for x in (d1, d2):
        x.proc.wait_line(r"event=ready")
    wait_for(lambda: env.r.get("rosterd:schedule:enrolled") == "done", 20,
             "the walk to end")
    assert set(env.r.zrange("rosterd:schedule", 0, -1)) == \
        {t["id"] for t in ts[1:]}
    logs = d1.proc.text() + d2.proc.text()
    n = sum(int(m) for m in re.findall(r"event=schedule_enrolled .*msg=\"?(\d+) "
                                       r"teachers", logs))
    assert n == 24, logs[-3000:]
