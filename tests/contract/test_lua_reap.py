"""reap.lua: a gone consumer removed from the group."""
from lua_harness import GROUP, JOBS, P, T


def reap(w, consumer, idle_ms):
    return w.lua.reap([JOBS, P + "instance:" + consumer],
                      [GROUP, consumer, idle_ms])


def consumers(w):
    return [c["name"] for c in w.r.xinfo_consumers(JOBS, GROUP)]


def test_reap_removes_a_gone_consumer_with_nothing_pending(w):
    w.r.xgroup_createconsumer(JOBS, GROUP, "gone")
    assert "gone" in consumers(w)
    assert reap(w, "gone", 0) == 1
    assert "gone" not in consumers(w)


def test_reap_spares_a_consumer_with_a_heartbeat(w):
    w.r.xgroup_createconsumer(JOBS, GROUP, "alive")
    w.r.hset(P + "instance:alive", "consumer", "alive")
    assert reap(w, "alive", 0) == 0
    assert "alive" in consumers(w)


def test_reap_spares_a_consumer_that_holds_entries(w):
    w.take(T, consumer="holder")	# an entry pending with it
    assert reap(w, "holder", 0) == 0
    assert "holder" in consumers(w)


def test_reap_spares_a_consumer_idle_for_less_than_asked(w):
    w.r.xgroup_createconsumer(JOBS, GROUP, "fresh")
    assert reap(w, "fresh", 60000) == 0
    assert "fresh" in consumers(w)
