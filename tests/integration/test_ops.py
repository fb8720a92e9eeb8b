"""rosterd as ops see it: several instances, rate limits, signals, Redis
restarts."""
import os
import re
import signal
import subprocess
import time

from conftest import ROSTERD, SLOW, teacher_with_sections, rosterctl
from test_ctl import Notify


def sync_intervals(env, statuses):
    """(teacher, started_ms, finished_ms) of the jobs that really synced."""
    out = []
    for s in statuses.values():
        if s.get("result") in ("changed", "no changes"):
            out.append((s["teacher"], int(s["started_ms"]), int(s["finished_ms"])))
    return out


def test_two_instances_share_work_and_never_overlap(env):
    sbx = env.start_sandbox("--teachers", 12, "--seed", 4, "--latency-ms", 5)
    ts = sbx.teachers()
    for t in ts:
        env.store_token(t["id"], t["token"])
    a = env.start_rosterd(sync__concurrency=4)
    b = env.start_rosterd(sync__concurrency=4)
    ps = env.subscribe()
    jobs = []
    for round_ in range(3):
        for t in ts:
            jobs.append(env.enqueue(t["id"]))
        # a change between rounds, so later syncs write diffs too
        sbx.mutate(op="rename_user", user=ts[round_]["id"], first="R%d" % round_)
    res = env.wait_jobs(ps, jobs, timeout=60)
    assert all(s["state"] == "done" for s in res.values()), res
    # both instances worked
    consumers = {s.get("consumer") for s in res.values() if s.get("consumer")}
    assert len(consumers) == 2, consumers
    # per teacher, the real syncs never overlapped in time
    by_teacher = {}
    for t, s, f in sync_intervals(env, res):
        by_teacher.setdefault(t, []).append((s, f))
    for t, iv in by_teacher.items():
        iv.sort()
        for (s1, f1), (s2, f2) in zip(iv, iv[1:]):
            assert f1 <= s2, (t, iv)
    # and each teacher's diffs form one unbroken chain of versions
    for t in ts:
        chain = [(int(d["base_version"]), int(d["version"])) for d in env.diffs(t["id"])]
        assert chain == [(i, i + 1) for i in range(len(chain))], (t["id"], chain)
        if chain:
            assert env.snapshot(t["id"])["version"] == str(chain[-1][1])


def test_rate_limit_is_shared_and_never_fails_a_job(env):
    # Clever allows 6 requests per 2 s window for the district token;
    # rosterd starts from its own default and must follow the headers.
    sbx = env.start_sandbox("--teachers", 6, "--seed", 8, "--rate-limit", 6,
                            "--rate-window-s", 2)
    ts = [t for t in sbx.teachers() if t["sections"]]
    dist = sbx.get("/districts")[0]
    env.store_district_token(dist["id"], dist["token"])
    env.start_rosterd(clever__rate_limit=6, clever__rate_window_s=2)
    env.start_rosterd(clever__rate_limit=6, clever__rate_window_s=2)
    ps = env.subscribe()
    jobs = [env.enqueue(t["id"], district=dist["id"]) for t in ts[:4]]
    res = env.wait_jobs(ps, jobs, timeout=60)
    assert all(s["state"] == "done" for s in res.values()), res
    stats = sbx.get("/stats")
    # two instances, one shared window: Clever never had to say 429
    assert stats["rate_limited"] == 0, stats


def test_429_waits_instead_of_failing(env):
    # rosterd believes 1200/min; Clever says 5 per 2 s and answers 429
    sbx = env.start_sandbox("--teachers", 6, "--seed", 8, "--rate-limit", 5,
                            "--rate-window-s", 2)
    ts = [t for t in sbx.teachers() if t["sections"]]
    dist = sbx.get("/districts")[0]
    env.store_district_token(dist["id"], dist["token"])
    env.start_rosterd(clever__rate_window_s=2)
    ps = env.subscribe()
    jobs = [env.enqueue(t["id"], district=dist["id"]) for t in ts[:3]]
    res = env.wait_jobs(ps, jobs, timeout=60)
    assert all(s["state"] == "done" for s in res.values()), res
    assert all(s["attempts"] == "1" for s in res.values()), res


def test_sigterm_hands_back_in_flight_work(env):
    sbx = env.start_sandbox("--teachers", 6, "--latency-ms", 3000)
    ts = [t for t in sbx.teachers() if t["sections"]][:3]
    for t in ts:
        env.store_token(t["id"], t["token"])
    # handed back at 3/4 of the stop timeout, while Clever still answers
    a = env.start_rosterd(daemon__stop_timeout_ms=200 * SLOW)
    mark = a.proc.mark()
    jobs = [env.enqueue(t["id"]) for t in ts]
    i = mark
    for _ in jobs:       # all three are fetching (Clever answers in 3 s)
        i, _ = a.proc.wait_line(r"event=fetch", start=i)
        i += 1
    assert a.stop() == 0
    text = a.proc.text()
    handed = set(re.findall(r"event=handed_back job=(\S+)", text))
    assert handed == set(jobs), text[-3000:]
    for j in jobs:
        assert env.r.hget("rosterd:job:" + j, "state") == "queued"
    # nothing is pending with the stopped instance, nothing is locked, and
    # each job waits in the stream once, under its own id
    assert env.r.xpending("rosterd:jobs", "rosterd")["pending"] == 0
    last = env.r.xinfo_groups("rosterd:jobs")[0]["last-delivered-id"]
    waiting = [f["job_id"] for _, f in env.r.xrange("rosterd:jobs", "(" + last)]
    assert sorted(waiting) == sorted(jobs), waiting
    for t in ts:
        assert not env.r.exists("rosterd:lock:{%s}" % t["id"])
    # another instance finishes them under their original job ids
    sbx.post("/faults", {"rates": {}, "latency_ms": 0})
    ps = env.subscribe()
    env.start_rosterd()
    res = env.wait_jobs(ps, jobs, timeout=30)
    assert all(s["state"] == "done" for s in res.values()), res


def test_redis_restart_is_survived(env):
    sbx = env.start_sandbox("--teachers", 4)
    t = teacher_with_sections(sbx)
    d = env.start_rosterd()
    env.redis.stop()
    env.redis.start()
    d.proc.wait_line(r"event=redis_unreachable")
    mark = d.proc.mark()
    d.proc.wait_line(r"event=redis_ready", start=mark)
    env.store_token(t["id"], t["token"])
    _, st = env.run(t["id"])
    assert st["state"] == "done", st


def test_a_restarted_redis_is_not_taken_for_a_denied_permission(env):
    """A Redis that restarted knows none of the scripts: the permission
    check, the first thing on a new connection, must not go as an EVALSHA
    of the last connection's.  Its NOSCRIPT was read as a denial, and a
    rosterd still preparing (here: the job stream's key is a string, so
    the group cannot be made) exited 78 for good."""
    sbx = env.start_sandbox("--teachers", 4)
    t = teacher_with_sections(sbx)
    env.r.set("rosterd:jobs", "not a stream")
    d = env.start_rosterd()
    d.proc.wait_line(r"event=redis_refused")	# scripts loaded, not ready
    env.redis.stop()
    env.redis.start()				# empty, without scripts
    d.proc.wait_line(r"event=ready")
    assert d.proc.p.poll() is None, d.proc.text()[-3000:]
    env.store_token(t["id"], t["token"])
    _, st = env.run(t["id"])
    assert st["state"] == "done", st


def test_sighup_reloads_and_refuses_a_bad_file(env):
    env.start_sandbox("--teachers", 2)
    d = env.start_rosterd()
    with open(d.conf_path, "a") as f:
        f.write("[sync]\nconcurency = 3\n")
    mark = d.proc.mark()
    d.proc.p.send_signal(signal.SIGHUP)
    _, m = d.proc.wait_line(r"event=reload_failed.*concurency", start=mark)
    with open(d.conf_path) as f:
        good = f.read().replace("concurency = 3", "max_attempts = 2")
    with open(d.conf_path, "w") as f:
        f.write(good)
    mark = d.proc.mark()
    d.proc.p.send_signal(signal.SIGHUP)
    d.proc.wait_line(r"event=reloaded", start=mark)


def test_rosterctl_shows_queue_status_and_dead_letters(env):
    sbx = env.start_sandbox("--teachers", 3)
    d = env.start_rosterd()
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    jid, _ = env.run(t["id"])
    out = rosterctl("-c", d.conf_path, "status", jid)
    assert out.returncode == 0 and "state                  done" in out.stdout, out
    out = rosterctl("-c", d.conf_path, "queue")
    assert "group:" in out.stdout and "consumer:" in out.stdout, out.stdout
    out = rosterctl("-c", d.conf_path, "diffs", t["id"])
    assert out.returncode == 0 and "+ section" in out.stdout, out.stdout
    env.run("5f" * 12)
    out = rosterctl("-c", d.conf_path, "dead")
    assert "no_token" in out.stdout, out.stdout


def test_a_crashed_instance_jobs_are_taken_over(env):
    sbx = env.start_sandbox("--teachers", 4, "--latency-ms", 2000)
    t = teacher_with_sections(sbx)
    env.store_token(t["id"], t["token"])
    fast = dict(sync__claim_idle_ms=1000, sync__lock_ttl_ms=1000)
    a = env.start_rosterd(**fast)
    mark = a.proc.mark()
    jid = env.enqueue(t["id"])
    a.proc.wait_line(r"event=fetch", start=mark)
    a.stop(signal.SIGKILL)                  # no hand-back: a crash
    env.daemons.remove(a)
    assert env.r.hget("rosterd:job:" + jid, "state") == "running"
    sbx.post("/faults", {"rates": {}, "latency_ms": 0})
    ps = env.subscribe()
    b = env.start_rosterd(name="survivor", **fast)   # another consumer
    res = env.wait_jobs(ps, [jid], timeout=30)
    assert res[jid]["state"] == "done", res
    assert res[jid]["consumer"] == b.proc.name
    assert res[jid]["attempts"] == "2"
    assert "event=takeover" in b.proc.text()


def test_rosterd_waits_for_redis_to_come_up(env):
    sbx = env.start_sandbox("--teachers", 3)
    t = teacher_with_sections(sbx, 1)
    env.redis.stop()
    d = env.start_rosterd(wait=False, redis__connect_timeout_ms=200)
    env.redis.start()
    d.proc.wait_line(r"event=redis_ready", timeout=20)
    env.store_token(t["id"], t["token"])
    _, st = env.run(t["id"])
    assert st["state"] == "done", st


def test_rosterd_refuses_keys_of_a_newer_contract_version(env):
    env.start_sandbox("--teachers", 2)
    env.r.set("rosterd:contract", "3")
    d = env.start_rosterd(wait=False)
    env.daemons.remove(d)  # it is expected to exit 78 (EX_CONFIG)
    assert d.proc.p.wait(30) == 78
    d.proc.t.join(5)
    assert "event=contract_mismatch" in d.proc.text()
    assert "version 3, this rosterd speaks version 2" in d.proc.text()
    assert "event=contract_upgraded" not in d.proc.text()
    # the keys are left as they were, and nothing was read
    assert env.r.get("rosterd:contract") == "3"
    assert not env.r.exists("rosterd:jobs")


def test_rosterd_upgrades_a_version_1_deployment_once(env):
    """Keys of contract version 1 (a deployment of an older rosterd, its
    diffs still unread) are upgraded to version 2 at start-up, once, and
    said; the diffs written from then on say version 2."""
    sbx = env.start_sandbox("--teachers", 3)
    t = teacher_with_sections(sbx, 1)
    env.r.set("rosterd:contract", "1")
    old = env.r.xadd("rosterd:diffs", {"v": "1", "teacher": t["id"]})
    d = env.start_rosterd()
    line = d.proc.wait_line(r"event=contract_upgraded")[1].string
    assert "rosterd:contract from version 1 to 2" in line, line
    d.proc.wait_line(r"event=ready ")
    assert env.r.get("rosterd:contract") == "2"
    env.store_token(t["id"], t["token"])
    _, st = env.run(t["id"])
    assert st["state"] == "done" and st["result"] == "changed", st
    assert env.r.xrange("rosterd:diffs", st["diff_id"], st["diff_id"])[0][1][
        "v"] == "2"
    assert env.r.xrange("rosterd:diffs", old, old)[0][1]["v"] == "1", \
        "the entries written before stay as they were"
    # another instance (or a restart) finds version 2: nothing to upgrade
    d2 = env.start_rosterd()
    d2.proc.wait_line(r"event=ready ")
    assert "event=contract_upgraded" not in d2.proc.text()
    assert d.proc.text().count("event=contract_upgraded") == 1


def check_conf(env, text):
    """rosterd -n on a file of text: (exit code, output)."""
    path = os.path.join(env.tmp, "check.conf")
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([ROSTERD, "-n", "-c", path], capture_output=True,
                       text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def test_check_mode_catches_settings_that_cannot_work(env):
    rc, out = check_conf(env, "[clever]\nca_file = /nonexistent/ca.pem\n")
    assert rc == 78 and 'ca_file: cannot read "/nonexistent/ca.pem"' in out, out
    rc, out = check_conf(env, "[clever]\napi_base = api.clever.com\n")
    assert rc == 78 and "api_base: expected a URL" in out, out
    rc, out = check_conf(env, "[clever]\napi_base = http://api.clever.com\n")
    assert rc == 78 and "clear text" in out, out
    rc, out = check_conf(env, "[clever]\napi_base = http://api.clever.com\n"
                              "allow_insecure_http = yes\n")
    assert rc == 0 and "configuration OK" in out, out
    # any readable file passes (here the configuration file itself)
    rc, out = check_conf(env, "[clever]\nca_file = %s\n" %
                         os.path.join(env.tmp, "check.conf"))
    assert rc == 0, out


def test_reload_refuses_a_ca_file_that_cannot_be_read(env):
    d = env.start_rosterd()
    with open(d.conf_path, "a") as f:
        f.write("[clever]\nca_file = /nonexistent/ca.pem\n")
    mark = d.proc.mark()
    d.proc.p.send_signal(signal.SIGHUP)
    d.proc.wait_line(r"event=reload_failed.*ca_file: cannot read", start=mark)


def test_deleting_the_job_stream_is_survived(env):
    """DEL rosterd:jobs (an operator purging the queue) used to stop
    rosterd reading jobs for good, silently."""
    sbx = env.start_sandbox("--teachers", 3)
    d = env.start_rosterd()
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    d.proc.wait_line(r"event=group_created")
    mark = d.proc.mark()
    env.r.delete("rosterd:jobs")
    d.proc.wait_line(r"event=redis_reset.*gone", start=mark)
    d.proc.wait_line(r"event=group_created", start=mark)
    _, st = env.run(t["id"])
    assert st["state"] == "done" and st["result"] == "changed", st


def test_flushall_is_survived(env):
    """After FLUSHALL rosterd recreates its group and contract key and
    goes on with new jobs."""
    sbx = env.start_sandbox("--teachers", 3)
    d = env.start_rosterd()
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    _, st = env.run(t["id"])
    assert st["state"] == "done", st
    mark = d.proc.mark()
    env.r.flushall()
    d.proc.wait_line(r"event=redis_reset", start=mark)
    d.proc.wait_line(r"event=group_created", start=mark)
    assert env.r.get("rosterd:contract") == "2"
    env.store_token(t["id"], t["token"])	# the app's keys went too
    _, st = env.run(t["id"])
    assert st["state"] == "done" and st["result"] == "changed", st
    assert st["version"] == "1", "a first sync again: the snapshot was flushed"
def test_a_frozen_instance_never_rewrites_a_finished_status(env):
    """An instance frozen (SIGSTOP) mid-sync past its lock and claim_idle_ms:
    another instance takes its jobs over and finishes them; once resumed,
    the frozen one stops its syncs at once, writes nothing about those jobs
    and sends Clever nothing more."""
    from conftest import EventLog, SLOW
    n = 6
    sbx = env.start_sandbox("--teachers", n, "--seed", 12, "--latency-ms", 2500)
    ts = sbx.teachers()
    for t in ts:
        env.store_token(t["id"], t["token"])
    fast = dict(sync__claim_idle_ms=1000 * SLOW, sync__lock_ttl_ms=1000 * SLOW)
    log = EventLog(env.redis)
    try:
        a = env.start_rosterd(name="frozen", **fast)
        jobs = [env.enqueue(t["id"]) for t in ts]
        # every sync's four requests reached Clever (answers take 2.5 s)
        deadline = time.monotonic() + 20 * SLOW
        while sbx.get("/stats")["requests"] < 4 * n:
            assert time.monotonic() < deadline, sbx.get("/stats")
            time.sleep(0.02)        # polling the sandbox's counter
        a.proc.p.send_signal(signal.SIGSTOP)
        ps = env.subscribe()
        b = env.start_rosterd(name="other", **fast)
        res = env.wait_jobs(ps, jobs, timeout=60)
        assert {s["consumer"] for s in res.values()} == {b.proc.name}, res
        assert all(s["state"] == "done" and s["result"] == "changed"
                   for s in res.values()), res
        requests = sbx.get("/stats")["requests"]
        mark = a.proc.mark()
        a.proc.p.send_signal(signal.SIGCONT)
        left = 0
        try:
            for left in range(len(jobs), 0, -1):    # each left to the other
                mark, _m = a.proc.wait_line(r"event=taken_over", start=mark)
                mark += 1
            left = 0
        except AssertionError:
            pass                # the invariants below say what went wrong
        after = {j: env.r.hgetall("rosterd:job:" + j) for j in jobs}
    finally:
        log.stop()
    assert log.regressions() == {}
    assert after == res, "a finished status was rewritten"
    assert left == 0, "jobs the frozen instance did not leave: %d" % left
    # nothing more was asked of Clever
    assert sbx.get("/stats")["requests"] == requests
    for job, evs in log.by_job().items():
        finals = [e for e in evs if e["state"] in ("done", "failed", "dead")]
        assert len(finals) == 1, (job, evs)
        assert all(e.get("error") not in ("redis_unavailable", "lock_lost")
                   for e in evs), (job, evs)
    text = a.proc.text()
    assert text.count("event=lock_lost") <= n, "one lost lock, one line"
    assert a.proc.p.poll() is None


def test_requests_for_a_teacher_in_hand_take_no_slot(env):
    """Duplicates of a teacher whose sync runs long wait for it without
    taking the concurrency slots other teachers need."""
    sbx = env.start_sandbox("--teachers", 8, "--seed", 14)
    slow, *others = sbx.teachers()
    for t in [slow] + others:
        env.store_token(t["id"], t["token"])
    # the slow teacher's answers come a byte a second: its sync runs on
    sbx.post("/hostile", {"token": slow["token"], "kind": "dribble",
                          "interval_ms": 1000})
    # the stop hands the dribbling sync back after a second, not five
    env.start_rosterd(sync__concurrency=4, clever__request_timeout_ms=600000,
                      daemon__stop_timeout_ms=1000 * SLOW)
    ps = env.subscribe()
    first = env.enqueue(slow["id"])
    dups = [env.enqueue(slow["id"]) for _ in range(12)]
    jobs = [env.enqueue(t["id"]) for t in others]
    res = env.wait_jobs(ps, jobs, timeout=30)
    assert all(s["state"] == "done" for s in res.values()), res
    # while the slow sync still ran and its duplicates waited for it
    assert env.r.hget("rosterd:job:" + first, "state") == "running"
    for j in dups:
        assert env.r.hget("rosterd:job:" + j, "state") in (None, "queued")


def test_status_follows_a_job_without_waiting_for_the_watchdog(env):
    """STATUS is sent when what it shows changes (here: a job ends), not
    only with the watchdog's keep-alive: each of those follows a
    WATCHDOG=1, the refresh after a change does not."""
    sbx = env.start_sandbox("--teachers", 3)
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    notify = Notify(env.tmp)
    env.start_rosterd(proc_env=dict(os.environ, NOTIFY_SOCKET=notify.path,
                                    WATCHDOG_USEC="20000000"))
    _, st = env.run(t["id"])
    assert st["state"] == "done", st
    deadline = time.monotonic() + 30 * SLOW
    prev = ""
    while True:
        assert time.monotonic() < deadline, "no STATUS sent for the change"
        msg = notify.s.recv(4096).decode()
        if msg.startswith("STATUS=") and "1 synced" in msg and \
                prev != "WATCHDOG=1":
            break
        prev = msg
    assert "0 jobs" in msg, msg
