"""event_lock.lua: one events poller per district for the deployment."""
from lua_harness import P

D = "58da8a43cc70ab00017a1a87"
LK, DH = P + "event_lock:{%s}" % D, P + "district:{%s}" % D


def lock(w, consumer, ttl):
    return w.lua.event_lock([LK, DH], [consumer, ttl])


def test_first_taker_holds_it_and_renews_it_others_wait(w):
    w.r.hset(DH, "events", "1")
    assert lock(w, "c1", 1000) == 2
    assert lock(w, "c2", 1000) == 0
    assert lock(w, "c1", 30000) == 1
    assert w.r.get(LK) == "c1" and w.r.pttl(LK) > 1000


def test_an_expired_lock_is_taken_over(w):
    w.r.hset(DH, "events", "1")
    w.r.set(LK, "dead-instance", px=1)
    import time
    deadline = time.monotonic() + 5
    while w.r.exists(LK) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lock(w, "c2", 1000) == 2 and w.r.get(LK) == "c2"


def test_release_frees_only_our_lock(w):
    w.r.hset(DH, "events", "1")
    assert lock(w, "c1", 1000) == 2
    assert lock(w, "c2", 0) == 0 and w.r.get(LK) == "c1"
    assert lock(w, "c1", 0) == 1 and not w.r.exists(LK)


def test_events_off_releases_and_says_so(w):
    assert lock(w, "c1", 1000) == -1 and not w.r.exists(LK)
    w.r.hset(DH, "events", "1")
    assert lock(w, "c1", 1000) == 2
    w.r.hset(DH, "events", "0")
    assert lock(w, "c1", 1000) == -1 and not w.r.exists(LK)
