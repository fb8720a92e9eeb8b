"""touch.lua: our entries kept fresh, and those not ours named."""
from lua_harness import GROUP, JOBS, T, U, taken_over


def test_touch_keeps_our_entries_fresh_and_names_those_not_ours(w):
    mine, theirs, done = w.take(T), w.take(T), w.take(U)
    taken_over(w, theirs)
    w.r.xack(JOBS, GROUP, done)
    w.r.execute_command("XCLAIM", JOBS, GROUP, "c1", 0, mine, "IDLE", 60000,
                        "JUSTID")
    idle = {p["message_id"]: p for p in
            w.r.xpending_range(JOBS, GROUP, "-", "+", 10)}
    assert idle[mine]["time_since_delivered"] >= 60000
    lost = w.lua.touch([JOBS], [GROUP, "c1", mine, theirs, done])
    assert sorted(lost) == sorted([theirs, done])
    p = {p["message_id"]: p for p in
         w.r.xpending_range(JOBS, GROUP, "-", "+", 10)}
    assert p[mine]["consumer"] == "c1" and p[mine]["time_since_delivered"] < 60000
    assert p[theirs]["consumer"] == "c2", "never claimed back"
    assert done not in p
