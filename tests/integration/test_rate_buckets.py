"""The application-wide bucket's permits go first to the critical path
(issue 21): an app-wide bucket of 50 beside 30 per token, 20 syncs through
one district token and 8 Library syncs at once.  The district token (60
requests at 30 per window, its /me kept) needs 2 windows; the app bucket
(92 requests at 50) needs 2.  Handed out first come, the Library requests
took app permits the district token needed in its first window and it
needed a third.  Counts from the sandbox's stats, never timings: 60
requests in 2 windows of 30 means all 30 went in the first."""
import time

from conftest import store_district_of

WINDOW_S = 3


def redis_ms(env):
    s, us = env.r.time()
    return s * 1000 + us // 1000


def wait_windows_ended(env, dist, timeout=30):
    """Until every window rosterd knows of (and so Clever's, which end
    before: rosterd takes the end of the reset's second) has ended."""
    keys = {"rosterd:ratelimit:{rl}:district:" + dist: "bearer.reset",
            "rosterd:ratelimit:{rl}:app": "app.reset"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ends = [int(env.r.hget(k, f) or 0) for k, f in keys.items()]
        if max(ends) < redis_ms(env):
            return
        time.sleep(0.05)
    raise AssertionError("windows still open")


def delta(after, before):
    return {k: after[k] - before[k] for k in ("requests", "windows", "full")}


def bucket_counts(st, owner):
    tok = st["tokens"][owner]
    return {"requests": tok["requests"], "windows": tok["bearer"]["windows"],
            "full": tok["bearer"]["full"]}


def app_counts(st):
    return {"requests": st["requests"], "windows": st["app"]["windows"],
            "full": st["app"]["full"]}


def test_the_district_token_gets_its_whole_window_of_the_app_bucket(env):
    sbx = env.start_sandbox("--teachers", 40, "--seed", 4, "--rate-limit", 30,
                            "--two-buckets", "--app-rate-limit", 50,
                            "--rate-window-s", WINDOW_S)
    ts = [t for t in sbx.teachers() if t["sections"]]
    dist = store_district_of(env, sbx, ts[0])
    district_ts = [t for t in ts if t["district"] == dist][:21]
    library_ts = [t for t in ts if t not in district_ts][:8]
    assert len(district_ts) == 21 and len(library_ts) == 8
    warm, district_ts = district_ts[0], district_ts[1:]
    for t in library_ts:
        env.store_token(t["id"], t["token"])
    conf = dict(clever__rate_limit=30, clever__rate_window_s=WINDOW_S,
                sync__concurrency=32)
    d = env.start_rosterd(**conf)
    # /me of the district token kept: its 20 syncs then take 3 each
    _, st = env.run(warm["id"], district=dist)
    assert st["state"] == "done", st
    d.stop()
    wait_windows_ended(env, dist)
    before = sbx.get("/stats")
    ps = env.subscribe()
    # all queued at rosterd's start, interleaved: until the first answer
    # tells the app bucket (cold) both kinds take permits and the rest wait;
    # then the rest of the window is contended
    jobs = [env.enqueue(t["id"], district=dist) for t in district_ts]
    jobs += [env.enqueue(t["id"]) for t in library_ts]
    env.start_rosterd(**conf)
    res = env.wait_jobs(ps, jobs, timeout=20 * WINDOW_S)
    assert all(s["state"] == "done" for s in res.values()), res
    after = sbx.get("/stats")
    owner = "district:" + dist
    d = delta(bucket_counts(after, owner), bucket_counts(before, owner))
    assert d["requests"] == 60, d
    # 60 at 30 a window in 2 windows: the first window had its 30
    assert d == {"requests": 60, "windows": 2, "full": 0}, d
    a = delta(app_counts(after), app_counts(before))
    assert a == {"requests": 92, "windows": 2, "full": 0}, a
    # the Library syncs progressed all along: each done, none refused
    for t in library_ts:
        tok = after["tokens"]["teacher:" + t["id"]]
        assert tok["requests"] == 4 and tok["rate_limited"] == 0, tok
    # nothing of the demand is left behind
    assert env.r.hlen("rosterd:ratelimit:{rl}:demand") == 0
