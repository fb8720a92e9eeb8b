"""control.lua: an instance's gate poll: the pause and quiet notes, its
commands taken off its list, and the gate it applies recorded in its
heartbeat."""
from lua_harness import P

PAUSED, QUIET, CONTROL, INST = (P + "paused", P + "quiet:c1",
                                P + "control:c1", P + "instance:c1")


def poll(w, pause="", quiet="", n=100):
    return w.lua.control([PAUSED, QUIET, CONTROL, INST],
                         [pause, quiet, 3600000, n])


def test_nothing_to_say(w):
    assert poll(w) == ["", "", []]
    assert not w.r.exists(INST), "no heartbeat is created"


def test_notes_and_commands_oldest_first_at_most_n(w):
    w.r.set(PAUSED, "deploy")
    w.r.set(QUIET, "drain", ex=10)
    w.r.rpush(CONTROL, "retry 1-1", "cancel 2-2 why", "retry 3-3")
    assert poll(w, n=2) == ["deploy", "drain", ["retry 1-1", "cancel 2-2 why"]]
    assert w.r.lrange(CONTROL, 0, -1) == ["retry 3-3"]
    assert w.r.pttl(QUIET) > 10000, "the quiet key's life is renewed"
    assert poll(w)[2] == ["retry 3-3"] and not w.r.exists(CONTROL)


def test_the_applied_gate_is_recorded_in_the_heartbeat(w):
    w.r.hset(INST, "state", "running")
    poll(w, pause="deploy", quiet="q")
    h = w.r.hgetall(INST)
    assert h["paused_note"] == "deploy" and h["quiet_note"] == "q", h
    since = h["paused_since_ms"]
    poll(w, pause="deploy")
    h = w.r.hgetall(INST)
    assert h["paused_since_ms"] == since, "kept while the same pause lasts"
    assert "quiet_note" not in h and "quiet_since_ms" not in h, h
    poll(w)
    assert "paused_note" not in w.r.hgetall(INST)
