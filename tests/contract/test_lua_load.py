"""load.lua: what a sync needs before it asks Clever."""
from lua_harness import P, T, snapshot, state


def load(w, t, kind="sync"):
    return w.lua.load([P + "token:" + t, state(t), snapshot(t),
                       P + "selection:{%s}" % t], [kind])


def test_load_returns_what_a_sync_needs(w):
    w.r.set(P + "token:" + T, "tok")
    w.r.hset(state(T), mapping={"district": "d1", "unrecognised": "{}"})
    w.r.hset(snapshot(T), mapping={"version": 4, "roster": '{"v":4}'})
    w.r.set(P + "selection:{%s}" % T, "none")
    assert load(w, T) == ["tok", "d1", "4", '{"v":4}', "none", None, "{}"]


def test_load_answers_false_where_absent_and_version_0(w):
    assert load(w, T) == [None, None, "0", None, None, None, None]


def test_load_leaves_the_roster_out_where_it_is_not_needed_yet(w):
    w.r.hset(snapshot(T), mapping={"version": 4, "roster": '{"v":4}'})
    assert load(w, T, "discover")[2:4] == ["4", None]
    # an ETag record: the sync most likely ends without diffing
    w.r.hset(state(T), "etags", "E1 ...")
    assert load(w, T)[2:4] == ["4", None]
    assert load(w, T)[5] == "E1 ..."
