"""The opt-in Prometheus endpoint of the real rosterd, scraped over HTTP and
read with Prometheus's own parser (python3-prometheus-client): jobs by kind
and outcome, durations, Clever requests by endpoint and status, 429s and
rate-limit waits, Redis reconnects, the queue, diff-stream lag per app
group, pause."""
import re
import subprocess
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from conftest import ROSTERD, rosterctl

NO_TOKEN = "5f" * 12


def start(env, **conf):
    d = env.start_rosterd(metrics__listen="127.0.0.1:0", **conf)
    _, m = d.proc.wait_line(r"event=metrics_listening .*(http://\S+/metrics)")
    return d, m.group(1)


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
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
    assert value(s, "rosterd_clever_requests_total", endpoint="me",
                 status="200") >= 3
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
    assert out.returncode == 1 and "[metrics] listen: expected HOST:PORT" in \
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
