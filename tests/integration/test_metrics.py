"""The opt-in Prometheus endpoint of the real rosterd, scraped over HTTP and
read with Prometheus's own parser (python3-prometheus-client) and linted
by promtool: jobs by kind, outcome and trigger, durations, Clever requests
by endpoint and status and their latency, 429s and rate-limit waits,
Redis reconnects, the queue (a backlog figure even when Redis cannot
tell the lag), dead letters, diff-stream lag per app group, pause, the
instances, a stall, the process; every family documented in
doc/metrics.md."""
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from conftest import (ROSTERD, SLOW, TOP, rosterctl, teacher_with_sections,
                      wait_for)

NO_TOKEN = "5f" * 12


def start(env, **conf):
    d = env.start_rosterd(metrics__listen="127.0.0.1:0", **conf)
    _, m = d.proc.wait_line(r"event=metrics_listening .*(http://\S+/metrics)")
    return d, m.group(1)


def scrape_text(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def scrape(url):
    text = scrape_text(url)
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {}
    for f in fams.values():
        # Prometheus naming: rosterd_ prefix (process_: the standard
        # ones), units in the name
        assert re.fullmatch(r"(rosterd|process)_[a-z0-9_]+", f.name), f.name
        assert f.documentation, f.name
        for s in f.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            samples[key] = s.value
    return fams, samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def test_scrape_tells_what_happened(env):
    # Clever allows 5 requests per 2 s for the district's token; rosterd
    # believes 1200 per minute until the headers say otherwise
    sbx = env.start_sandbox("--teachers", 6, "--seed", 8, "--rate-limit", 5,
                            "--rate-window-s", 2)
    ts = [t for t in sbx.teachers() if t["sections"]][:3]
    dist = sbx.get("/districts")[0]
    env.store_district_token(dist["id"], dist["token"])
    env.r.xgroup_create("rosterd:diffs", "myapp", id="0", mkstream=True)
    d, url = start(env, clever__rate_window_s=2)
    ps = env.subscribe()
    jobs = [env.enqueue(t["id"], district=dist["id"]) for t in ts]
    res = env.wait_jobs(ps, jobs, timeout=60)
    assert all(s["result"] == "changed" for s in res.values()), res
    _, st = env.run(NO_TOKEN)
    assert st["error"] == "no_token"
    # one request satisfied by another's sync: coalesced
    job = {"teacher": ts[0]["id"], "district": dist["id"]}
    with env.r.pipeline(transaction=True) as pipe:
        pipe.xadd("rosterd:jobs", job)
        pipe.xadd("rosterd:jobs", job)
        pair = pipe.execute()
    res = env.wait_jobs(ps, pair, timeout=60)
    assert sorted(s["result"] for s in res.values()) == \
        ["coalesced", "no changes"], res

    fams, s = scrape(url)
    assert fams["rosterd_jobs"].type == "counter"   # rosterd_jobs_total
    assert value(s, "rosterd_jobs_total", kind="sync", outcome="changed", trigger="app") == 3
    assert value(s, "rosterd_jobs_total", kind="sync", outcome="unchanged", trigger="app") == 1
    assert value(s, "rosterd_jobs_total", kind="sync", outcome="coalesced", trigger="app") == 1
    assert value(s, "rosterd_jobs_total", kind="sync", outcome="failed", trigger="app") == 1
    assert value(s, "rosterd_jobs_total", kind="discover",
                 outcome="changed", trigger="app") == 0
    # histograms: cumulative buckets, +Inf is the count
    assert fams["rosterd_job_duration_seconds"].type == "histogram"
    n = value(s, "rosterd_job_duration_seconds_count", kind="sync")
    assert n == 5 == value(s, "rosterd_job_duration_seconds_bucket",
                           kind="sync", le="+Inf")   # all but coalesced
    assert value(s, "rosterd_job_queue_wait_seconds_count") == 5
    buckets = sorted((float(dict(k[1])["le"]), v) for k, v in s.items()
                     if k[0] == "rosterd_job_duration_seconds_bucket" and
                     dict(k[1])["kind"] == "sync")
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)
    # every kind has every bucket (a forget's 2 ms is not in +Inf alone)
    for kind in ("sync", "discover", "forget"):
        les = [dict(k[1])["le"] for k in s
               if k[0] == "rosterd_job_duration_seconds_bucket" and
               dict(k[1])["kind"] == kind]
        assert len(les) == len(buckets), (kind, les)
    # Clever: by endpoint and status; the 429s, and the wait they caused
    # the district token's /me answered once, kept for the other syncs
    assert value(s, "rosterd_clever_requests_total", endpoint="me",
                 status="200") == 1
    n429 = sum(v for k, v in s.items() if k[0] ==
               "rosterd_clever_requests_total" and ("status", "429") in k[1])
    assert n429 > 0
    assert value(s, "rosterd_clever_rate_limited_total") == n429 == \
        sbx.get("/stats")["429_sent"]
    assert value(s, "rosterd_rate_limit_wait_seconds_total") > 0
    # the app's group has not read the three diffs
    assert value(s, "rosterd_diffs_lag", group="myapp") == 3
    assert value(s, "rosterd_diffs_pending", group="myapp") == 0
    assert value(s, "rosterd_queue_waiting_jobs") == 0
    assert value(s, "rosterd_redis_up") == 1
    version = subprocess.run([ROSTERD, "--version"], capture_output=True,
                             text=True).stdout.split()[1]
    (info,) = [k for k in s if k[0] == "rosterd_build_info"]
    assert dict(info[1])["version"] == version

    # paused: the job waits in the stream, and the scrape says so
    mark = d.proc.mark()
    assert rosterctl("-c", d.conf_path, "pause").returncode == 0
    d.proc.wait_line(r"event=paused", start=mark)
    waiting = env.enqueue(NO_TOKEN)
    _, s = scrape(url)
    assert value(s, "rosterd_paused") == 1
    assert value(s, "rosterd_queue_waiting_jobs") == 1

    # Redis restarts under the reader's blocked XREADGROUP: the failed
    # command and both reconnections are counted
    mark = d.proc.mark()
    assert rosterctl("-c", d.conf_path, "resume").returncode == 0
    d.proc.wait_line(r"event=resumed", start=mark)
    env.wait_jobs(ps, [waiting])
    env.redis.stop()
    env.redis.start()
    d.proc.wait_line(r"event=redis_ready", start=mark)
    _, s = scrape(url)
    assert value(s, "rosterd_redis_reconnects_total") >= 1
    assert value(s, "rosterd_redis_errors_total", kind="connection") + \
        value(s, "rosterd_redis_errors_total", kind="timeout") >= 1
    # anything but /metrics is not found
    try:
        urllib.request.urlopen(url.replace("/metrics", "/"), timeout=10)
        raise AssertionError("/ answered")
    except urllib.error.HTTPError as e:
        assert e.code == 404


def test_metrics_are_off_by_default_and_a_bad_address_is_refused(env):
    d = env.start_rosterd()
    assert "metrics_listening" not in d.proc.text()
    path = d.conf_path + ".bad"
    with open(path, "w") as f:
        f.write("[metrics]\nlisten = localhost\n")
    out = subprocess.run([ROSTERD, "-n", "-c", path], capture_output=True,
                         text=True)
    assert out.returncode == 78 and "[metrics] listen: expected HOST:PORT" in \
        out.stderr, out


def test_the_schedule_in_figures(env):
    """Teachers scheduled, due, overdue (past their slot), left, awaiting a
    token: the gauge an alert on a stalled schedule watches."""
    env.start_sandbox("--teachers", 1)
    d, url = start(env, schedule__interval_s=0)	# off: nothing moves
    now = env.r.time()
    now = now[0] * 1000 + now[1] // 1000
    env.r.zadd("rosterd:schedule", {"a1": now - 3600000, "a2": now - 10,
                                    "a3": now + 60000})
    env.r.zadd("rosterd:schedule:left", {"b1": 1})
    env.r.zadd("rosterd:reauthorize", {"b1": 1})
    _, s = scrape(url)
    got = {st: value(s, "rosterd_schedule_teachers", state=st) for st in
           ("scheduled", "due", "overdue", "left", "awaiting_token")}
    assert got == {"scheduled": 3, "due": 2, "overdue": 1, "left": 1,
                   "awaiting_token": 1}, got


def stats(d):
    out = rosterctl("-c", d.conf_path, "--json", "stats")
    assert out.returncode == 0, out
    return json.loads(out.stdout)


def test_the_backlog_is_counted_after_a_rejected_job(env):
    """A malformed job is deleted from the stream (it may carry a secret):
    while it is the last one read and an earlier entry is still there,
    Redis 7.0 cannot tell the group's lag, yet the waiting jobs are
    counted, by the metrics and rosterctl stats alike, and no scrape counts
    an error though there is no diff stream."""
    d, url = start(env, retention__interval_ms=86400000)   # no trim
    _, st = env.run(NO_TOKEN)               # an entry that stays
    assert st["error"] == "no_token"
    mark = d.proc.mark()
    env.r.xadd("rosterd:jobs", {"teacher": "x" * 24, "token": "secret"})
    d.proc.wait_line(r"event=bad_job", start=mark)
    assert rosterctl("-c", d.conf_path, "pause").returncode == 0
    d.proc.wait_line(r"event=paused", start=mark)
    # the reader's blocked read unblocked: nothing it could still take
    wait_for(lambda: not any("b" in c["flags"] for c in env.r.client_list()),
             20, "the reader to stop reading")
    for i in range(3):
        env.enqueue(NO_TOKEN)
    (g,) = env.r.xinfo_groups("rosterd:jobs")
    assert g["lag"] is None, "Redis can tell: the test shows nothing"
    assert not env.r.exists("rosterd:diffs")
    _, s = scrape(url)
    errors = value(s, "rosterd_redis_errors_total", kind="reply")
    assert value(s, "rosterd_queue_waiting_jobs") == 3
    assert ("rosterd_queue_waiting_jobs", ()) in s
    assert value(s, "rosterd_queue_pending_jobs") == 0
    assert value(s, "rosterd_dead_letters", state="failed") == 2
    assert value(s, "rosterd_dead_letters", state="dead") == 0
    assert value(s, "rosterd_dead_letters", state="held") == 0
    assert value(s, "rosterd_jobs_received_total", kind="sync",
                 trigger="app") == 2
    assert value(s, "rosterd_jobs_total", kind="sync", outcome="rejected",
                 trigger="app") == 1
    # the oldest waiting job ages on the Redis clock
    wait_for(lambda: value(scrape(url)[1],
                           "rosterd_queue_oldest_waiting_seconds") > 0, 20,
             "the oldest wait to grow")
    for _ in range(3):
        _, s = scrape(url)
    assert value(s, "rosterd_redis_errors_total", kind="reply") == errors
    assert value(s, "rosterd_redis_healthy") == 1
    st = stats(d)
    assert st["jobs"]["waiting"] == 3 and st["jobs"]["oldest_waiting_age_ms"] > 0
    assert st["dead"] == {"total": 2, "failed": 2, "dead": 0, "held": 0}
    out = rosterctl("-c", d.conf_path, "stats")
    assert "3 waiting" in out.stdout, out.stdout
    # read: none waits any more, the oldest wait is 0
    assert rosterctl("-c", d.conf_path, "resume").returncode == 0
    wait_for(lambda: value(scrape(url)[1], "rosterd_queue_waiting_jobs") == 0,
             20, "the jobs to be read")
    assert value(scrape(url)[1], "rosterd_queue_oldest_waiting_seconds") == 0


def test_every_family_is_documented_and_promtool_accepts_the_page(env):
    sbx = env.start_sandbox("--teachers", 2)
    t = teacher_with_sections(sbx)
    env.store_token(t["id"], t["token"])
    env.r.xgroup_create("rosterd:diffs", "myapp", id="0", mkstream=True)
    d, url = start(env)
    _, st = env.run(t["id"])
    assert st["state"] == "done", st
    _, st = env.run(NO_TOKEN, trigger="schedule")   # as the schedule adds
    assert st["error"] == "no_token"
    text = scrape_text(url)
    exposed = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    with open(os.path.join(TOP, "doc", "metrics.md")) as f:
        documented = dict(re.findall(
            r"^\| `([a-z_]+)` \| (counter|gauge|histogram) \|", f.read(),
            re.M))
    assert exposed == documented
    lint = subprocess.run(["/usr/bin/promtool", "check", "metrics"],
                          input=text, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    # the families with labels have their series
    _, s = scrape(url)
    assert value(s, "rosterd_clever_request_duration_seconds_count",
                 endpoint="me") >= 1
    assert value(s, "rosterd_clever_request_duration_seconds_bucket",
                 endpoint="me", le="60") >= 1
    assert ("rosterd_diffs_lag", (("group", "myapp"),)) in s
    assert value(s, "rosterd_diffs_lag", group="myapp") == 1
    assert value(s, "rosterd_jobs_total", kind="sync", outcome="changed",
                 trigger="app") == 1
    assert value(s, "rosterd_jobs_total", kind="sync", outcome="failed",
                 trigger="schedule") == 1
    assert value(s, "rosterd_jobs_total", kind="sync", outcome="failed",
                 trigger="app") == 0
    for trigger, n in (("app", 1), ("schedule", 1), ("unrenewed", 0)):
        assert value(s, "rosterd_jobs_received_total", kind="sync",
                     trigger=trigger) == n
    (info,) = [k for k in s if k[0] == "rosterd_build_info"]
    assert re.fullmatch(r"[0-9a-f]{7,40}|unknown", dict(info[1])["commit"])
    # the process, as /proc tells it
    pid = d.proc.p.pid
    with open("/proc/%d/stat" % pid) as f:
        rss_pages = int(f.read().rsplit(")", 1)[1].split()[21])
    assert value(s, "process_resident_memory_bytes") > 0
    assert abs(value(s, "process_resident_memory_bytes") -
               rss_pages * os.sysconf("SC_PAGESIZE")) < 64 << 20
    assert value(s, "process_virtual_memory_bytes") >= \
        value(s, "process_resident_memory_bytes")
    assert 0 < value(s, "process_open_fds") <= value(s, "process_max_fds")
    assert value(s, "process_open_fds") <= len(os.listdir("/proc/%d/fd" % pid)) + 4
    assert value(s, "process_cpu_seconds_total") >= 0
    assert abs(value(s, "process_start_time_seconds") -
               os.stat("/proc/%d" % pid).st_mtime) < 3600
    assert value(s, "process_start_time_seconds") <= time.time()


def test_a_stall_shows_in_the_lag_max_and_the_lost_lock(env):
    """SIGSTOP mid-sync past the lock's TTL: on SIGCONT the sync stops
    (its lock is lost, counted) and the tick that came late is in the last
    minute's largest lag."""
    sbx = env.start_sandbox("--teachers", 2, "--latency-ms", 2500)
    t = teacher_with_sections(sbx)
    env.store_token(t["id"], t["token"])
    d, url = start(env, sync__lock_ttl_ms=1000 * SLOW)
    _, s = scrape(url)
    assert value(s, "rosterd_locks_lost_total") == 0
    mark = d.proc.mark()
    env.enqueue(t["id"])
    d.proc.wait_line(r"event=fetch", start=mark)
    stall = 2.5 * SLOW
    d.proc.p.send_signal(signal.SIGSTOP)
    time.sleep(stall)           # the stall itself, not a wait for an event
    d.proc.p.send_signal(signal.SIGCONT)
    d.proc.wait_line(r"event=lock_lost", start=mark)
    _, s = scrape(url)
    assert value(s, "rosterd_locks_lost_total") == 1
    # the tick was due at most 1 s after the stop began
    assert value(s, "rosterd_event_loop_lag_max_seconds") >= stall - 1.1
    assert value(s, "rosterd_event_loop_lag_max_seconds") >= \
        value(s, "rosterd_event_loop_lag_seconds")


def test_instances_heartbeats_take_overs_and_hand_backs(env):
    """Two instances count each other; one killed mid-sync: the other
    takes its job over (counted) and, once the heartbeat expired, counts
    one instance; a stopping instance hands its waiting job back
    (counted)."""
    sbx = env.start_sandbox("--teachers", 4, "--latency-ms", 2000)
    ts = [t for t in sbx.teachers() if t["sections"]][:2]
    for t in ts:
        env.store_token(t["id"], t["token"])
    fast = dict(sync__claim_idle_ms=1000 * SLOW, sync__lock_ttl_ms=1000 * SLOW,
                daemon__heartbeat_ms=300)
    a, url_a = start(env, name="a", **fast)
    b, url_b = start(env, name="b", **fast)
    wait_for(lambda: value(scrape(url_a)[1], "rosterd_instances") == 2, 20,
             "two instances")
    _, s = scrape(url_b)
    assert value(s, "rosterd_instances") == 2
    assert 0 <= value(s, "rosterd_heartbeat_age_seconds") < 60
    # b stops reading (paused for all), a takes the job and dies
    mark = a.proc.mark()
    jid = env.enqueue(ts[0]["id"])
    a.proc.wait_line(r"event=fetch", start=mark)
    assert rosterctl("-c", b.conf_path, "pause").returncode == 0
    a.stop(signal.SIGKILL)
    env.daemons.remove(a)
    assert rosterctl("-c", b.conf_path, "resume").returncode == 0
    sbx.post("/faults", {"rates": {}, "latency_ms": 0})
    ps = env.subscribe()
    assert env.wait_jobs(ps, [jid], timeout=30)[jid]["state"] == "done"
    _, s = scrape(url_b)
    assert value(s, "rosterd_jobs_taken_over_total") == 1
    assert value(s, "rosterd_jobs_received_total", kind="sync",
                 trigger="app") == 1
    assert value(s, "rosterd_jobs_total", kind="sync", outcome="changed",
                 trigger="app") == 1
    wait_for(lambda: value(scrape(url_b)[1], "rosterd_instances") == 1, 20,
             "one instance")
    # b stopping: its job waiting for a busy teacher goes back at once,
    # while a fetching one finishes
    sbx.post("/faults", {"rates": {}, "latency_ms": 4000 * SLOW})
    env.r.set("rosterd:lock:{%s}" % ts[1]["id"], "other:job", px=600000)
    mark = b.proc.mark()
    env.enqueue(ts[1]["id"])
    b.proc.wait_line(r"waiting -> admitting", start=mark)
    env.enqueue(ts[0]["id"], force="1")
    b.proc.wait_line(r"event=fetch", start=mark)
    b.proc.p.send_signal(signal.SIGTERM)
    b.proc.wait_line(r"event=handed_back", start=mark)
    _, s = scrape(url_b)
    assert value(s, "rosterd_jobs_handed_back_total") == 1
