"""unrenewed.lua: teachers whose refused token was not renewed in time
are forgotten."""
from lua_harness import JOBS, P, REAUTH, T, U, fail, running, state


def unrenewed(w, after_ms, *teachers):
    keys = [REAUTH, JOBS]
    for t in teachers:
        keys += [state(t), P + "token:" + t]
    return w.lua.unrenewed(keys, [after_ms, len(teachers)] + list(teachers))


def test_unrenewed_forgets_only_past_the_limit_and_not_a_renewed_token(w):
    now = w.now_ms()
    for t in (T, U):
        w.r.set(P + "token:" + t, "refused-" + t)
        eid = running(w) if t == T else None
        if eid:
            fail(w, eid, "c1:" + eid, code="reauthorize")
    w.r.zadd(REAUTH, {U: now - 100})
    w.r.hset(state(U), mapping={"reauth_owner": "teacher",
             "reauth_token": w.r.hget(state(T), "reauth_token")})
    w.r.set(P + "token:" + U, "a-brand-new-token")
    w.r.zadd(REAUTH, {T: now - 100})
    assert unrenewed(w, 60000, T, U) == [0, 0], "not yet"
    assert unrenewed(w, 50, T, U) == [1, 1]
    jobs = [f for _, f in w.r.xrange(JOBS) if f.get("trigger")]
    assert jobs == [{"teacher": T, "kind": "forget", "trigger": "unrenewed"}]
    assert w.r.zcard(REAUTH) == 0
    assert "reauth_token" not in w.r.hgetall(state(U))
