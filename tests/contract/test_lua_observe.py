"""observe.lua: what Clever's rate-limit headers said, adopted."""
from lua_harness import APP, RL, RL2, WINDOW, bearer, observe, permit, warm


def test_a_window_clever_spoke_of_needs_no_more_observing(w):
    warm(w)
    assert permit(w, 2)[2] == 1
    reset_s = w.now_ms() // 1000 + 30
    observe(w, bearer(10, 8, reset_s))
    assert permit(w, 2) == [2, 0, 0]
    # our next window is ours again until Clever confirms it
    w.r.hset(RL, "bearer.reset", w.now_ms() - 1)
    assert permit(w, 2)[2] == 1


def test_observe_adopts_clevers_limit_count_and_reset(w):
    reset_s = w.now_ms() // 1000 + 30
    assert observe(w, bearer(50, 20, reset_s)) == 0
    h = w.r.hgetall(RL)
    assert h["bearer.limit"] == "50" and h["bearer.used"] == "30"
    # Clever's reset has one-second resolution: the end of that second
    assert h["bearer.reset"] == str((reset_s + 1) * 1000)
    granted, _, _ = permit(w, 100, limit=1200)
    assert granted == 20, "permits follow Clever's count, not the default"


def test_observe_keeps_the_larger_count_of_responses_out_of_order(w):
    reset_s = w.now_ms() // 1000 + 30
    observe(w, bearer(50, 10, reset_s))
    observe(w, bearer(50, 30, reset_s))	# an older response, arriving late
    assert w.r.hget(RL, "bearer.used") == "40"


def test_observe_restarts_from_clevers_count_when_its_window_rolled_over(w):
    now_s = w.now_ms() // 1000
    observe(w, bearer(50, 0, now_s + 2))
    observe(w, bearer(50, 45, now_s + 62))	# Clever's next window
    h = w.r.hgetall(RL)
    assert h["bearer.used"] == "5"
    assert h["bearer.reset"] == str((now_s + 63) * 1000)


def test_observe_blocks_the_window_after_a_429_until_the_reset(w):
    warm(w)
    permit(w, 1)
    observe(w, [], was_429=1)
    assert w.r.hget(RL, "bearer.blocked") is not None
    granted, wait, _ = permit(w, 1)
    assert granted == 0 and 50000 < wait <= WINDOW


def test_a_429_of_the_app_bucket_blocks_that_bucket_only(w):
    reset_s = w.now_ms() // 1000 + 20
    observe(w, bearer(30, 10, reset_s) + [("app", "a", 50, 0, reset_s)],
            was_429=1)
    assert w.r.hget(APP, "app.blocked") is not None
    assert w.r.hget(RL, "bearer.blocked") is None
    granted, wait, _ = permit(w, 1, key=RL2)
    assert granted == 0 and 18000 < wait <= 22000


def test_observe_blocks_the_window_when_nothing_remains(w):
    reset_s = w.now_ms() // 1000 + 20
    observe(w, bearer(50, 0, reset_s))
    assert permit(w, 1)[0] == 0


def test_a_response_without_headers_changes_nothing_but_cold(w):
    permit(w, 2)
    before = w.r.hgetall(RL)
    observe(w, [])
    after = w.r.hgetall(RL)
    assert after["bearer.used"] == before["bearer.used"]
    assert "bearer.blocked" not in after
    assert int(w.r.hget(APP, "known_until")) > w.now_ms()
