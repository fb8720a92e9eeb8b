"""discovered.lua: a discovery's section list, for the app's picker."""
import json

from lua_harness import (EVENTS, GROUP, JOBS, P, STATUS_TTL, T, lock, running,
                         state, status)


def discovered(w, eid, lockval=None):
    keys = [P + "sections:{%s}" % T, status(eid), JOBS, lock(T), state(T)]
    args = [GROUP, eid, lockval or "c1:" + eid, '[{"id":"s1","subject":"homeroom/advisory"}]', eid, T,
            EVENTS, STATUS_TTL, 2000, 1, 3, "teacher", "r"]
    return w.lua.discovered(keys, args)


def test_discovered_stores_the_section_list_for_the_picker(w, events):
    w.r.hset(state(T), mapping={"done_started_ms": 5, "any_started_ms": 5})
    eid = running(w)
    events.all()
    assert discovered(w, eid) == ["OK"]
    raw = w.r.get(P + "sections:{%s}" % T)
    assert "\\/" not in raw, "no '/' escaped, like the snapshot"
    got = json.loads(raw)
    assert got == {"fetched_ms": got["fetched_ms"], "job": eid, "sections": [
        {"id": "s1", "subject": "homeroom/advisory"}]}
    assert got["fetched_ms"] >= w.now_ms() - 60000
    tst = w.r.hgetall(state(T))
    assert tst["any_started_ms"] == "2000" and tst["any_job"] == eid
    assert (tst["sections_started_ms"], tst["sections_job"],
            tst["sections"]) == ("2000", eid, "1")
    assert tst["done_started_ms"] == "5", "a discovery satisfies no full sync"
    st = w.r.hgetall(status(eid))
    assert st["result"] == "discovered" and st["sections"] == "1"
    assert w.pending() == [] and not w.r.exists(lock(T))
    [ev] = events.all()
    assert ev["result"] == "discovered" and ev["sections"] == 1


def test_discovered_refuses_once_the_lock_is_lost(w):
    eid = running(w)
    assert discovered(w, eid, lockval="c1:someone-else") == ["LOST"]
    assert not w.r.exists(P + "sections:{%s}" % T)
    assert w.pending() == [eid]
