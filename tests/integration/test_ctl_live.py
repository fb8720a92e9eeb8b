"""rosterctl on live work, against real rosterd instances, redis-server
and the Clever sandbox slowed or failing: running (jobs in flight, what
they wait on), retry-now, cancel (retrying and queued jobs), quiet and
drain one instance, pause --wait."""
import json
import signal
import time

from conftest import SLOW, rosterctl, teacher_with_sections

FAST = dict(daemon__heartbeat_ms=1000, sync__concurrency=4)
# a retrying job stays retrying for the test: its next attempt is far
SLOW_RETRY = dict(sync__retry_base_ms=120000, sync__retry_max_ms=120000,
                  clever__retry_base_ms=10, clever__retry_max_ms=20)


def ctl(d, *args):
    return rosterctl("-c", d.conf_path, *args)


def ctl_json(d, *args):
    out = ctl(d, "--json", *args)
    return out, json.loads(out.stdout.splitlines()[-1])


def poll(pred, what, timeout=30):
    """Wait until pred() returns something true; return it."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < deadline, "timed out: %s" % what
        time.sleep(0.05)


def teachers(env, sbx, n):
    ts = [t for t in sbx.teachers() if t["sections"]][:n]
    assert len(ts) == n
    for t in ts:
        env.store_token(t["id"], t["token"])
    return ts


def running_jobs(d):
    out, obj = ctl_json(d, "running")
    assert out.returncode == 0, out
    return [j for i in obj["instances"] for j in i["jobs"]]


def status(env, jid):
    return env.r.hgetall("rosterd:job:" + jid)


def test_running_lists_the_jobs_in_flight_and_what_they_wait_on(env):
    sbx = env.start_sandbox("--teachers", 6, "--latency-ms", 1500)
    a = env.start_rosterd(**FAST)
    b = env.start_rosterd(**FAST)
    ts = teachers(env, sbx, 4)
    jids = {env.enqueue(t["id"]): t["id"] for t in ts}
    names = {a.proc.name, b.proc.name}

    def all_fetching():
        js = running_jobs(a)
        return js if len(js) == 4 and all(
            j["waits_on"] == "clever" for j in js) else None
    js = poll(all_fetching, "4 jobs fetching from Clever")
    for j in js:
        assert jids[j["job"]] == j["teacher"], j
        assert j["instance"] in names and j["attempt"] == 1, j
        assert j["state"] == "fetching" and j["kind"] == "sync", j
        assert j["started_ms"] > 0, j
    out = ctl(a, "running")
    assert out.returncode == 0, out
    for t in ts:
        assert t["id"] in out.stdout, out.stdout
    assert "as of" in out.stdout and "clever" in out.stdout, out.stdout
    # one instance only; an unknown one is an error
    out, obj = ctl_json(a, "running", b.proc.name)
    assert [i["instance"] for i in obj["instances"]] == [b.proc.name], obj
    out = ctl(a, "running", "nosuch")
    assert out.returncode == 1 and "no live instance" in out.stderr, out
    sbx.post("/faults", {"latency_ms": 0})
    ps = env.subscribe()
    env.wait_jobs(ps, list(jids), timeout=30)
    poll(lambda: running_jobs(a) == [], "no job in flight after they end")


def test_retry_now_and_cancel_act_on_retrying_jobs(env):
    sbx = env.start_sandbox("--teachers", 4)
    d = env.start_rosterd(**FAST, **SLOW_RETRY)
    t1, t2 = teachers(env, sbx, 2)
    sbx.post("/faults", {"rates": {"503": 1.0}})
    j1, j2 = env.enqueue(t1["id"]), env.enqueue(t2["id"])
    for j in (j1, j2):
        poll(lambda: status(env, j).get("state") == "retrying",
             "job %s retrying" % j)

    def both_retrying():
        js = {j["job"]: j for j in running_jobs(d)}
        return js if all(js.get(j, {}).get("state") == "retrying"
                         for j in (j1, j2)) else None
    js = poll(both_retrying, "running shows both retrying")
    for j in (j1, j2):
        assert js[j]["waits_on"] == "retry", js[j]
        assert js[j]["wait_until_ms"] > js[j]["started_ms"], js[j]
    out = ctl(d, "running")
    assert "retry in" in out.stdout, out.stdout

    # retry-now: the next attempt starts at once, and succeeds
    sbx.post("/faults", {"rates": {}})
    ps = env.subscribe()
    out, obj = ctl_json(d, "retry-now", j1)
    assert out.returncode == 0, out
    assert obj["result"] == "attempt started", obj
    assert int(obj["status"]["attempts"]) >= 2, obj
    st = env.wait_jobs(ps, [j1], timeout=20)[j1]
    assert st["state"] == "done", st
    # nothing left to hurry: finished, or unknown
    out = ctl(d, "retry-now", j1)
    assert out.returncode == 1 and "not retrying" in out.stderr, out
    assert ctl(d, "retry-now", "1-1").returncode == 1

    # cancel the other one: final status, event, no dead letter
    out, obj = ctl_json(d, "cancel", j2, "no longer wanted")
    assert out.returncode == 0, out
    st = status(env, j2)
    assert st["state"] == "cancelled" and st["error"] == "cancelled", st
    assert "no longer wanted" in st["message"], st
    assert obj["status"]["state"] == "cancelled", obj

    def event():
        m = ps.get_message(timeout=1)
        return m and json.loads(m["data"]).get("state") == "cancelled"
    poll(event, "the cancelled event")
    assert env.r.xlen("rosterd:dead") == 0
    assert not env.r.exists("rosterd:lock:{%s}" % t2["id"])
    assert env.r.xpending("rosterd:jobs", "rosterd")["pending"] == 0
    poll(lambda: running_jobs(d) == [], "the cancelled job is gone")
    # the teacher is free: a new job of it runs
    jid, st = env.run(t2["id"])
    assert st["state"] == "done", st
    out = ctl(d, "cancel", j2)
    assert out.returncode == 1 and "already finished" in out.stderr, out
    assert ctl(d, "cancel", "1-1").returncode == 1


def test_a_running_job_is_not_cancelled(env):
    sbx = env.start_sandbox("--teachers", 2, "--latency-ms", 1500)
    d = env.start_rosterd(**FAST)
    (t,) = teachers(env, sbx, 1)
    ps = env.subscribe()
    jid = env.enqueue(t["id"])
    poll(lambda: status(env, jid).get("state") == "running", "running")
    out = ctl(d, "cancel", jid)
    assert out.returncode == 1 and "running" in out.stderr, out
    assert env.wait_jobs(ps, [jid])[jid]["state"] == "done"


def test_cancel_of_a_queued_job_removes_it_before_anyone_runs_it(env):
    sbx = env.start_sandbox("--teachers", 2)
    d = env.start_rosterd(**FAST)
    (t,) = teachers(env, sbx, 1)
    out = ctl(d, "pause", "--wait", "-t", 20, "for a cancel")
    assert out.returncode == 0, out
    jid = env.enqueue(t["id"], ref="user-9")
    out, obj = ctl_json(d, "cancel", jid)
    assert out.returncode == 0, out
    assert obj["result"].startswith("cancelled"), obj
    assert env.r.xrange("rosterd:jobs", jid, jid) == []
    st = status(env, jid)
    assert st["state"] == "cancelled" and st["ref"] == "user-9", st
    assert ctl(d, "resume").returncode == 0
    # the next job of the teacher runs; the cancelled one never did
    j2, st2 = env.run(t["id"])
    assert st2["state"] == "done", st2
    st = status(env, jid)
    assert st["state"] == "cancelled" and "attempts" not in st, st
    assert "consumer" not in st, st


def test_quiet_instance_takes_no_job_and_drain_waits_for_its_jobs(env):
    sbx = env.start_sandbox("--teachers", 8, "--latency-ms", 1500)
    a = env.start_rosterd(**FAST)
    ts = teachers(env, sbx, 6)
    held = [env.enqueue(t["id"]) for t in ts[:2]]
    poll(lambda: len(running_jobs(a)) == 2, "a holds two jobs")
    b = env.start_rosterd(**FAST)
    out = ctl(a, "drain", "-t", 60, a.proc.name, "deploy")
    assert out.returncode == 0, out
    assert "drained" in out.stdout, out
    # it returned once the jobs it held had ended
    for j in held:
        assert status(env, j)["state"] == "done", status(env, j)
    out, obj = ctl_json(a, "running", a.proc.name)
    assert obj["instances"][0]["state"] == "quiet", obj
    assert "deploy" in obj["instances"][0]["quiet"], obj
    # every new job goes to b
    sbx.post("/faults", {"latency_ms": 0})
    ps = env.subscribe()
    new = [env.enqueue(t["id"]) for t in ts[2:]]
    res = env.wait_jobs(ps, new, timeout=30)
    assert {s["consumer"] for s in res.values()} == {b.proc.name}, res
    # quiet --wait on a quiet instance: already confirmed; unquiet
    out, obj = ctl_json(a, "quiet", "--wait", a.proc.name)
    assert out.returncode == 0 and obj["confirmed"], out
    assert (obj["schema"], obj["command"], obj["instance"]) == \
        (1, "quiet", a.proc.name), obj
    out, obj = ctl_json(a, "unquiet", a.proc.name)
    assert out.returncode == 0 and obj["command"] == "unquiet", out
    out, obj = ctl_json(a, "unquiet", a.proc.name)
    assert out.returncode == 1 and obj["error"]["code"] == "not_found", out
    poll(lambda: ctl_json(a, "running", a.proc.name)[1]["instances"][0]
         ["state"] == "running", "a runs again")
    out = ctl(a, "quiet", "nosuch")
    assert out.returncode == 1 and "no live instance" in out.stderr, out


def test_pause_wait_returns_once_every_instance_confirmed(env):
    env.start_sandbox("--teachers", 2)
    # beats every 5 s: a frozen instance stays live (its heartbeat does
    # not expire) for the test; once it has expired it no longer counts
    a = env.start_rosterd(daemon__heartbeat_ms=5000)
    b = env.start_rosterd(daemon__heartbeat_ms=5000)
    out = ctl(a, "pause", "--wait", "-t", 20, "first")
    assert out.returncode == 0, out
    assert "confirmed by every live instance" in out.stdout, out
    for d in (a, b):
        assert env.r.hget("rosterd:instance:" + d.proc.name,
                          "paused_since_ms"), d.proc.name
    assert ctl(a, "resume").returncode == 0
    poll(lambda: not env.r.hexists("rosterd:instance:" + b.proc.name,
                                   "paused_note"), "b saw the resume")
    b.proc.p.send_signal(signal.SIGSTOP)
    try:
        out, obj = ctl_json(a, "pause", "--wait", "-t", 3, "second")
        assert out.returncode == 1, out
        assert obj["schema"] == 1 and obj["command"] == "pause", obj
        assert obj["note"].startswith("second, by "), obj
        assert obj["confirmed"] is False, obj
        assert obj["not_confirmed"] == [b.proc.name], obj
        assert ctl(a, "resume").returncode == 0
        out = ctl(a, "pause", "--wait", "-t", 2, "third")
        assert out.returncode == 1, out
        assert b.proc.name in out.stderr and a.proc.name not in \
            out.stderr, out
    finally:
        b.proc.p.send_signal(signal.SIGCONT)
    out = ctl(a, "pause", "--wait", "-t", 20)
    assert out.returncode == 0, out
