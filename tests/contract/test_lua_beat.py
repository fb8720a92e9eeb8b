"""beat.lua: an instance's heartbeat."""
from lua_harness import P


INST = P + "instance:c1"


def test_beat_writes_the_heartbeat_with_an_expiry(w):
    before = w.now_ms()
    assert w.lua.beat([INST], [20000, "consumer", "c1", "jobs", 3]) == 1
    h = w.r.hgetall(INST)
    assert h["consumer"] == "c1" and h["jobs"] == "3"
    assert int(h["last_beat_ms"]) >= before
    assert h["started_ms"] == h["last_beat_ms"]
    assert 0 < w.r.pttl(INST) <= 20000
    w.lua.beat([INST], [20000, "jobs", 0])
    h2 = w.r.hgetall(INST)
    assert h2["started_ms"] == h["started_ms"], "the first beat stays"
    assert h2["jobs"] == "0"


def test_beat_is_written_while_redis_refuses_writes(w):
    """At maxmemory with noeviction Redis refuses the other scripts' writes,
    but the heartbeat still says what is wrong (allow-oom)."""
    w.lua.beat([INST], [20000, "redis", "ok"])
    w.r.config_set("maxmemory-policy", "noeviction")
    w.r.config_set("maxmemory", "1")
    try:
        try:
            w.r.hset(P + "job:x", "state", "done")
            raise AssertionError("Redis took a write at maxmemory")
        except Exception as e:
            assert "OOM" in str(e), e
        assert w.lua.beat([INST], [20000, "redis", "refusing commands"]) == 1
        assert w.r.hget(INST, "redis") == "refusing commands"
    finally:
        w.r.config_set("maxmemory", "0")
