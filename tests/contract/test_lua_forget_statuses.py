"""forget_statuses.lua: a forgotten teacher's job statuses deleted."""
from lua_harness import T, U, status


def test_forget_statuses_deletes_only_the_teachers(w):
    w.r.hset(status("1-1"), "teacher", T)
    w.r.hset(status("1-2"), "teacher", U)
    assert w.lua.forget_statuses([status("1-1"), status("1-2")], [T]) == 1
    assert not w.r.exists(status("1-1")) and w.r.exists(status("1-2"))
