"""Harness for the contract's scripts, run on a real redis-server without
the daemon: each script is loaded exactly as rosterd embeds it
(daemon/lua/embed.py expands its includes) and called with the KEYS and
ARGV its header documents.

The tests are one file per script, test_SCRIPT.py; what more than one of
them uses (teachers, their keys, and the scripts that set a test's scene:
a job admitted and running, failed, rate-limit windows) is below, at the
end of this file."""
import importlib.util
import json
import os
import re
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
LUA = os.path.join(TOP, "daemon", "lua")


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


embed = _load("rosterd_embed", os.path.join(LUA, "embed.py"))
# the integration harness's redis-server (free port, temp dir, awaited)
harness = _load("rosterd_harness",
                os.path.join(TOP, "tests", "integration", "conftest.py"))



def _contract_define(name):
    """A string #define of common/contract.h: the scripts must agree."""
    with open(os.path.join(TOP, "common", "contract.h"), encoding="utf-8") as f:
        return re.search(r'#define %s\s+"([^"]*)"' % name, f.read()).group(1)


CONTRACT_VERSION = _contract_define("CONTRACT_VERSION")
CONTRACT_UPGRADES_FROM = _contract_define("CONTRACT_UPGRADES_FROM")
P = "rosterd:"
GROUP = "rosterd"
EVENTS = P + "events"
JOBS = P + "jobs"


class Scripts:
    """scripts.NAME(keys, args) runs daemon/lua/NAME.lua."""

    def __init__(self, r):
        self._r = r
        self._s = {}
        for f in sorted(os.listdir(LUA)):
            if f.endswith(".lua"):
                self._s[f[:-4]] = r.register_script(
                    embed.expand(os.path.join(LUA, f)))

    def __getattr__(self, name):
        script = self._s[name]
        return lambda keys, args: script(keys=keys, args=[str(a) for a in args])


class Events:
    """Status events published on the channel while a test runs."""

    def __init__(self, r):
        self.ps = r.pubsub(ignore_subscribe_messages=True)
        self.ps.subscribe(EVENTS)
        self.ps.get_message(timeout=1)	# the subscription's confirmation

    def all(self):
        out = []
        while True:
            m = self.ps.get_message(timeout=0.2)
            if m is None:
                return out
            out.append(json.loads(m["data"]))


class World:
    def __init__(self, r):
        self.r = r
        self.lua = Scripts(r)
        r.xgroup_create(JOBS, GROUP, id="0", mkstream=True)

    def now_ms(self):
        s, us = self.r.time()
        return s * 1000 + us // 1000

    def take(self, teacher, consumer="c1", **fields):
        """An app's request read by a consumer: pending with it."""
        f = {"teacher": teacher, "kind": "sync"}
        f.update(fields)
        eid = self.r.xadd(JOBS, f)
        self.r.xreadgroup(GROUP, consumer, {JOBS: ">"}, count=1)
        return eid

    def pending(self):
        return [p["message_id"] for p in
                self.r.xpending_range(JOBS, GROUP, "-", "+", 100)]


@pytest.fixture
def w():
    with tempfile.TemporaryDirectory(prefix="rosterd-lua-") as tmp:
        srv = harness.Redis(tmp)
        try:
            yield World(srv.client)
        finally:
            srv.stop()


@pytest.fixture
def events(w):
    e = Events(w.r)
    yield e
    e.ps.close()


# ---- what the scripts' tests share: teachers, their keys, and the
# ---- scripts that set a test's scene, called as rosterd calls them

T = "58da8c63d7dc0ca068000478"	# a teacher
U = "58da8c63d7dc0ca068000479"	# another one
LOCK_TTL = 30000
STATUS_TTL = 3600


def status(t):
    return P + "job:" + t


def state(t):
    return P + "state:{%s}" % t


def lock(t):
    return P + "lock:{%s}" % t


def snapshot(t):
    return P + "snapshot:{%s}" % t


SCHEDULE, LEFT, REAUTH = P + "schedule", P + "schedule:left", P + "reauthorize"
SCHED_KEYS = [SCHEDULE, LEFT, REAUTH]


# An app's W3C traceparent, as rosterd passes it on (checked).
TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def admit(w, *jobs, trigger="app", ttl=STATUS_TTL):
    """jobs: (entry id, teacher, kind, ref, request ms[, traceparent]); job
    id = entry id, lock value = consumer:job id, as rosterd does."""
    keys, args = [JOBS], [GROUP, "c1", LOCK_TTL, EVENTS, len(jobs)]
    for eid, teacher, kind, ref, req, *tp in jobs:
        keys += [status(eid), state(teacher), lock(teacher)]
        args += [eid, eid, teacher, kind, ref, req, "c1:" + eid, trigger,
                 ttl, tp[0] if tp else ""]
    return w.lua.admit(keys, args)


def taken_over(w, eid, by="c2"):
    """Another instance takes the entry over (XAUTOCLAIM does this to an
    entry idle past claim_idle_ms while its consumer is frozen)."""
    w.r.xclaim(JOBS, GROUP, by, 0, [eid], justid=True)


COUNTS = ('{"added":2,"updated":1,"removed":0,"sections_added":1,'
          '"sections_updated":0,"sections_removed":0,"students_added":1,'
          '"students_updated":1,"students_removed":0,"enrollments_added":0,'
          '"enrollments_removed":0,"teacher_updated":0}')


def running(w, tp=""):
    """A sync of T admitted by consumer c1: entry pending, lock held; with
    tp, the app's traceparent."""
    eid = w.take(T)
    req = int(eid.split("-")[0])
    [reply] = admit(w, (eid, T, "sync", "user-42", req, tp))
    assert reply[0] == "R"
    return eid


def fail(w, eid, lockval, state_="failed", extra="{}", teacher=T, drop="0",
         code="not_shared", trigger="app", owner="teacher"):
    keys = [status(eid), JOBS, lock(teacher), P + "dead", state(teacher)] + \
        SCHED_KEYS + [P + "token:" + teacher]
    args = [GROUP, eid, lockval, eid, teacher, "sync", "r", state_,
            code, "Clever answered 404", EVENTS, STATUS_TTL, extra,
            "d1", "0", "c1", drop, trigger, owner]
    return w.lua.fail(keys, args)


RL = P + "ratelimit:{rl}:teacher:%s" % T
RL2 = P + "ratelimit:{rl}:teacher:%s" % ("b" * 24)
APP = P + "ratelimit:{rl}:app"
DEMAND = P + "ratelimit:{rl}:demand"
WINDOW = 60000


def permit(w, n, limit=10, key=RL, share=100, caller="1-0"):
    return w.lua.permit([key, APP, DEMAND], [n, limit, WINDOW, share, caller])


def observe(w, buckets, was_429=0, key=RL):
    """buckets: (name, scope 't'|'a', limit, remaining, reset_s) tuples."""
    args = [was_429, WINDOW, len(buckets)]
    for b in buckets:
        args += list(b)
    return w.lua.observe([key, APP], args)


def bearer(limit, remaining, reset_s):
    return [("bearer", "t", limit, remaining, reset_s)]


def warm(w):
    """Headers seen: the app's buckets (none) are known for a window."""
    observe(w, [])


INTERVAL, JITTER = 10000, 1000


def claim(w, *teachers, interval=INTERVAL, jitter=JITTER):
    keys = [SCHEDULE, JOBS]
    for t in teachers:
        keys += [state(t), lock(t)]
    keys += [P + "districts"]
    return w.lua.claim(keys, [interval, jitter, len(teachers)] + list(teachers))
