#!/usr/bin/python3
"""District bulk sync vs per-teacher syncs, for one district (figures, no
assertions): `tests/bench/bench_district.py [--teachers N]` (default 3000,
the sandbox's --teachers N --districts 1).

For each way of a full pass over the district's teachers it prints the
Clever requests, the wall time here (the sandbox's rate limit raised out
of the way) and the wall time at Clever's 1,200 requests per minute per
token, computed from the requests (ceil(requests / 1200) windows of 60 s,
the last one counted by its share: requests / 20 s), since every request
of both ways goes through the district token's one bucket.  Then Redis
bytes per district (used_memory before and after the pull, its teachers'
snapshots, states, statuses and diffs, under their own prefix) and
rosterd's peak RSS (VmHWM) for each.
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import conftest as h  # noqa: E402
from bench_daemon import proc_hwm_kb  # noqa: E402

CLEVER_PER_MIN = 1200


def clever_wall_s(requests):
    return requests * 60.0 / CLEVER_PER_MIN


def wait_acked(env, prefix, n, timeout=3600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        g = env.r.xinfo_groups(prefix + "jobs")
        if g and g[0]["pending"] == 0 and g[0]["entries-read"] is not None \
                and g[0]["entries-read"] >= n and g[0].get("lag") in (0, None):
            return
        time.sleep(0.05)    # a benchmark poll
    raise SystemExit("timed out")


def requests_of(sbx):
    return sum(sbx.get("/stats")["paths"].values())


def used_memory(env):
    return env.r.info("memory")["used_memory"]


def pass_per_teacher(env, sbx, dist, teachers):
    d = env.start_rosterd(redis__prefix="pt:", sync__concurrency=64)
    env.r.set("pt:district_token:" + dist, env.r.get("rosterd:district_token:" + dist))
    r0, m0, t0 = requests_of(sbx), used_memory(env), time.monotonic()
    pipe = env.r.pipeline(transaction=False)
    for t in teachers:
        pipe.xadd("pt:jobs", {"kind": "sync", "teacher": t, "district": dist})
    pipe.execute()
    wait_acked(env, "pt:", len(teachers))
    wall = time.monotonic() - t0
    out = (requests_of(sbx) - r0, wall, used_memory(env) - m0,
           proc_hwm_kb(d.proc.p.pid))
    d.stop()
    env.daemons.remove(d)
    return out


def pass_bulk(env, sbx, dist):
    d = env.start_rosterd(redis__prefix="bk:")
    env.r.set("bk:district_token:" + dist, env.r.get("rosterd:district_token:" + dist))
    r0, m0, t0 = requests_of(sbx), used_memory(env), time.monotonic()
    jid = env.r.xadd("bk:jobs", {"kind": "district", "district": dist})
    wait_acked(env, "bk:", 1)
    wall = time.monotonic() - t0
    st = env.r.hgetall("bk:job:" + jid)
    out = (requests_of(sbx) - r0, wall, used_memory(env) - m0,
           proc_hwm_kb(d.proc.p.pid), st)
    d.stop()
    env.daemons.remove(d)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--teachers", type=int, default=3000)
    ap.add_argument("--section-size", type=int, default=20)
    ap.add_argument("--only", choices=("bulk", "per-teacher", "events"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rosterd-bench-") as tmp:
        env = h.Env(tmp, tls=False)
        env.start_redis()
        try:
            sbx = env.start_sandbox("--teachers", a.teachers, "--districts", 1,
                                    "--section-size", a.section_size,
                                    "--rate-limit", 10000000)
            ts = sbx.teachers()
            dist = h.store_district_of(env, sbx, ts[0])
            teachers = [t["id"] for t in ts if t["district"] == dist]
            print("district %s: %d teachers" % (dist, len(teachers)))
            rq, wall, mem, rss, st = pass_bulk(env, sbx, dist)
            print("bulk:        %6d requests, %7.1f s here, %8.1f s at 1,200/min; "
                  "Redis +%.1f MB (%d B/teacher); rosterd peak RSS %.1f MB"
                  % (rq, wall, clever_wall_s(rq), mem / 1e6,
                     mem // max(1, len(teachers)), rss / 1024.0))
            print("             %s sections, %s students; %s changed, %s failed"
                  % (st.get("sections"), st.get("students"), st.get("changed"),
                     st.get("failed")))
            rq, wall, mem, rss = pass_per_teacher(env, sbx, dist, teachers)
            print("per-teacher: %6d requests, %7.1f s here, %8.1f s at 1,200/min; "
                  "Redis +%.1f MB (%d B/teacher); rosterd peak RSS %.1f MB"
                  % (rq, wall, clever_wall_s(rq), mem / 1e6,
                     mem // max(1, len(teachers)), rss / 1024.0))
        finally:
            env.close()


if __name__ == "__main__":
    main()
