#!/usr/bin/python3
"""Chaos: three rosterd instances against a real Redis (AOF, appendfsync
always) and the sandbox with a fault mix (5xx, 429, malformed, truncated,
reset, stall).  Rounds of syncs, with duplicates, while the sandbox's data
changes; instances are SIGKILLed and restarted, Redis is killed and
restarted once, an instance is frozen (SIGSTOP) past its lock and its
jobs' claim time, and Redis fails over once: the instances find their
Redis through three Sentinels, and the replica (AOF too) is promoted by
SENTINEL FAILOVER, writes paused on the primary until the replica has
them all (as a planned switch is done).  Then the queue drains and every
invariant is checked:

- every job terminal (done), none lost, no pending entries;
- per teacher, a gapless chain of diff versions, no base version twice;
- the diffs replayed from nothing equal the snapshot;
- the snapshot equals what the sandbox serves;
- no status moved from a final state back to another (events channel).

In the suite it runs about a minute (tests/run, with the ASan build).
Longer: CHAOS_SOAK_S=600, or  tests/chaos/test_chaos.py --soak 600
(BUILD_DIR as for the integration tests); it prints its figures.
"""
import importlib.util
import json
import os
import random
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# the integration harness: redis-server, the sandbox, rosterd processes
it = _load("rosterd_it_harness",
           os.path.join(TOP, "tests", "integration", "conftest.py"))

FAULTS = {"500": 0.03, "502": 0.02, "503": 0.02, "429": 0.04,
          "malformed": 0.03, "truncated": 0.03, "reset": 0.02, "stall": 0.01}
AOF = ["--appendonly", "yes", "--appendfsync", "always"]
TEACHERS = 24
INSTANCES = 3
CONF = dict(
    sync__concurrency=16, sync__max_attempts=50, sync__retry_base_ms=50,
    sync__retry_max_ms=1000, sync__lock_ttl_ms=2000 * it.SLOW,
    sync__claim_idle_ms=2000 * it.SLOW, sync__shrink_guard="no",
    clever__request_timeout_ms=1500 * it.SLOW, clever__request_retries=3,
    clever__retry_base_ms=20, clever__retry_max_ms=300,
    clever__rate_window_s=2,
    redis__connect_timeout_ms=300, log__level="info")


class Chaos:
    def __init__(self, env, seed):
        self.env = env
        self.rng = random.Random(seed)
        self.jobs = []
        self.figures = {"rounds": 0, "kills": 0, "redis_restarts": 0,
                        "freezes": 0, "mutations": 0, "failovers": 0}
        self.instances = {}

    # ---- the cast ----
    def deploy(self):
        """The primary's replica and three Sentinels; a failover only
        when told (down after 30 s: a killed primary restarts first)."""
        env = self.env
        pki = env.pki if env.redis.tls else None
        tls = ["--tls-replication", "yes"] if pki else []
        self.replica = it.Redis(env.tmp, ["--replicaof", env.redis.host,
                                          str(env.redis.port)] + AOF + tls,
                                pki=pki)
        self.wait(lambda: self.replica.client.info("replication")[
            "master_link_status"] == "up", 30, "the replica in sync")
        self.sentinels = [it.Sentinel(env.tmp, i, env.redis.port, pki,
                                      down_after_ms=30000)
                          for i in range(3)]
        self.wait(lambda: all(
            int(x.client.sentinel_master(it.SENTINEL_MASTER)[
                "num-other-sentinels"]) == 2 for x in self.sentinels),
            30, "the Sentinels see each other")
        self.sentinel_conf = {
            "redis__sentinels": ",".join("127.0.0.1:%d" % x.port
                                         for x in self.sentinels),
            "redis__master_name": it.SENTINEL_MASTER}

    def failover(self):
        """A planned switch: writes paused on the primary until the
        replica has them all and the old primary is a replica itself, the
        Sentinels' SENTINEL FAILOVER in between."""
        old, new = self.env.redis, self.replica
        old.client.execute_command("CLIENT", "PAUSE", 20000, "WRITE")
        off = old.client.info("replication")["master_repl_offset"]
        self.wait(lambda: new.client.info("replication")[
            "slave_repl_offset"] >= off, 30, "the replica caught up")
        self.sentinels[0].client.execute_command(
            "SENTINEL", "FAILOVER", it.SENTINEL_MASTER)

        def switched():
            try:
                return all(x.primary()[1] == new.port
                           for x in self.sentinels) and \
                    new.client.info("replication")["role"] == "master"
            except it.redislib.RedisError:
                return False
        self.wait(switched, 60, "the Sentinels to name the replica")

        def demoted():
            try:
                return old.client.info("replication")["role"] == "slave"
            except it.redislib.RedisError:
                return False
        # the old primary takes writes again only as a replica: until
        # the Sentinels convert it, it would take them as a second primary
        self.wait(demoted, 60, "the old primary to become a replica")
        old.client.execute_command("CLIENT", "UNPAUSE")
        self.env.redis, self.replica = new, old
        self.log.redis = new
        self.figures["failovers"] += 1

    def start(self, name):
        d = it.Rosterd(self.env.tmp, self.env.redis, self.env.sandbox,
                       name=name, **dict(CONF, **self.sentinel_conf))
        self.instances[name] = d
        self.env.daemons.append(d)

    def kill_and_restart(self):
        name = self.rng.choice(sorted(self.instances))
        d = self.instances.pop(name)
        d.proc.stop(signal.SIGKILL)
        self.env.daemons.remove(d)
        self.start(name)            # the same consumer: its PEL again
        self.figures["kills"] += 1

    def restart_redis(self):
        self.env.redis.proc.stop(signal.SIGKILL)
        self.env.redis.start()      # the AOF brings everything back
        self.figures["redis_restarts"] += 1

    def freeze(self):
        """Freeze an instance with syncs in flight until others have taken
        its jobs over and finished them, then let it go on."""
        name = self.rng.choice(sorted(self.instances))
        d = self.instances[name]
        sbx = self.env.sandbox
        # slow answers, so that syncs are in flight when it stops
        sbx.post("/faults", {"latency_ms": 1000})
        self.enqueue_round()

        def running():
            return [j for j, st in self.statuses().items()
                    if st.get("consumer") == name and
                    st.get("state") == "running"]
        self.wait(lambda: running(), 30, "syncs in flight on " + name)
        d.proc.p.send_signal(signal.SIGSTOP)
        held = running()
        sbx.post("/faults", {"latency_ms": 0})
        self.figures["frozen_jobs"] = self.figures.get("frozen_jobs", 0) + \
            len(held)

        def finished():
            st = self.statuses(held)
            return all(s.get("state") in it.TERMINAL for s in st.values())
        self.wait(finished, 30, "the frozen instance's jobs")
        d.proc.p.send_signal(signal.SIGCONT)
        self.figures["freezes"] += 1

    def statuses(self, jobs=None):
        jobs = self.jobs if jobs is None else jobs
        p = self.env.r.pipeline()
        for j in jobs:
            p.hgetall("rosterd:job:" + j)
        return dict(zip(jobs, p.execute()))

    # ---- the app and the data ----
    def mutate(self):
        sbx, t = self.env.sandbox, self.rng.choice(self.teachers)
        secs = sbx.get("/teachers")
        secs = next(x for x in secs if x["id"] == t["id"])["sections"]
        if not secs:
            return
        sec = self.rng.choice(secs)
        op = self.rng.choice(["add_student", "remove_student",
                              "rename_user", "set_subject"])
        try:
            if op == "add_student":
                sbx.mutate(op=op, section=sec)
            elif op == "remove_student":
                students = self.section_students(t, sec)
                if students:
                    sbx.mutate(op=op, section=sec,
                               student=self.rng.choice(students))
            elif op == "rename_user":
                sbx.mutate(op=op, user=t["id"],
                           first="R%d" % self.rng.randrange(1000))
            else:
                sbx.mutate(op=op, section=sec,
                           subject=self.rng.choice(["math", "Science 7",
                                                    "ELA", "art"]))
            self.figures["mutations"] += 1
        except Exception as e:      # e.g. the student just left
            if "HTTP Error 4" not in str(e):
                raise

    def section_students(self, t, sec):
        return self.clever_view(t)[1].get(sec, [])

    def clever_view(self, t):
        """Section ids and their students, as the sandbox serves them
        (its fault rates are 0 when this is asked for the checks; the
        control API itself is never faulted)."""
        import urllib.request
        req = urllib.request.Request(
            self.env.sandbox.api + "/v3.0/users/%s/sections" % t["id"],
            headers={"Authorization": "Bearer " + t["token"]})
        for _ in range(20):
            try:
                with urllib.request.urlopen(req, timeout=1) as r:
                    secs = json.loads(r.read())["data"]
                return ({s["data"]["id"] for s in secs},
                        {s["data"]["id"]: s["data"]["students"]
                         for s in secs})
            except Exception:
                continue            # a fault of the mix: ask again
        raise AssertionError("the sandbox keeps failing")

    def enqueue_round(self):
        for t in self.rng.sample(self.teachers, len(self.teachers) // 2):
            for _ in range(self.rng.choice([1, 1, 2, 3])):
                self.jobs.append(self.env.enqueue(t["id"]))

    def backlog(self):
        return sum(1 for s in self.statuses().values()
                   if s.get("state") not in it.TERMINAL)

    def wait(self, cond, timeout, what):
        deadline = time.monotonic() + timeout * it.SLOW
        nxt = time.monotonic() + 5
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError("timed out: %s" % what)
            if os.environ.get("CHAOS_TRACE") and time.monotonic() > nxt:
                nxt += 5
                self.trace()
            time.sleep(0.2)         # polling Redis for the statuses

    def trace(self):
        left = [(j, st) for j, st in self.statuses().items()
                if st.get("state") not in it.TERMINAL]
        print("backlog %d, e.g. %s" % (len(left), left[:2]))
        print("pending", self.env.r.xpending("rosterd:jobs", "rosterd"))
        if os.environ.get("CHAOS_TRACE") == "2":
            for n, d in self.instances.items():
                print("\n".join("%s %s" % (n, l) for l in d.proc.lines[-15:]))

    def redis_up(self):
        try:
            return self.backlog() >= 0
        except Exception:
            return False

    # ---- the run ----
    def run(self, rounds, soak_s):
        env = self.env
        # a 429 blocks the token until Clever's reset: short windows
        sbx = env.start_sandbox("--teachers", TEACHERS, "--seed", 31,
                                "--fault-seed", 7, "--rate-window-s", 2)
        self.teachers = sbx.teachers()
        for t in self.teachers:
            env.store_token(t["id"], t["token"])
        self.log = it.EventLog(env.redis)
        self.deploy()
        for i in range(INSTANCES):
            self.start("chaos%d" % i)
        sbx.post("/faults", {"rates": FAULTS})
        t0 = time.monotonic()
        r = 0
        while r < rounds or time.monotonic() - t0 < soak_s:
            self.enqueue_round()
            for _ in range(3):
                self.mutate()
            if r % 3 == 2:
                self.kill_and_restart()
            if r == 12 or (soak_s and r % 60 == 42):
                self.restart_redis()
            if r in (6, 20) or (soak_s and r % 20 == 16):
                self.freeze()
            if r == 24 or (soak_s and r % 60 == 12):
                self.failover()
            # let the backlog come down before the next round
            self.wait(lambda: self.redis_up() and self.backlog() <= 30,
                      60, "backlog after round %d" % r)
            if os.environ.get("CHAOS_TRACE"):
                print("round %d at %.1f s" % (r, time.monotonic() - t0))
            r += 1
        self.figures["rounds"] = r
        self.drain()
        self.figures["seconds"] = round(time.monotonic() - t0, 1)

    def drain(self):
        env = self.env
        env.sandbox.post("/faults", {"rates": {}})
        self.wait(lambda: self.backlog() == 0, 120, "the queue to drain")
        if os.environ.get("CHAOS_TRACE"):
            print("drained")
        # one more sync of everyone, so that snapshots meet today's data
        for t in self.teachers:
            self.jobs.append(env.enqueue(t["id"]))
        self.wait(lambda: self.backlog() == 0, 60, "the last round")

    # ---- the invariants ----
    def check(self):
        env = self.env
        self.log.stop()
        statuses = self.statuses()
        lost = [j for j, st in statuses.items() if not st]
        assert not lost, "jobs without a status: %s" % lost[:5]
        states = {}
        for st in statuses.values():
            states[st["state"]] = states.get(st["state"], 0) + 1
        self.figures["jobs"] = len(self.jobs)
        self.figures["states"] = states
        assert states == {"done": len(self.jobs)}, states
        results = {}
        for st in statuses.values():
            results[st["result"]] = results.get(st["result"], 0) + 1
        self.figures["results"] = results
        for st in statuses.values():
            if st["result"] == "coalesced":
                assert st["coalesced_with"] != st["job"], st
        pend = env.r.xpending("rosterd:jobs", "rosterd")
        assert pend["pending"] == 0, pend
        assert self.log.regressions() == {}, self.log.regressions()
        self.figures["events"] = len(self.log.events)
        ndiffs = 0
        for t in self.teachers:
            diffs = env.diffs(t["id"])
            ndiffs += len(diffs)
            chain = [(int(d["base_version"]), int(d["version"]))
                     for d in diffs]
            assert chain == [(i, i + 1) for i in range(len(chain))], \
                (t["id"], chain)
            snap = env.snapshot(t["id"])
            assert snap and int(snap["version"]) == len(chain), (t["id"], snap)
            with tempfile.TemporaryDirectory() as tmp:
                replayed = replay(env, diffs, tmp)
            assert replayed == snap["roster"], t["id"]
            roster = it.roster_records(snap["roster"])
            secs, students = self.clever_view(t)
            assert {s["id"] for s in roster["sections"]} == secs, t["id"]
            for s in roster["sections"]:
                assert sorted(s["students"]) == sorted(students[s["id"]]), \
                    (t["id"], s["id"])
        self.figures["diffs"] = ndiffs
        for name, d in self.instances.items():
            assert d.proc.p.poll() is None, "%s died:\n%s" % (
                name, d.proc.text()[-3000:])


def replay(env, diffs, tmp):
    """The teacher's diffs applied in order from nothing (rosterctl)."""
    base = os.path.join(tmp, "replay.json")
    cur = None
    for d in diffs:
        dpath = os.path.join(tmp, "d.json")
        with open(dpath, "w") as f:
            json.dump(d["diff"], f)
        res = it.rosterctl("apply", base if cur is not None else "/dev/null",
                           dpath)
        assert res.returncode == 0, res.stderr
        cur = res.stdout.strip()
        with open(base, "w") as f:
            f.write(cur)
    return cur


def chaos(rounds=30, soak_s=0, seed=1):
    with tempfile.TemporaryDirectory(prefix="rosterd-chaos-") as tmp:
        env = it.Env(tmp)
        env.start_redis(AOF)
        c = Chaos(env, seed)
        try:
            c.run(rounds, soak_s)
            c.check()
        finally:
            rcs = env.close()
            for x in getattr(c, "sentinels", []):
                x.stop()
            if getattr(c, "replica", None):
                c.replica.stop()
        for d, rc in rcs:
            assert rc == 0, "%s exited %s:\n%s" % (d.proc.name, rc,
                                                   d.proc.text()[-3000:])
        return c.figures


def test_chaos():
    figures = chaos(soak_s=int(os.environ.get("CHAOS_SOAK_S", "0")))
    print("chaos:", json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    soak = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[1] == "--soak" \
        else 0
    print(json.dumps(chaos(soak_s=soak), sort_keys=True, indent=1))
