"""Redis behind Sentinel, as self-run production Redis is: a primary, a
replica and three Sentinels (redis-server --sentinel) on loopback.
rosterd finds the primary through the Sentinels ([redis] sentinels,
master_name), follows a failover (SENTINEL FAILOVER, or the primary
SIGKILLed) while jobs run, and loses or duplicates no diff; rosterctl
finds the primary the same way.  Errors tell "no Sentinel reachable" from
"the Sentinels do not know this master"."""
import signal
import time

import pytest

import conftest as it
from conftest import rosterctl, wait_for

MASTER = it.SENTINEL_MASTER


class Deployment:
    """The primary (env.redis at first), its replica, three Sentinels."""

    def __init__(self, env):
        self.env = env
        pki = env.pki if env.redis.tls else None
        tls = ["--tls-replication", "yes"] if pki else []
        if pki:     # the primary of today is a replica tomorrow
            env.start_redis(extra=tls)
        self.servers = {env.redis.port: env.redis}
        replica = it.Redis(env.tmp, ["--replicaof", "127.0.0.1",
                                     str(env.redis.port)] + tls, pki=pki)
        self.servers[replica.port] = replica
        wait_for(lambda: replica.client.info("replication")[
            "master_link_status"] == "up", 20, "the replica in sync")
        self.sentinels = [it.Sentinel(env.tmp, i, env.redis.port, pki)
                          for i in range(3)]
        # every Sentinel knows the replica and the other Sentinels
        wait_for(lambda: all(
            int(s.client.sentinel_master(MASTER)["num-slaves"]) == 1 and
            int(s.client.sentinel_master(MASTER)["num-other-sentinels"]) == 2
            for s in self.sentinels), 30, "the Sentinels see each other")

    def conf(self):
        return {"redis__sentinels": ",".join(
            "127.0.0.1:%d" % s.port for s in self.sentinels),
            "redis__master_name": MASTER}

    def primary(self):
        """The Redis the Sentinels name now; env.redis follows it."""
        _, port = self.sentinels[0].primary()
        self.env.redis = self.servers[port]
        return self.env.redis

    def wait_switch(self, old_port, timeout=60):
        def switched():
            try:
                return all(s.primary()[1] != old_port for s in self.sentinels)
            except it.redislib.RedisError:
                return False
        wait_for(switched, timeout, "the Sentinels name a new primary")
        new = self.primary()
        wait_for(lambda: new.client.info("replication")["role"] == "master",
                 30, "the new primary takes writes")
        return new

    def stop(self):
        for s in self.sentinels:
            s.stop()
        for r in self.servers.values():
            if r is not self.env.redis:
                r.stop()


@pytest.fixture
def dep(env):
    if it.WRAP:
        # minutes under valgrind; ASan's leak checker covers these paths
        pytest.skip("the failover tests run on the plain and ASan builds")
    d = Deployment(env)
    yield d
    d.stop()


def sync_all(env, teachers, tag):
    ps = env.subscribe()
    try:
        ids = [env.enqueue(t["id"], ref=tag) for t in teachers]
        return env.wait_jobs(ps, ids, timeout=60)
    finally:
        ps.close()


def check_chains(env, teachers):
    """Per teacher: a gapless chain of versions that ends at the
    snapshot: no diff lost, none written twice."""
    for t in teachers:
        chain = [(int(d["base_version"]), int(d["version"]))
                 for d in env.diffs(t["id"])]
        assert chain == [(i, i + 1) for i in range(len(chain))], \
            (t["id"], chain)
        snap = env.snapshot(t["id"])
        assert int(snap["version"]) == len(chain), (t["id"], snap)


def mutate_all(sbx, teachers):
    """A change for every teacher with sections: the next sync writes."""
    for t in teachers:
        if t["sections"]:
            sbx.mutate(op="set_subject", section=t["sections"][0],
                       subject="subject %f" % time.monotonic())


def test_rosterd_finds_the_primary_through_the_sentinels(env, dep):
    sbx = env.start_sandbox("--teachers", 3)
    t = sbx.teachers()[0]
    env.store_token(t["id"], t["token"])
    # a wrong address in [redis] host/port: only the Sentinels count
    d = env.start_rosterd(redis__port=9, **dep.conf())
    d.proc.wait_line(r"event=redis_primary.*127\.0\.0\.1:%d" %
                     env.redis.port)
    _, st = env.run(t["id"])
    assert st["state"] == "done" and st["result"] == "changed", st


def test_a_failover_while_jobs_run_loses_and_doubles_nothing(env, dep):
    sbx = env.start_sandbox("--teachers", 12)
    teachers = sbx.teachers()[:12]
    for t in teachers:
        env.store_token(t["id"], t["token"])
    d = env.start_rosterd(**dep.conf())
    res = sync_all(env, teachers, "before")
    assert all(st["state"] == "done" for st in res.values()), res
    old = env.redis.port
    # SENTINEL FAILOVER while a round of jobs runs
    mutate_all(sbx, teachers)
    ids = [env.enqueue(t["id"], ref="during") for t in teachers]
    mark = d.proc.mark()
    dep.sentinels[1].client.execute_command("SENTINEL", "FAILOVER", MASTER)
    new = dep.wait_switch(old)
    assert new.port != old
    d.proc.wait_line(r"event=redis_primary.*127\.0\.0\.1:%d" % new.port,
                     start=mark, timeout=60)
    # the jobs of the round end on the new primary; a job enqueued on the
    # old one after its last replicated write may be lost with it: enqueue
    # the round again there (a request is idempotent), as an app retries
    res = sync_all(env, teachers, "after")
    assert all(st["state"] == "done" for st in res.values()), res
    check_chains(env, teachers)
    assert env.r.xpending("rosterd:jobs", "rosterd")["pending"] == 0
    # rosterctl finds the new primary through the Sentinels too: its
    # [redis] host and port still name the old one, now a replica
    out = rosterctl("-c", d.conf_path, "enqueue", teachers[0]["id"])
    assert out.returncode == 0, out.stderr
    assert env.r.hgetall("rosterd:job:" + out.stdout.strip()) or \
        any(e == out.stdout.strip() for e, _ in env.r.xrange("rosterd:jobs"))
    assert d.proc.p.poll() is None
    del ids


def test_the_primary_killed_while_jobs_run(env, dep):
    """The writes the replica had not received are lost with the primary
    (asynchronous replication): locks and entries of that moment may
    survive or not.  Short lock and claim times let the test see what a
    deployment sees after them: every job ends, the chains hold."""
    sbx = env.start_sandbox("--teachers", 8)
    teachers = sbx.teachers()[:8]
    for t in teachers:
        env.store_token(t["id"], t["token"])
    d = env.start_rosterd(sync__lock_ttl_ms=4000, sync__claim_idle_ms=3000,
                          **dep.conf())
    res = sync_all(env, teachers, "before")
    assert all(st["state"] == "done" for st in res.values()), res
    old = env.redis
    mutate_all(sbx, teachers)
    for t in teachers:
        env.enqueue(t["id"], ref="during")
    old.proc.stop(signal.SIGKILL)
    new = dep.wait_switch(old.port, timeout=90)
    dep.servers.pop(old.port)
    res = sync_all(env, teachers, "after")
    assert all(st["state"] == "done" for st in res.values()), res
    check_chains(env, teachers)
    assert d.proc.p.poll() is None
    assert new.port != old.port


def test_no_sentinel_reachable_is_told_apart_from_an_unknown_master(env):
    d = env.start_rosterd(wait=False, redis__sentinels="127.0.0.1:%d" %
                          it.free_port(), redis__master_name=MASTER)
    d.proc.wait_line(r"no Sentinel reachable")
    assert d.stop() == 0
    s = it.Sentinel(env.tmp, 9, env.redis.port,
                 env.pki if env.redis.tls else None)
    try:
        d = env.start_rosterd(wait=False, redis__sentinels="127.0.0.1:%d" %
                              s.port, redis__master_name="nobody")
        d.proc.wait_line(r"the Sentinels do not know a master named nobody")
        assert d.stop() == 0
    finally:
        s.stop()


def test_a_stop_while_a_sentinel_is_being_asked_frees_it_once(env):
    """SIGTERM while rosterd's connection to a Sentinel is open but no
    answer has come (a Sentinel that accepts and never replies): the
    search ends with the stop, its connection freed once (ASan and
    valgrind see a second free as a bad exit)."""
    import socket
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        srv.settimeout(10 * it.SLOW)
        d = env.start_rosterd(wait=False, redis__sentinels="127.0.0.1:%d" %
                              srv.getsockname()[1],
                              redis__master_name=MASTER)
        conn, _ = srv.accept()      # rosterd is asking, and waits
        try:
            assert d.stop() == 0, d.proc.text()[-3000:]
        finally:
            conn.close()
