#!/usr/bin/python3
"""District bulk sync vs per-teacher syncs, and an Events pass, for one
district (figures, no assertions; BENCHMARKS.md keeps the last ones):

    tests/bench/bench_district.py [--teachers N] [--section-size S]
                                  [--only bulk|per-teacher]

Defaults: the issue's district, the sandbox's `--teachers 3000
--districts 1 --section-size 20` (3,000 teachers, ~60,000 students).

For each way of a full pass over the district's teachers it prints the
Clever requests, the wall time here (the sandbox's rate limit raised out
of the way) and the wall time at Clever's 1,200 requests per minute per
token, computed from the requests (requests / 20 per second), since every
request of both ways goes through the district token's one bucket.  Then
Redis bytes per district (used_memory before and after the pass: its
teachers' snapshots, states, statuses and diffs, under their own prefix)
and rosterd's peak RSS (VmHWM).

After the bulk pass, two Events passes: the district's Events enabled
and its cursor placed, then (no rosterd running) ~1% of its students
renamed and ~1% of its sections given another subject, and one rosterd
polling every 100 ms until its cursor holds the newest event and every
job it added has ended.  The first pass resyncs per teacher ([events]
teacher_requests = 0: the poller before it weighed its ways), the second
(another 1%) takes the cheaper way, here one district job.  Their
requests are counted at the sandbox by path: /events pages, student
lookups (/users/{id}/sections beyond the one each resync asks) and the
rest (the resyncs, 3 each, or the district pull).
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


def paths_of(sbx):
    return dict(sbx.get("/stats")["paths"])


def one_percent(sbx, token, n_sections, first):
    """Ids of ~1% of the district's students and sections, from the
    first-th on (the district token's lists: asked before the pass is
    counted)."""
    students, after = [], ""
    while True:
        page = api_get(sbx, "/users?role=student&limit=10000" + after, token)
        if not page["data"]:
            break
        students += [d["data"]["id"] for d in page["data"]]
        after = "&starting_after=" + students[-1]
    sections = sorted({s for t in sbx.teachers() for s in t["sections"]})
    return (students[first::100],
            sections[first::100][:max(1, n_sections // 100)])


def api_get(sbx, path, token):
    import json
    import urllib.request
    req = urllib.request.Request(sbx.api + "/v3.0" + path,
                                 headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def pass_events(env, sbx, dist, token, n_sections, first, teacher_requests):
    """After the bulk pass (its snapshots and its job status under bk:):
    Events enabled for the district and its cursor started; while no
    rosterd runs, ~1% of its students renamed and of its sections given
    another subject; then one pass of the poller over those events counted
    at the sandbox: its /events pages, its student lookups, the rest (the
    resyncs or the district pull it enqueued)."""
    env.r.hset("bk:district:{%s}" % dist, "events", "1")
    env.r.sadd("bk:districts", dist)
    cursor = "bk:event_cursor:{%s}" % dist
    if not env.r.hexists(cursor, "started_why"):
        d = env.start_rosterd(redis__prefix="bk:", events__interval_ms=100)
        h.wait_for(lambda: env.r.hexists(cursor, "started_why"), 60,
                   "the events cursor started")
        d.stop()
        env.daemons.remove(d)
    students, sections = one_percent(sbx, token, n_sections, first)
    for s in students:
        sbx.mutate(op="rename_user", user=s, first="Renamed")
    for s in sections:
        sbx.mutate(op="set_subject", section=s, subject="Bench subject")
    p0, t0 = paths_of(sbx), time.monotonic()
    j0 = env.r.xlen("bk:jobs")
    d = env.start_rosterd(redis__prefix="bk:", events__interval_ms=100,
                          events__teacher_requests=teacher_requests)
    newest = sbx.get("/events?district=" + dist)["events"][-1]["id"]
    h.wait_for(lambda: env.r.hget(cursor, "last_id") == newest, 600,
               "the cursor at the newest event")
    wait_acked(env, "bk:", env.r.xlen("bk:jobs"))
    wall = time.monotonic() - t0
    p1 = paths_of(sbx)
    delta = {k: v - p0.get(k, 0) for k, v in p1.items() if v != p0.get(k, 0)}
    added = [f for _, f in env.r.xrange("bk:jobs")][j0:]
    jobs = [f["teacher"] for f in added if f.get("kind") == "sync"]
    resynced = (len(jobs), len(set(jobs)),
                sum(f.get("kind") == "district" for f in added))
    d.stop()
    env.daemons.remove(d)
    return len(students), len(sections), delta, resynced, wall


def events_show(name, ns, nc, paths, resynced, wall):
    ev = paths.get("/events", 0)
    # a resync asks /users/{id} once and its sections once
    look = paths.get("/users/{id}/sections", 0) - paths.get("/users/{id}", 0)
    total = sum(paths.values())
    print("events pass, %s: %d students renamed, %d sections' subject set "
          "(1%%): %d requests (%d /events pages, %d student lookups, %d for "
          "%d resyncs of %d teachers and %d district jobs), %.1f s here, "
          "%.1f s at 1,200/min"
          % (name, ns, nc, total, ev, look, total - ev - look, resynced[0],
             resynced[1], resynced[2], wall, clever_wall_s(total)))
    print("             by path: %s" % paths)


def show(name, rq, wall, mem, rss, n):
    print("%-12s %6d requests, %7.1f s here, %7.1f s at 1,200/min; Redis "
          "+%.1f MB per district (%d B/teacher); rosterd peak RSS %.1f MB"
          % (name + ":", rq, wall, clever_wall_s(rq), mem / 1e6,
             mem // max(1, n), rss / 1024.0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--teachers", type=int, default=3000)
    ap.add_argument("--section-size", type=int, default=20)
    ap.add_argument("--only", choices=("bulk", "per-teacher"),
                    help="one way of the full pass (bulk: then events)")
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
            token = env.r.get("rosterd:district_token:" + dist)
            teachers = [t["id"] for t in ts if t["district"] == dist]
            print("district %s: %d teachers" % (dist, len(teachers)))
            if a.only != "per-teacher":
                rq, wall, mem, rss, st = pass_bulk(env, sbx, dist)
                show("bulk", rq, wall, mem, rss, len(teachers))
                print("             %s sections, %s students; %s changed, "
                      "%s failed" % (st.get("sections"), st.get("students"),
                                     st.get("changed"), st.get("failed")))
                for first, k, name in ((0, 0, "per teacher"),
                                       (1, 3, "cheaper way")):
                    events_show(name, *pass_events(
                        env, sbx, dist, token, int(st["sections"]), first,
                        k))
            if a.only != "bulk":
                rq, wall, mem, rss = pass_per_teacher(env, sbx, dist, teachers)
                show("per-teacher", rq, wall, mem, rss, len(teachers))
        finally:
            env.close()


if __name__ == "__main__":
    main()
