"""renew.lua: the teacher lock renewed while ours."""
from lua_harness import LOCK_TTL, T, lock


def test_renew_extends_our_lock_only(w):
    w.r.set(lock(T), "c1:j", px=1000)
    assert w.lua.renew([lock(T)], ["c1:j", LOCK_TTL]) == 1
    assert w.r.pttl(lock(T)) > 1000
    w.r.set(lock(T), "c2:k", px=1000)
    assert w.lua.renew([lock(T)], ["c1:j", LOCK_TTL]) == 0
    assert w.r.pttl(lock(T)) <= 1000 and w.r.get(lock(T)) == "c2:k"
