"""Redis as an operator runs it, on a real redis-server: the server named
in every signal, its memory watched, an evicting Redis refused at start
and while running, and a refusal of writes that no read hides, in the
gauge, STATUS, the heartbeat and rosterctl stats alike."""
import json
import os
import time

import redis as redislib

from conftest import SLOW, teacher_with_sections
from test_ctl import Notify, ctl
from test_metrics import scrape, value


def start(env, **conf):
    """rosterd with its metrics and a NOTIFY_SOCKET of the test's."""
    notify = Notify(env.tmp)
    d = env.start_rosterd(metrics__listen="127.0.0.1:0",
                          daemon__heartbeat_ms=300,
                          proc_env=dict(os.environ,
                                        NOTIFY_SOCKET=notify.path), **conf)
    _, m = d.proc.wait_line(r"event=metrics_listening .*(http://\S+/metrics)")
    d.proc.wait_line(r"event=ready")
    return d, m.group(1), notify


def healthy(url):
    return value(scrape(url)[1], "rosterd_redis_healthy")


def until(what, test, timeout=20):
    deadline = time.monotonic() + timeout * SLOW
    while True:
        got = test()
        if got:
            return got
        assert time.monotonic() < deadline, "never: %s" % what
        time.sleep(0.1)


FILLERS = ["filler:%d" % i for i in range(1024)]


def fill(env):
    """Redis at maxmemory with noeviction, filled by the test's keys: it
    refuses writes that need memory, reads and deletes still work."""
    env.r.config_set("maxmemory-policy", "noeviction")
    env.r.config_set("maxmemory", env.r.info("memory")["used_memory"] +
                     (2 << 20))
    blob = "x" * (16 << 10)
    for key in FILLERS:
        try:
            env.r.set(key, blob)
        except redislib.ResponseError as e:
            assert str(e).startswith("OOM"), e
            break
    else:
        raise AssertionError("Redis never filled up")
    # full, and past the limit by more than any command's buffers, so
    # that it stays full until the fillers go
    env.r.config_set("maxmemory", env.r.info("memory")["used_memory"] -
                     (256 << 10))
    try:
        env.r.set("filler:probe", "1")
        raise AssertionError("Redis took a write at maxmemory")
    except redislib.ResponseError as e:
        assert str(e).startswith("OOM"), e


def heartbeat(env, d):
    return env.r.hgetall("rosterd:instance:" + d.proc.name)


def stats(d):
    out = ctl(d, "--json", "stats")
    assert out.returncode == 0, out
    (inst,) = json.loads(out.stdout)["instances"]
    return inst


def test_every_signal_names_the_redis_server_and_its_memory(env):
    d, url, notify = start(env)
    address = "127.0.0.1:%d" % env.redis.port
    tls = "on" if env.redis.tls else "off"
    line = notify.wait("redis %s" % address)
    assert "redis %s (master, tls %s, noeviction): ok" % (address, tls) \
        in line
    # the metrics: the server, its memory against maxmemory, failovers
    _, samples = scrape(url)
    assert value(samples, "rosterd_redis_server_info", address=address,
                 role="master", tls=tls, maxmemory_policy="noeviction") == 1
    assert value(samples, "rosterd_redis_used_memory_bytes") > 0
    assert ("rosterd_redis_maxmemory_bytes", ()) in samples
    assert value(samples, "rosterd_redis_maxmemory_bytes") == 0
    assert ("rosterd_redis_failovers_total", ()) in samples
    # the heartbeat and rosterctl stats, as JSON and for people
    want = {"redis_address": address, "redis_role": "master",
            "redis_tls": tls, "redis_maxmemory_policy": "noeviction"}
    until("heartbeat names the server", lambda: want.items() <=
          heartbeat(env, d).items())
    inst = stats(d)
    assert want.items() <= inst.items() and inst["redis_failovers"] == 0
    out = ctl(d, "stats")
    assert "on redis %s (master, tls %s), maxmemory-policy noeviction, 0 " \
        "failovers followed" % (address, tls) in out.stdout, out.stdout
    # Redis nearly full: a warning, once; and when it has room again
    mark = d.proc.mark()
    used = env.r.info("memory")["used_memory"]
    env.r.config_set("maxmemory", used * 100 // 95)
    d.proc.wait_line(r"level=warning event=redis_memory_high .*of its "
                     r"maxmemory", start=mark)
    until("maxmemory in the metrics", lambda: value(
        scrape(url)[1], "rosterd_redis_maxmemory_bytes") == used * 100 // 95)
    env.r.config_set("maxmemory", used * 10)
    d.proc.wait_line(r"event=redis_memory_ok", start=mark)
    told = d.proc.text().splitlines()[mark:]
    assert len([l for l in told if "redis_memory_high" in l]) == 1, told
    env.r.config_set("maxmemory", 0)


def test_redis_refusing_writes_reads_refused_until_a_write_works(env):
    sbx = env.start_sandbox("--teachers", 2)
    t = sbx.teachers()[0]
    env.store_token(t["id"], t["token"])
    d, url, notify = start(env)
    assert healthy(url) == 1
    # a job that keeps trying to start: its teacher is busy elsewhere
    lock = "rosterd:lock:{%s}" % t["id"]
    env.r.set(lock, "other:job", px=600000)
    jid = env.enqueue(t["id"])
    d.proc.wait_line(r"waiting -> admitting")
    mark = d.proc.mark()
    fill(env)
    d.proc.wait_line(r"event=redis_refused .*OOM command not allowed",
                     start=mark, timeout=30)
    # longer than the reader's 5-second block: its reads come back, and
    # the scrapes' own reads work, yet every signal says refused
    beat = int(heartbeat(env, d)["last_beat_ms"])
    end = time.monotonic() + 6
    scrapes = 0
    while time.monotonic() < end:
        _, s = scrape(url)
        assert value(s, "rosterd_redis_healthy") == 0
        # the scrape's own reads worked: the job read, waiting for its lock
        assert value(s, "rosterd_queue_pending_jobs") == 1
        scrapes += 1
        time.sleep(0.5)
    assert scrapes >= 6
    notify.wait("): refusing commands")
    hb = heartbeat(env, d)
    assert hb["redis"].startswith("refusing commands") and "OOM" in hb["redis"]
    assert int(hb["last_beat_ms"]) > beat, "the heartbeat is still written"
    assert stats(d)["redis"].startswith("refusing commands")
    out = ctl(d, "stats")
    assert "redis refusing commands" in out.stdout, out.stdout
    # memory freed: the next write works, and every signal says so
    mark = d.proc.mark()
    env.r.delete(*FILLERS)
    d.proc.wait_line(r"event=redis_recovered", start=mark, timeout=30)
    assert healthy(url) == 1
    notify.wait("noeviction): ok")
    until("heartbeat ok", lambda: heartbeat(env, d)["redis"] == "ok")
    until("stats ok", lambda: stats(d)["redis"] == "ok")
    # and the job that waited through it all runs
    ps = env.subscribe()
    env.r.delete(lock)
    assert env.wait_jobs(ps, [jid], timeout=60)[jid]["state"] == "done"


def test_an_evicting_redis_is_refused_at_start(env):
    env.r.config_set("maxmemory-policy", "allkeys-lru")
    errors = env.start_refused()
    assert len(errors) == 1 and "event=redis_evicting" in errors[0], errors
    assert "maxmemory-policy allkeys-lru" in errors[0], errors
    # it stopped before writing anything
    assert not env.r.exists("rosterd:contract", "rosterd:jobs")


def test_an_evicting_policy_under_a_running_rosterd_is_a_refusal(env):
    sbx = env.start_sandbox("--teachers", 2)
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    d, url, notify = start(env)
    mark = d.proc.mark()
    env.r.config_set("maxmemory-policy", "allkeys-lru")
    d.proc.wait_line(r"level=error event=redis_evicting .*maxmemory-policy "
                     r"allkeys-lru", start=mark)
    assert healthy(url) == 0
    notify.wait("maxmemory-policy allkeys-lru")
    until("heartbeat refused", lambda: "maxmemory-policy allkeys-lru" in
          heartbeat(env, d)["redis"])
    assert "maxmemory-policy allkeys-lru" in stats(d)["redis"]
    # it is told once, and rosterd goes on working
    _, st = env.run(t["id"])
    assert st["state"] == "done", st
    assert d.proc.text().count("event=redis_evicting") == 1
    env.r.config_set("maxmemory-policy", "noeviction")
    d.proc.wait_line(r"event=redis_noeviction .*it was allkeys-lru",
                     start=mark)
    assert healthy(url) == 1
    until("heartbeat ok", lambda: heartbeat(env, d)["redis"] == "ok")
    # a Redis that comes back evicting (a restart, another server) is
    # checked on the new connection
    mark = d.proc.mark()
    env.redis.stop()
    env.redis.argv += ["--maxmemory-policy", "volatile-lru"]
    env.redis.start()
    d.proc.wait_line(r"event=redis_evicting .*volatile-lru", start=mark,
                     timeout=30)
    assert healthy(url) == 0
    env.r.config_set("maxmemory-policy", "noeviction")
    d.proc.wait_line(r"event=redis_noeviction", start=mark)


def test_a_user_that_may_not_read_the_server_is_warned_once(env):
    """INFO is asked only when the ACL allows it (Redis logs every
    denial): without it rosterd works on and says what goes unchecked.
    ROLE is needed: every connection checks it is on the primary."""
    env.r.acl_setuser("admin", enabled=True, passwords=["+pw"],
                      commands=["+@all"], keys=["*"], channels=["*"])
    env.r.execute_command("ACL", "SETUSER", "default", "-info")
    env.redis.client = env.redis.new_client(username="admin", password="pw")
    env.start_sandbox("--teachers", 2)
    d, url, _ = start(env)
    _, st = env.run("5f" * 12)
    assert st["error"] == "no_token", st
    # a few beats, each of which reads the server again
    first = int(until("a beat", lambda: heartbeat(env, d).get("last_beat_ms")))
    until("more beats", lambda: int(heartbeat(env, d)["last_beat_ms"]) >
          first + 1000)
    warned = [l for l in d.proc.text().splitlines()
              if "event=redis_info_unread" in l]
    assert len(warned) == 1 and "INFO" in warned[0], warned
    assert healthy(url) == 1
    denied = [e for e in env.r.execute_command("ACL", "LOG")
              if "rosterd" in str(e)]
    assert denied == [], denied
