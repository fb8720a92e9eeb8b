"""load.lua: what a sync needs before it asks Clever."""
from lua_harness import P, T, snapshot, state

H = "a" * 32	# a content hash


def load(w, t, kind="sync"):
    return w.lua.load([P + "token:" + t, state(t), snapshot(t),
                       P + "selection:{%s}" % t], [kind])


def test_load_returns_what_a_sync_needs(w):
    w.r.set(P + "token:" + T, "tok")
    w.r.hset(state(T), mapping={"district": "d1", "unrecognised": "{}"})
    w.r.hset(snapshot(T), mapping={"version": 4, "roster": '{"v":4}',
                                   "hash": H})
    w.r.set(P + "selection:{%s}" % T, "none")
    assert load(w, T) == ["tok", "d1", "4", '{"v":4}', "none", None, "{}", H]


def test_load_answers_false_where_absent_and_version_0(w):
    """Never synced: version 0, the empty roster's hash ""."""
    assert load(w, T) == [None, None, "0", None, None, None, None, ""]


def test_load_leaves_the_roster_out_where_it_is_not_needed_yet(w):
    w.r.hset(snapshot(T), mapping={"version": 4, "roster": '{"v":4}',
                                   "hash": H})
    assert load(w, T, "discover")[2:4] == ["4", None]
    # an ETag record: the sync most likely ends without diffing
    w.r.hset(state(T), "etags", "E1 ...")
    assert load(w, T)[2:4] == ["4", None]
    assert load(w, T)[5] == "E1 ..."


def test_a_snapshot_without_its_hash_is_loaded_to_be_hashed(w):
    """Written before contract 2: no hash (false), and the roster comes
    even with an ETag record, for the sync to hash and rewrite it."""
    w.r.hset(snapshot(T), mapping={"version": 4, "roster": '{"v":4}'})
    w.r.hset(state(T), "etags", "E1 ...")
    r = load(w, T)
    assert r[2:4] == ["4", '{"v":4}'] and r[7] is None


def test_after_a_forget_the_version_comes_from_the_state(w):
    """Versions never restart: forget.lua left the version in the state."""
    w.r.hset(state(T), mapping={"version": 7, "forgotten_ms": 1})
    r = load(w, T)
    assert r[2:4] == ["7", None] and r[7] == ""
    # a snapshot written since has the version
    w.r.hset(snapshot(T), mapping={"version": 8, "roster": "v8", "hash": H})
    assert load(w, T)[2] == "8"
