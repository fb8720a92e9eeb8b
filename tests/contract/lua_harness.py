"""Harness for the contract's scripts, run on a real redis-server without
the daemon: each script is loaded exactly as rosterd embeds it
(daemon/lua/embed.py expands its includes) and called with the KEYS and
ARGV its header documents."""
import importlib.util
import json
import os
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
