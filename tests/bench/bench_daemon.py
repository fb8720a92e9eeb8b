#!/usr/bin/python3
"""rosterd benchmarks against a real redis-server and the Clever sandbox.
Figures, not assertions: run `tests/bench/bench_daemon.py [name...]`.

  queue     jobs/s for coalesced requests (no Clever call), one process
  cpu       CPU ms per synced teacher (rosterd's utime+stime / teachers),
            against json-c alone parsing the same responses (bench_parse)
  instructions  the same comparison in instructions (callgrind): repeatable
  memory    peak RSS with 1000 teachers in flight at once
  latency   throughput with 50 ms Clever latency vs the concurrency bound
  requests  Clever requests per Library teacher sync, by section count
  dribble   good jobs' latency (p50, p99), alone and while 48 transfers of
            12 teachers dribble a byte every 100 ms
  redis_memory  Redis bytes per teacher at steady state (first sync, the
            app read and acknowledged its diffs, retention trimmed), at
            1,000 and 10,000 teachers, by key family
"""
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import conftest as h  # noqa: E402


def proc_cpu_ms(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) * 1000.0 / ticks


def proc_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def wait_all_done(env, n, timeout=600):
    """Wait until n jobs have been acknowledged (group lag and pending 0)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        g = env.r.xinfo_groups("rosterd:jobs")
        if g and g[0]["pending"] == 0 and (g[0].get("lag") in (0, None)) \
                and g[0]["entries-read"] is not None and g[0]["entries-read"] >= n:
            return
        time.sleep(0.05)  # a benchmark poll, not a test synchronisation
    raise SystemExit("timed out waiting for %d jobs" % n)


def sandbox_with_tokens(env, teachers, *args):
    """A sandbox of that many teachers, each with its token stored as an
    app would; returns it and its teachers."""
    sbx = env.start_sandbox("--teachers", teachers, "--seed", 1, *args)
    ts = sbx.teachers()
    for t in ts:
        env.store_token(t["id"], t["token"])
    return sbx, ts


def enqueue_many(env, teachers, per_teacher=1, kind="sync"):
    pipe = env.r.pipeline(transaction=False)
    n = 0
    for _ in range(per_teacher):
        for t in teachers:
            pipe.xadd("rosterd:jobs", {"teacher": t, "kind": kind})
            n += 1
            if n % 5000 == 0:
                pipe.execute()
    pipe.execute()
    return n


def bench_queue(tmp):
    env = h.Env(tmp)
    env.redis = h.Redis(tmp)
    try:
        # every request finds a sync of its teacher that started later
        teachers = ["%024x" % i for i in range(1000)]
        for t in teachers:
            env.r.hset("rosterd:state:{%s}" % t, mapping={
                "done_started_ms": 10 ** 15, "done_job": "0-1", "done_version": 1})
        n = enqueue_many(env, teachers, per_teacher=200)
        d = env.start_rosterd(sync__concurrency=2000, log__level="info")
        t0 = time.monotonic()
        cpu0 = proc_cpu_ms(d.proc.p.pid)
        wait_all_done(env, n)
        dt = time.monotonic() - t0
        cpu = proc_cpu_ms(d.proc.p.pid) - cpu0
        print("queue: %d coalesced jobs in %.2f s = %.0f jobs/s (rosterd CPU "
              "%.0f ms, %.1f us/job)" % (n, dt, n / dt, cpu, cpu * 1000 / n))
    finally:
        env.close()


def bench_cpu(tmp, teachers=1000):
    env = h.Env(tmp)
    env.redis = h.Redis(tmp)
    try:
        sbx, ts = sandbox_with_tokens(env, teachers)
        n = enqueue_many(env, [t["id"] for t in ts])
        d = env.start_rosterd(sync__concurrency=64, log__level="info")
        t0 = time.monotonic()
        wait_all_done(env, n)
        dt = time.monotonic() - t0
        cpu = proc_cpu_ms(d.proc.p.pid)
        st = sbx.get("/stats")
        print("cpu: %d teachers synced in %.2f s (%.0f/s); rosterd CPU %.0f ms "
              "= %.3f ms per teacher; %d Clever requests (%.2f per teacher)" % (
                  n, dt, n / dt, cpu, cpu / n, st["requests"], st["requests"] / n))
        # a second round: the same rosters again, unchanged
        cpu0 = proc_cpu_ms(d.proc.p.pid)
        t0 = time.monotonic()
        enqueue_many(env, [t["id"] for t in ts])
        wait_all_done(env, 2 * n)
        print("cpu: resync of the %d unchanged rosters in %.2f s: %.3f ms "
              "per teacher" % (n, time.monotonic() - t0,
                               (proc_cpu_ms(d.proc.p.pid) - cpu0) / n))
        # the baseline: json-c alone on the very same responses
        path = os.path.join(tmp, "responses")
        responses_file(sbx, ts, path)
        out = subprocess.run([os.path.join(h.BUILD, "tests", "bench", "bench_parse"),
                              path, str(n)], capture_output=True, text=True).stdout
        base = float(out.split("=")[1].split()[0])
        print("cpu: " + out.strip() + "; rosterd needs %.2fx that" % (cpu / n / base))
    finally:
        env.close()


def responses_file(sbx, ts, path):
    """The four Clever responses of each teacher's sync, for bench_parse."""
    with open(path, "wb") as f:
        for t in ts:
            for p in ("/me", "/users/%s" % t["id"],
                      "/users/%s/sections" % t["id"],
                      "/users/%s/mystudents" % t["id"]):
                req = urllib.request.Request(
                    sbx.api + "/v3.0" + p,
                    headers={"Authorization": "Bearer " + t["token"]})
                body = urllib.request.urlopen(req).read()
                f.write(b"%d\n" % len(body) + body)


def callgrind_total(path):
    out = subprocess.run(["callgrind_annotate", path], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        if "PROGRAM TOTALS" in line:
            return int(line.split()[0].replace(",", ""))
    raise SystemExit("no totals in " + path)


def bench_instructions(tmp, teachers=300):
    """CPU per teacher in instructions (callgrind): repeatable, unlike CPU
    time on a shared machine.  User space only, for both sides."""
    h.WRAP[:] = ["valgrind", "--tool=callgrind",
                 "--callgrind-out-file=%s/rosterd.cg" % tmp]
    h.SLOW = 20
    env = h.Env(tmp)
    env.redis = h.Redis(tmp)
    try:
        sbx, ts = sandbox_with_tokens(env, teachers)
        responses_file(sbx, ts, os.path.join(tmp, "responses"))
        env.start_rosterd(sync__concurrency=64, log__level="info")
        n = enqueue_many(env, [t["id"] for t in ts])
        wait_all_done(env, n)
    finally:
        env.close()
        h.WRAP[:] = []
        h.SLOW = 1
    subprocess.run(["valgrind", "--tool=callgrind",
                    "--callgrind-out-file=%s/parse.cg" % tmp,
                    os.path.join(h.BUILD, "tests", "bench", "bench_parse"),
                    os.path.join(tmp, "responses"), str(teachers)],
                   capture_output=True, check=True)
    a = callgrind_total(os.path.join(tmp, "rosterd.cg")) / teachers
    p = callgrind_total(os.path.join(tmp, "parse.cg")) / teachers
    print("instructions: rosterd %.2fM per synced teacher (everything: "
          "Redis, curl, roster, diff, logging); json-c alone on the same "
          "responses %.2fM; ratio %.2f" % (a / 1e6, p / 1e6, a / p))


def bench_memory(tmp, teachers=1000):
    env = h.Env(tmp)
    env.redis = h.Redis(tmp)
    try:
        sbx, ts = sandbox_with_tokens(env, teachers, "--latency-ms", 3000)
        d = env.start_rosterd(sync__concurrency=teachers, log__level="info",
                              clever__max_connections=1000)
        base = proc_hwm_kb(d.proc.p.pid)
        n = enqueue_many(env, [t["id"] for t in ts])
        wait_all_done(env, n)
        print("memory: peak RSS %.1f MB with %d teachers in flight at once, "
              "1000 connections (%.1f MB idle)" % (
                  proc_hwm_kb(d.proc.p.pid) / 1024.0, n, base / 1024.0))
    finally:
        env.close()


def bench_latency(tmp, teachers=400, latency=50, conc=64):
    env = h.Env(tmp)
    env.redis = h.Redis(tmp)
    try:
        sbx, ts = sandbox_with_tokens(env, teachers, "--latency-ms", latency)
        n = enqueue_many(env, [t["id"] for t in ts])
        # HTTP/1.1 (the sandbox): the 4 requests of each sync need their
        # own connections; HTTP/2 (api.clever.com) would share them
        env.start_rosterd(sync__concurrency=conc, log__level="info",
                          clever__max_connections=4 * conc)
        t0 = time.monotonic()
        wait_all_done(env, n)
        dt = time.monotonic() - t0
        # 4 parallel requests per sync: one round trip of latency per sync
        bound = conc * 1000.0 / latency
        print("latency: %d ms per response, concurrency %d: %.0f syncs/s "
              "(bound %.0f/s: %.0f%%)" % (latency, conc, n / dt, bound,
                                          100 * n / dt / bound))
    finally:
        env.close()


def bench_requests(tmp):
    env = h.Env(tmp)
    env.redis = h.Redis(tmp)
    try:
        sbx = env.start_sandbox("--teachers", 60, "--seed", 3)
        env.start_rosterd(log__level="info")
        seen = {}
        for t in sbx.teachers():
            env.store_token(t["id"], t["token"])
            _, st = env.run(t["id"])
            seen.setdefault(len(t["sections"]), set()).add(st["requests"])
        print("requests per Library sync by number of sections: " + ", ".join(
            "%d sections: %s" % (k, "/".join(sorted(v))) for k, v in sorted(seen.items())))
    finally:
        env.close()


def job_latencies(env, teachers):
    """One job after the other (no queueing): created -> finished, ms."""
    out = []
    for t in teachers:
        _, st = env.run(t["id"])
        assert st["state"] == "done", st
        out.append(int(st["finished_ms"]) - int(st["created_ms"]))
    out.sort()
    return out


def pct(v, p):
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def bench_dribble(tmp, good=200, bad=12):
    env = h.Env(tmp)
    env.redis = h.Redis(tmp)
    try:
        sbx, ts = sandbox_with_tokens(env, good + bad)
        env.start_rosterd(sync__concurrency=64, log__level="info",
                          clever__request_timeout_ms=600000)
        normal = job_latencies(env, ts[bad:])
        for t in ts[:bad]:
            sbx.post("/hostile", {"token": t["token"], "kind": "dribble",
                                  "interval_ms": 100})
        enqueue_many(env, [t["id"] for t in ts[:bad]])
        while sbx.get("/stats")["hostile_active"] < 4 * bad:
            time.sleep(0.05)  # a benchmark poll
        hostile = job_latencies(env, ts[bad:])
        still = sbx.get("/stats")["hostile_active"]
        print("dribble: good jobs p50 %d ms, p99 %d ms alone; p50 %d ms, "
              "p99 %d ms with %d dribbling transfers in flight (%d at the "
              "end): p99 %.1fx" % (pct(normal, 50), pct(normal, 99),
                                   pct(hostile, 50), pct(hostile, 99),
                                   4 * bad, still,
                                   pct(hostile, 99) / max(1, pct(normal, 99))))
    finally:
        env.close()


def bench_latency_sweep(tmp):
    """Throughput against the bound concurrency / latency, at a few
    concurrencies; on a 2-core machine the CPU of rosterd, the sandbox and
    Redis together caps the largest."""
    for conc in (8, 32, 64):
        with tempfile.TemporaryDirectory(prefix="rosterd-bench-") as t:
            bench_latency(t, teachers=max(200, conc * 6), conc=conc)


def used_memory(r):
    return int(r.info("memory")["used_memory"])


def keyspace_overhead(r):
    """Redis's own per-key bookkeeping (main and expires dictionaries),
    which MEMORY USAGE of a key leaves out in part."""
    st = r.memory_stats()
    return sum(int(d.get("overhead.hashtable.main", 0)) +
               int(d.get("overhead.hashtable.expires", 0))
               for k, d in st.items() if k.startswith("db."))


# each key family of a teacher, and how to name it from the teacher's id
# (job statuses and the streams are measured apart)
TEACHER_KEYS = [
    ("snapshot", "rosterd:snapshot:{%s}"),
    ("state", "rosterd:state:{%s}"),
    ("sections", "rosterd:sections:{%s}"),
    ("selection", "rosterd:selection:{%s}"),
    ("token", "rosterd:token:%s"),
    ("ratelimit", "rosterd:ratelimit:{rl}:teacher:%s"),
]


def memory_breakdown(r, teachers, jobs, sample=200):
    """Mean MEMORY USAGE per teacher of each key family, on a sample; the
    streams whole, divided by the teachers."""
    step = max(1, len(teachers) // sample)
    some = teachers[::step]
    out = {}
    for fam, pat in TEACHER_KEYS:
        tot = 0
        for t in some:
            tot += r.memory_usage(pat % t, samples=0) or 0
        out[fam] = tot / len(some)
    js = jobs[::step]
    out["job status"] = sum(r.memory_usage("rosterd:job:" + j, samples=0) or 0
                            for j in js) / len(js)
    for st in ("jobs", "diffs", "dead"):
        out["stream " + st] = (r.memory_usage("rosterd:" + st, samples=0)
                               or 0) / len(teachers)
    # the freshness schedule: a sorted set of every teacher synced
    out["schedule"] = (r.memory_usage("rosterd:schedule", samples=0)
                       or 0) / len(teachers)
    return out


def redis_memory(tmp, teachers):
    """Redis bytes per teacher at steady state: one sync of each teacher,
    the app's group read and acknowledged every diff, and retention has
    trimmed behind it.  Returns a dict of figures."""
    env = h.Env(tmp)
    env.redis = h.Redis(tmp)
    try:
        r = env.r
        base = used_memory(r)
        sbx, ts = sandbox_with_tokens(env, teachers)
        ids = [t["id"] for t in ts]
        tokens = used_memory(r) - base
        # the app's group, as doc/contract.md has the app read diffs
        r.xgroup_create("rosterd:diffs", "myapp", id="0", mkstream=True)
        d = env.start_rosterd(sync__concurrency=64, log__level="info",
                              retention__interval_ms=1000)
        jobs = []
        pipe = r.pipeline(transaction=False)
        for i, t in enumerate(ids):
            pipe.xadd("rosterd:jobs", {"teacher": t, "kind": "sync"})
            if (i + 1) % 5000 == 0 or i + 1 == len(ids):
                jobs += pipe.execute()
        wait_all_done(env, teachers)
        first = used_memory(r) - base
        diffs_before = r.xlen("rosterd:diffs")
        # the app reads and acknowledges every diff
        while True:
            got = r.xreadgroup("myapp", "app-1", {"rosterd:diffs": ">"},
                               count=1000)
            if not got or not got[0][1]:
                break
            r.xack("rosterd:diffs", "myapp", *[e[0] for e in got[0][1]])
        # retention: wait for a trim after the acknowledgements
        deadline = time.monotonic() + 60
        while (r.xlen("rosterd:diffs") or r.xlen("rosterd:jobs")) \
                and time.monotonic() < deadline:
            time.sleep(0.2)  # a benchmark poll
        used = used_memory(r) - base
        out = {
            "keyspace_overhead_per_teacher": keyspace_overhead(r) / teachers,
            "teachers": teachers,
            "diffs_written": diffs_before,
            "bytes_per_teacher_after_first_sync": first / teachers,
            "bytes_per_teacher": used / teachers,
            "bytes_per_teacher_without_tokens": (used - tokens) / teachers,
            "breakdown": memory_breakdown(r, ids, jobs),
            "stream_lengths": {s: r.xlen("rosterd:" + s)
                               for s in ("jobs", "diffs", "dead")},
            "encodings": {fam: r.object("encoding", pat % ids[0])
                          for fam, pat in TEACHER_KEYS
                          if r.exists(pat % ids[0])},
        }
        out["encodings"]["job status"] = r.object("encoding",
                                                  "rosterd:job:" + jobs[0])
        # each later sync adds a status for status_ttl_s: an unchanged
        # resync's, measured on a sample (after the figures above)
        some = ids[:200]
        again = [r.xadd("rosterd:jobs", {"teacher": t, "kind": "sync"})
                 for t in some]
        wait_all_done(env, teachers + len(some))
        out["resync_status_bytes"] = sum(
            r.memory_usage("rosterd:job:" + j, samples=0) or 0
            for j in again) / len(again)
        return out
    finally:
        env.close()


def print_redis_memory(m):
    print("redis_memory: %d teachers: %.0f bytes per teacher at steady state "
          "(%.0f without the app's tokens; %.0f after the first sync, "
          "before the app acknowledged %d diffs)" % (
              m["teachers"], m["bytes_per_teacher"],
              m["bytes_per_teacher_without_tokens"],
              m["bytes_per_teacher_after_first_sync"], m["diffs_written"]))
    print("redis_memory:   by key family (MEMORY USAGE, mean per teacher): " +
          ", ".join("%s %.0f" % kv for kv in m["breakdown"].items()))
    print("redis_memory:   keyspace dictionaries %.0f bytes per teacher; "
          "each later sync adds a status of %.0f bytes for status_ttl_s "
          "(an unchanged resync's)" % (m["keyspace_overhead_per_teacher"],
                                       m["resync_status_bytes"]))
    print("redis_memory:   encodings: " +
          ", ".join("%s %s" % kv for kv in m["encodings"].items()))


def bench_redis_memory(tmp, sizes=(1000, 10000)):
    for n in sizes:
        with tempfile.TemporaryDirectory(dir=tmp) as t:
            print_redis_memory(redis_memory(t, n))


BENCHES = {"queue": bench_queue, "cpu": bench_cpu,
           "instructions": bench_instructions, "memory": bench_memory,
           "latency": bench_latency_sweep, "requests": bench_requests,
           "dribble": bench_dribble, "redis_memory": bench_redis_memory}

if __name__ == "__main__":
    names = sys.argv[1:] or list(BENCHES)
    for name in names:
        with tempfile.TemporaryDirectory(prefix="rosterd-bench-") as tmp:
            BENCHES[name](tmp)
