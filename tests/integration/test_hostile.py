"""Hostile Clever servers: an endless close-delimited body, responses that
dribble a byte at a time, 100,000-deep nesting, invalid UTF-8.  Each
hostile teacher's job ends with a clear outcome, memory stays bounded, and
good teachers' jobs keep flowing meanwhile."""
import json
import time

from conftest import SLOW, WRAP


def rss_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s for %d" % (field, pid))


def reset_peak(pid):
    """Start VmHWM (peak RSS) again from the current RSS."""
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")


def sanitized(pid):
    """ASan keeps freed memory in quarantine and valgrind has its own heap:
    RSS figures mean something only for the plain build."""
    if WRAP:
        return True
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def hostile(sbx, teacher, kind, route="*", **kw):
    sbx.post("/hostile", dict(token=teacher["token"], kind=kind, route=route,
                              **kw))


def good_and_bad(env, sbx, nbad):
    ts = sbx.teachers()
    for t in ts:
        env.store_token(t["id"], t["token"])
    return ts[:nbad], ts[nbad:]


def test_huge_close_delimited_body_is_cut_at_the_limit(env):
    max_body = 32 * 1024 * 1024
    sbx = env.start_sandbox("--teachers", 8, "--seed", 21)
    (bad,), good = good_and_bad(env, sbx, 1)
    d = env.start_rosterd(clever__max_body_bytes=max_body)
    pid = d.proc.p.pid
    _, st = env.run(good[0]["id"])          # warm: curl, TLS, caches
    assert st["state"] == "done", st
    hostile(sbx, bad, "huge", route="/users/{id}/mystudents",
            bytes=200 * 1024 * 1024)
    idle = rss_kb(pid, "VmRSS")
    reset_peak(pid)
    ps = env.subscribe()
    jobs = [env.enqueue(bad["id"])] + [env.enqueue(t["id"]) for t in good]
    res = env.wait_jobs(ps, jobs, timeout=60)
    peak = rss_kb(pid, "VmHWM")
    st = res[jobs[0]]
    assert st["state"] == "failed" and st["error"] == "response_too_large", st
    assert all(res[j]["state"] == "done" for j in jobs[1:]), res
    assert sbx.get("/stats")["hostile"]["huge"] == 1
    # the transfer was cut at the limit, not read to its end
    assert sbx.get("/stats")["hostile_active"] == 0
    print("idle %d KiB, peak %d KiB (+%d KiB; max_body_bytes %d KiB)" % (
        idle, peak, peak - idle, max_body // 1024))
    if not sanitized(pid):
        assert peak - idle <= 1.5 * max_body / 1024, (idle, peak)
    assert d.proc.p.poll() is None


def test_dribbling_servers_do_not_starve_good_jobs(env):
    # 12 teachers whose every response comes one byte a second: 48
    # transfers in flight for minutes, more than any fixed set of slots
    sbx = env.start_sandbox("--teachers", 32, "--seed", 22)
    bad, good = good_and_bad(env, sbx, 12)
    for t in bad:
        hostile(sbx, t, "dribble", interval_ms=1000)
    # the stop hands the dribbling syncs back after a second, not five
    env.start_rosterd(sync__concurrency=64, clever__request_timeout_ms=600000,
                      clever__request_retries=0,
                      daemon__stop_timeout_ms=1000 * SLOW)
    ps = env.subscribe()
    slow = [env.enqueue(t["id"]) for t in bad]
    deadline = time.monotonic() + 30 * SLOW
    while sbx.get("/stats")["hostile_active"] < 4 * len(bad):
        assert time.monotonic() < deadline, sbx.get("/stats")
        time.sleep(0.05)        # polling the sandbox's counter
    jobs = [env.enqueue(t["id"]) for t in good]
    res = env.wait_jobs(ps, jobs, timeout=30)
    assert all(s["state"] == "done" for s in res.values()), res
    # all of it while every dribbling transfer was still in flight
    assert sbx.get("/stats")["hostile_active"] == 4 * len(bad)
    for j in slow:
        assert env.r.hget("rosterd:job:" + j, "state") == "running"


def test_deep_nesting_fails_the_job_invalid_utf8_becomes_u_fffd(env):
    sbx = env.start_sandbox("--teachers", 6, "--seed", 23)
    (deep, bad8), good = good_and_bad(env, sbx, 2)
    hostile(sbx, deep, "deep", route="/users/{id}")
    hostile(sbx, bad8, "badutf8", route="/users/{id}")
    d = env.start_rosterd(sync__max_attempts=1, clever__request_retries=0)
    ps = env.subscribe()
    jobs = [env.enqueue(deep["id"]), env.enqueue(bad8["id"])]
    jobs += [env.enqueue(t["id"]) for t in good]
    res = env.wait_jobs(ps, jobs, timeout=30)
    st = res[jobs[0]]
    assert st["state"] == "dead" and st["error"] == "bad_response", st
    assert "nesting too deep" in st["message"], st
    # ill-formed UTF-8 in a name: the sync goes on, the bytes become U+FFFD
    st = res[jobs[1]]
    assert st["state"] == "done", st
    snap = env.r.hget("rosterd:snapshot:{%s}" % bad8["id"], "roster")
    assert "\ufffd\ufffd" in json.loads(snap)["teacher"]["first"], snap[:300]
    assert all(res[j]["state"] == "done" for j in jobs[2:]), res
    assert d.proc.p.poll() is None
