"""District bulk syncs (kind district, doc/contract.md "Districts (Secure
Sync)"): the real rosterd, real Redis, the sandbox with several districts.
One rosterd syncs teachers one by one under the prefix "rosterd:", another
pulls their district in bulk under "bulk:", in the same Redis, on the same
data: the snapshots must be the same, byte for byte."""
import json

import pytest

from conftest import api_get, exit_report, store_district_of, wait_for, SLOW

BULK = "bulk:"


def start_bulk(env, **conf):
    """A rosterd under the prefix bulk: (its own keys, same Redis)."""
    conf.setdefault("redis__prefix", BULK)
    return env.start_rosterd(name="bulk", **conf)


def district_teachers(sbx, dist):
    return sorted(t["id"] for t in sbx.teachers() if t["district"] == dist)


def run_district(env, dist, prefix=BULK, timeout=60, **fields):
    """Enqueue a district job under prefix; wait for its end (its status,
    polled: its event names it too)."""
    f = {"kind": "district", "district": dist}
    f.update({k: str(v) for k, v in fields.items()})
    jid = env.r.xadd(prefix + "jobs", f)
    key = prefix + "job:" + jid

    def ended():
        return env.r.hget(key, "state") in ("done", "failed", "dead")
    wait_for(ended, timeout * SLOW, "district job %s ends" % jid)
    return jid, env.r.hgetall(key)


def snap(env, prefix, t):
    return env.r.hgetall("%ssnapshot:{%s}" % (prefix, t))


def diffs(env, prefix, t):
    return [f for _, f in env.r.xrange(prefix + "diffs") if f["teacher"] == t]


def world(env, teachers=24, districts=3, **conf):
    sbx = env.start_sandbox("--teachers", teachers, "--districts", districts)
    t0 = sbx.teachers()[0]
    env.store_district_token(t0["district"], [d for d in sbx.get("/districts")
                                              if d["id"] == t0["district"]][0]["token"])
    return sbx, t0["district"]


def per_teacher(env, dist, teachers, timeout=60):
    ps = env.subscribe()
    try:
        jids = [env.enqueue(t, district=dist) for t in teachers]
        return dict(zip(teachers, [env.wait_jobs(ps, jids, timeout)[j]
                                   for j in jids]))
    finally:
        ps.close()


# The district field set keeps the records' extras (school, sis_id,
# credentials...): what the pull keeps of a record must hold all of them.
# Small pages: each list walked over several pages to its empty last one.
@pytest.mark.parametrize("fields,page_size", [("library", 10000),
                                              ("district", 5)])
def test_bulk_writes_the_same_snapshots_as_per_teacher_syncs(env, fields,
                                                            page_size):
    sbx, dist = world(env)
    env.r.set(BULK + "district_token:" + dist, env.r.get("rosterd:district_token:" + dist))
    teachers = district_teachers(sbx, dist)
    assert len(teachers) >= 4
    env.start_rosterd(sync__fields=fields)
    start_bulk(env, sync__fields=fields, district__page_size=page_size)
    sts = per_teacher(env, dist, teachers)
    assert all(st["result"] == "changed" for st in sts.values()), sts
    jid, st = run_district(env, dist)
    assert st["state"] == "done", st
    assert st["kind"] == "district" and st["district"] == dist
    assert int(st["teachers"]) == len(teachers)
    assert int(st["changed"]) == len(teachers) and int(st["failed"]) == 0
    if page_size < len(teachers):
        assert int(st["requests"]) > 4, st     # pages followed
    else:
        # a handful of requests for the whole district, not 4 per teacher
        assert int(st["requests"]) < 4 * len(teachers), st
    for t in teachers:
        a, b = snap(env, "rosterd:", t), snap(env, BULK, t)
        assert a["roster"] == b["roster"], t
        assert (a["hash"], a["version"]) == (b["hash"], b["version"]), t
        da, db = diffs(env, "rosterd:", t), diffs(env, BULK, t)
        assert [d["diff"] for d in da] == [d["diff"] for d in db], t
        # each teacher's own status, named after the district job
        tst = env.r.hgetall(BULK + "job:%s.%s" % (jid, t))
        assert tst["state"] == "done" and tst["result"] == "changed", tst
        assert db[0]["job"] == "%s.%s" % (jid, t)
    # teachers of the other districts were not touched
    others = [t["id"] for t in sbx.teachers() if t["district"] != dist]
    assert not any(env.r.exists("%ssnapshot:{%s}" % (BULK, t)) for t in others)
    # again: nothing changed, no diff, the same versions
    _, st2 = run_district(env, dist)
    assert st2["result"] == "no changes" and int(st2["unchanged"]) == len(teachers), st2
    for t in teachers:
        assert len(diffs(env, BULK, t)) == 1
        assert snap(env, BULK, t)["version"] == "1"


def bulk_world(env, **conf):
    """The sandbox, the district token under bulk:, one rosterd on it."""
    sbx, dist = world(env)
    env.r.set(BULK + "district_token:" + dist,
              env.r.get("rosterd:district_token:" + dist))
    d = start_bulk(env, **conf)
    return sbx, dist, district_teachers(sbx, dist), d


def test_follow_set_writes_only_the_apps_teachers(env):
    sbx, dist, teachers, _ = bulk_world(env)
    chosen = teachers[1:3]
    env.r.hset(BULK + "district:{%s}" % dist, "follow", "set")
    env.r.sadd(BULK + "district_teachers:{%s}" % dist, *chosen)
    _, st = run_district(env, dist)
    assert st["state"] == "done" and st["teachers"] == "2", st
    assert st["teachers_listed"] == str(len(teachers))
    written = [t for t in teachers if env.r.exists("%ssnapshot:{%s}" % (BULK, t))]
    assert written == chosen


def test_a_change_reaches_exactly_the_affected_teachers(env):
    sbx, dist, teachers, _ = bulk_world(env)
    run_district(env, dist)
    tok = env.r.get(BULK + "district_token:" + dist)
    t = [x for x in sbx.teachers() if x["district"] == dist and x["sections"]][0]
    sec = t["sections"][0]
    student = api_get(sbx, "/sections/%s/users?role=student" % sec, tok)["data"][0]["data"]["id"]
    in_secs = {s["data"]["id"] for s in
               api_get(sbx, "/users/%s/sections" % student, tok)["data"]}
    affected = sorted(x["id"] for x in sbx.teachers()
                      if x["district"] == dist and in_secs & set(x["sections"]))
    assert t["id"] in affected
    sbx.mutate(op="rename_user", user=student, first="Zebedee")
    _, st = run_district(env, dist)
    assert st["changed"] == str(len(affected)), st
    changed = sorted(x for x in teachers if len(diffs(env, BULK, x)) == 2)
    assert changed == affected
    d = json.loads(diffs(env, BULK, t["id"])[1]["diff"])
    assert "Zebedee" in json.dumps(d)


def test_shrink_guard_and_selection_are_honoured(env):
    sbx, dist, teachers, _ = bulk_world(env)
    tok = env.r.get(BULK + "district_token:" + dist)
    ts = [x for x in sbx.teachers() if x["district"] == dist and len(x["sections"]) >= 2]
    picker, shrunk = ts[0], ts[1]
    env.r.set(BULK + "selection:{%s}" % picker["id"], picker["sections"][0])
    jid, st = run_district(env, dist)
    kept = json.dumps(json.loads(snap(env, BULK, picker["id"])["roster"])["sections"])
    assert picker["sections"][0] in kept and picker["sections"][1] not in kept
    # the picker's list still has every section
    listed = json.loads(env.r.get(BULK + "sections:{%s}" % picker["id"]))["sections"]
    assert sorted(s["id"] for s in listed) == sorted(picker["sections"])
    sec = [s for s in shrunk["sections"] if s not in picker["sections"]][0]
    students = [u["data"]["id"] for u in
                api_get(sbx, "/sections/%s/users?role=student" % sec, tok)["data"]]
    assert len(students) >= 5
    for s in students[: len(students) * 3 // 4]:
        sbx.mutate(op="remove_student", section=sec, student=s)
    jid, st = run_district(env, dist)
    assert st["state"] == "done" and int(st["held"]) >= 1, st
    tst = env.r.hgetall(BULK + "job:%s.%s" % (jid, shrunk["id"]))
    assert tst["state"] == "held" and tst["error"] == "shrink_guard", tst
    assert len(diffs(env, BULK, shrunk["id"])) == 1     # nothing applied
    # the district job's entry is acknowledged once, at its end
    assert env.r.xpending(BULK + "jobs", "rosterd")["pending"] == 0


def test_a_queued_teacher_job_is_satisfied_by_the_district_job(env):
    sbx, dist, teachers, _ = bulk_world(env)
    t = teachers[0]
    env.r.set(BULK + "paused", "test")
    tj = env.r.xadd(BULK + "jobs", {"kind": "sync", "teacher": t})
    dj = env.r.xadd(BULK + "jobs", {"kind": "district", "district": dist})
    env.r.delete(BULK + "paused")
    key = BULK + "job:" + tj
    wait_for(lambda: env.r.hget(key, "state") == "done", 30 * SLOW,
             "the teacher's job ends")
    st = env.r.hgetall(key)
    assert st["result"] == "coalesced", st
    assert st["coalesced_with"] == "%s.%s" % (dj, t), st
    assert len(diffs(env, BULK, t)) == 1


def test_a_bad_district_fails_clearly(env):
    sbx, dist, teachers, d = bulk_world(env)
    _, st = run_district(env, "5f0000000000000000000000")
    assert st["state"] == "failed" and st["error"] == "no_token", st
    assert "district" in st["message"]
    env.r.set(BULK + "district_token:" + dist, "not-a-token")
    _, st = run_district(env, dist)
    assert st["state"] == "failed" and st["error"] == "reauthorize", st
    assert "district token" in st["message"]
    assert "not-a-token" not in d.proc.text()
    wait_for(lambda: "refused the district token" in d.proc.text(), 10 * SLOW,
             "the log says why")
    # a district job names its district
    f = {"kind": "district"}
    jid = env.r.xadd(BULK + "jobs", f)
    wait_for(lambda: env.r.hget(BULK + "job:" + jid, "state") == "failed",
             10 * SLOW, "a district job without a district is rejected")
    assert env.r.hget(BULK + "job:" + jid, "error") == "bad_job"


def test_the_schedule_plans_a_district_as_one_job(env):
    sbx, dist, teachers, _ = bulk_world(env, schedule__interval_s=2,
                                        schedule__jitter_pct=0)
    run_district(env, dist)     # its teachers join the schedule (app)
    env.r.sadd(BULK + "districts", dist)

    def entries():
        return [f for _, f in env.r.xrange(BULK + "jobs")
                if f.get("trigger") == "schedule"]
    wait_for(lambda: sum(f.get("kind") == "district" for f in entries()) >= 2,
             20 * SLOW, "two scheduled district jobs")
    assert env.r.zscore(BULK + "schedule", "district:" + dist) is not None
    # its teachers are synced by the district's job, not one by one
    assert not [f for f in entries() if f.get("teacher") in teachers]
    assert not [t for t in teachers if env.r.zscore(BULK + "schedule", t)]


def test_a_stop_during_the_writes_releases_the_teachers_locks(env):
    """SIGTERM while a pull writes its teachers: the district job goes back
    whole, and a teacher's write it drops releases the teacher's lock (as a
    teacher's own job handed back does) instead of holding it for [sync]
    lock_ttl_ms; a second instance then writes every teacher."""
    sbx = env.start_sandbox("--teachers", 1000, "--districts", 1,
                            "--section-size", 5)
    t0 = sbx.teachers()[0]
    dist = store_district_of(env, sbx, t0)
    teachers = district_teachers(sbx, dist)
    a = env.start_rosterd(district__concurrency=64)
    jid = env.r.xadd("rosterd:jobs", {"kind": "district", "district": dist})
    a.proc.wait_line(r"event=district_pulled", timeout=60)
    env.daemons.remove(a)
    assert a.stop() == 0, exit_report(a.proc)
    st = env.r.hgetall("rosterd:job:" + jid)
    assert st["state"] == "queued", st      # handed back whole
    dropped = [t for t in teachers if "with its district job" in
               (env.r.hget("rosterd:job:%s.%s" % (jid, t), "note") or "")]
    assert dropped, "the stop came after every teacher was written"
    # no teacher lock outlives the instance that stopped
    assert [t for t in teachers if env.r.exists("rosterd:lock:{%s}" % t)] == []
    assert not env.r.exists("rosterd:lock:{district:%s}" % dist)
    env.start_rosterd()
    key = "rosterd:job:" + jid
    wait_for(lambda: env.r.hget(key, "state") == "done", 60 * SLOW,
             "the second instance ends the district job")
    st = env.r.hgetall(key)
    assert st["teachers"] == str(len(teachers)) and st["failed"] == "0", st
    for t in dropped:
        assert env.r.hget("rosterd:job:%s.%s" % (jid, t), "state") == "done"


def test_a_page_that_is_not_json_is_asked_again_and_taken_once(env):
    """The sandbox cuts some answers in half (its malformed fault): each
    such page is asked again, and what the walk took of it before the cut
    is dropped, so every record is counted and written once."""
    sbx, dist, teachers, _ = bulk_world(
        env, district__page_size=7, clever__request_retries=20,
        clever__retry_base_ms=1, clever__retry_max_ms=5)
    _, clean = run_district(env, dist)
    assert clean["state"] == "done", clean
    sbx.post("/faults", {"seed": 7, "rates": {"malformed": 0.3}})
    _, st = run_district(env, dist)
    assert sbx.get("/stats")["faults"].get("malformed", 0) > 0
    assert st["state"] == "done" and st["failed"] == "0", st
    for k in ("teachers_listed", "sections", "students"):
        assert st[k] == clean[k], (k, st, clean)
    assert st["unchanged"] == str(len(teachers)), st
