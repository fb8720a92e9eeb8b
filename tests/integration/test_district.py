"""District bulk syncs (kind district, doc/contract.md "Districts (Secure
Sync)"): the real rosterd, real Redis, the sandbox with several districts.
One rosterd syncs teachers one by one under the prefix "rosterd:", another
pulls their district in bulk under "bulk:", in the same Redis, on the same
data: the snapshots must be the same, byte for byte."""
import json
import time

from conftest import store_district_of, wait_for, SLOW

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


def test_bulk_writes_the_same_snapshots_as_per_teacher_syncs(env):
    sbx, dist = world(env)
    env.r.set(BULK + "district_token:" + dist, env.r.get("rosterd:district_token:" + dist))
    teachers = district_teachers(sbx, dist)
    assert len(teachers) >= 4
    env.start_rosterd()
    start_bulk(env)
    sts = per_teacher(env, dist, teachers)
    assert all(st["result"] == "changed" for st in sts.values()), sts
    jid, st = run_district(env, dist)
    assert st["state"] == "done", st
    assert st["kind"] == "district" and st["district"] == dist
    assert int(st["teachers"]) == len(teachers)
    assert int(st["changed"]) == len(teachers) and int(st["failed"]) == 0
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
