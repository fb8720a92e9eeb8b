"""Never stuck in silence: when Redis refuses rosterd's commands for good
(an ACL, maxmemory with noeviction), rosterd tells it apart from a lost
connection, says so at a bounded rate, backs off, recovers when Redis is
fixed, and still stops on SIGTERM within its stop timeout."""
import re
import signal
import time

import pytest

from conftest import SLOW, teacher_with_sections


def as_admin(env):
    """Give the test its own all-powerful user, so that the default user
    (rosterd's) can be restricted."""
    env.r.acl_setuser("admin", enabled=True, passwords=["+pw"],
                      commands=["+@all"], keys=["*"], channels=["*"])
    env.redis.client = env.redis.new_client(username="admin", password="pw")


def deny_scripts(env):
    env.r.execute_command("ACL", "SETUSER", "default", "-evalsha", "-eval")


def allow_all(env):
    env.r.execute_command("ACL", "SETUSER", "default", "+@all")


def wait_backoff_reaches(d, ms, start=0):
    """Admissions are retried later and later: wait for a delay >= ms."""
    rx = re.compile(r"event=admit_failed .*again in (\d+) ms")
    i = start
    while True:
        i, m = d.proc.wait_line(rx.pattern, timeout=60, start=i)
        if int(m.group(1)) >= ms:
            return i
        i += 1


def enqueue_all(env, sbx, n):
    jobs = []
    for t in sbx.teachers()[:n]:
        env.store_token(t["id"], t["token"])
        jobs.append(env.enqueue(t["id"]))
    return jobs


def test_refused_commands_are_told_apart_logged_once_and_recovered(env):
    sbx = env.start_sandbox("--teachers", 6)
    as_admin(env)
    d = env.start_rosterd()
    d.proc.wait_line(r"event=group_created")
    mark = d.proc.mark()
    deny_scripts(env)
    jobs = enqueue_all(env, sbx, 6)
    d.proc.wait_line(r"event=redis_refused .*NOPERM", start=mark)
    # dozens of failed admissions later, the delays have grown ...
    wait_backoff_reaches(d, 1600, start=mark)
    out = d.proc.text().splitlines()[mark:]
    failed = [l for l in out if "event=admit_failed" in l]
    assert len(failed) >= 12, failed
    # ... and the log said it once, not once per failure
    refused = [l for l in out if "level=warning" in l]
    assert len(refused) == 1 and "event=redis_refused" in refused[0], refused
    assert "unreachable" not in refused[0], "a refusal is not a lost connection"
    # fixed: every job goes through, nothing lost
    ps = env.subscribe()
    allow_all(env)
    sts = env.wait_jobs(ps, jobs, timeout=60)
    assert all(s["state"] == "done" for s in sts.values()), sts
    d.proc.wait_line(r"event=redis_recovered .*commands failed", start=mark)


def test_sigterm_stops_within_the_stop_timeout_while_redis_refuses(env):
    sbx = env.start_sandbox("--teachers", 6)
    as_admin(env)
    d = env.start_rosterd(daemon__stop_timeout_ms=2000)
    d.proc.wait_line(r"event=group_created")
    mark = d.proc.mark()
    deny_scripts(env)
    enqueue_all(env, sbx, 6)
    wait_backoff_reaches(d, 800, start=mark)
    t0 = time.monotonic()
    rc = d.stop()
    took = time.monotonic() - t0
    assert rc == 0, d.proc.text()[-3000:]
    # Proc.stop would SIGKILL after 20 s; the stop timeout is 2 s
    assert took < 10 * SLOW, took
    # the jobs stay pending for another instance
    assert env.r.xpending("rosterd:jobs", "rosterd")["pending"] == 6
    allow_all(env)


def test_maxmemory_refusals_show_and_sigterm_still_stops(env):
    """Redis at maxmemory with noeviction: reads work, writes are refused."""
    sbx = env.start_sandbox("--teachers", 4)
    as_admin(env)
    env.r.set("rosterd:contract", "2")	# a Redis in use
    env.r.xgroup_create("rosterd:jobs", "rosterd", id="0", mkstream=True)
    jobs = enqueue_all(env, sbx, 4)
    env.r.config_set("maxmemory-policy", "noeviction")
    env.r.config_set("maxmemory", "1")
    d = env.start_rosterd(daemon__stop_timeout_ms=2000)
    d.proc.wait_line(r"event=redis_refused .*OOM command not allowed")
    wait_backoff_reaches(d, 800)
    rc = d.stop(signal.SIGTERM)
    assert rc == 0, d.proc.text()[-3000:]
    env.r.config_set("maxmemory", "0")
    # another instance takes the jobs over once Redis has room again
    ps = env.subscribe()
    env.start_rosterd(sync__claim_idle_ms=1000)
    sts = env.wait_jobs(ps, jobs, timeout=60)
    assert all(s["state"] == "done" for s in sts.values()), sts


def test_a_redis_full_at_start_is_waited_for_and_said(env):
    """Nothing can be set up in a Redis at maxmemory: rosterd says why and
    tries again, later and later, until Redis has room."""
    as_admin(env)
    env.r.config_set("maxmemory-policy", "noeviction")
    env.r.config_set("maxmemory", "1")
    d = env.start_rosterd()
    d.proc.wait_line(r"event=redis_refused .*contract version failed: OOM")
    assert "event=group_created" not in d.proc.text()
    env.r.config_set("maxmemory", "0")
    created, _ = d.proc.wait_line(r"event=group_created", timeout=60)
    assert env.r.get("rosterd:contract") == "2"
    # the contract key's SET, a write, ended the refusal of writes
    recovered, _ = d.proc.wait_line(r"event=redis_recovered")
    assert recovered < created


@pytest.mark.parametrize("acl,named", [
    (["-xautoclaim"], "XAUTOCLAIM rosterd:jobs"),
    (["resetchannels", "&other"], "PUBLISH rosterd:events"),
    (["resetkeys", "~rosterd:j*", "~rosterd:s*", "~rosterd:t*",
      "~rosterd:l*", "~rosterd:r*", "~rosterd:a*", "~rosterd:c*",
      "~rosterd:i*", "~rosterd:di*", "~rosterd:p*", "~rosterd:q*",
      "~rosterd:events", "~rosterd:event_*",
      "~rosterd:me:*"],
     "XADD rosterd:dead, XTRIM rosterd:dead, XDEL rosterd:dead"),
])
def test_a_missing_permission_at_start_is_one_clear_error(env, acl, named):
    as_admin(env)
    env.r.execute_command("ACL", "SETUSER", "default", *acl)
    errors = env.start_refused()
    assert len(errors) == 1 and "event=redis_denied" in errors[0], errors
    assert "may not do what rosterd needs: %s;" % named in errors[0], errors
    # it stopped before doing anything
    assert not env.r.exists("rosterd:contract", "rosterd:jobs")


def test_instances_beat_and_gone_consumers_are_removed(env):
    """Each instance announces itself in a heartbeat that expires when it
    stops beating; a consumer whose heartbeat is gone and that holds
    nothing is removed from the group, so restarts leave nothing behind."""
    sbx = env.start_sandbox("--teachers", 3)
    conf = dict(daemon__heartbeat_ms=200, sync__claim_idle_ms=1000)
    a = env.start_rosterd(**conf)
    b = env.start_rosterd(**conf)
    for d in (a, b):	# ready: the first heartbeat is on its way
        d.proc.wait_line(r"event=ready")
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    _, st = env.run(t["id"])
    assert st["state"] == "done", st
    names = [d.proc.name for d in (a, b)]
    for name, d in zip(names, (a, b)):
        h = env.r.hgetall("rosterd:instance:" + name)
        assert h["consumer"] == name and h["pid"] == str(d.proc.p.pid)
        assert h["state"] == "running" and h["redis"] == "ok", h
        assert {"host", "version", "started_ms", "last_beat_ms", "jobs"} <= set(h)
        assert 0 < env.r.pttl("rosterd:instance:" + name) <= 800
    # a crash: the heartbeat expires, the consumer is removed by b
    env.r.xgroup_createconsumer("rosterd:jobs", "rosterd", names[0])
    mark = b.proc.mark()
    a.proc.p.kill()
    a.proc.p.wait()
    env.daemons.remove(a)
    b.proc.wait_line(r"event=consumer_removed .*consumer %s " % names[0],
                     start=mark, timeout=30)
    assert not env.r.exists("rosterd:instance:" + names[0])
    groups = [c["name"] for c in env.r.xinfo_consumers("rosterd:jobs",
                                                       "rosterd")]
    assert names[0] not in groups and names[1] in groups
    # a clean stop takes its heartbeat away at once
    assert b.stop() == 0
    env.daemons.remove(b)
    assert not env.r.exists("rosterd:instance:" + names[1])


def test_a_redis_outage_is_told_once_not_per_failure(env):
    """During an outage the admissions of waiting jobs fail again and
    again: they back off, and the log says it once, then the recovery."""
    sbx = env.start_sandbox("--teachers", 8)
    d = env.start_rosterd()
    d.proc.wait_line(r"event=group_created")
    # jobs that keep being re-admitted: their teachers are busy elsewhere
    for t in sbx.teachers()[:8]:
        env.store_token(t["id"], t["token"])
        env.r.set("rosterd:lock:{%s}" % t["id"], "other:job", px=60000)
        env.enqueue(t["id"])
    d.proc.wait_line(r"waiting -> admitting")
    mark = d.proc.mark()
    env.redis.stop()
    # the outage itself, the condition under test
    time.sleep(3)
    out = d.proc.text().splitlines()[mark:]
    failed = [l for l in out if "event=admit_failed" in l]
    warnings = [l for l in out if "level=warning" in l]
    assert len(failed) >= 8, "the waiting jobs tried again: %s" % out[-20:]
    # the first failure told at once; rconn's own lines: one lost
    # connection each for the command and the reader connection
    told = [l for l in warnings if "event=redis_" in l]
    assert len(told) == 1 and "event=redis_unreachable" in told[0], warnings
    assert len(warnings) <= 4, warnings
    # the delays grew instead of hammering at a fixed step
    delays = [int(re.search(r"again in (\d+) ms", l).group(1))
              for l in failed if "again in" in l]
    assert max(delays) >= 400, delays
    env.redis.start()
    d.proc.wait_line(r"event=redis_recovered", start=mark, timeout=60)
