"""permit.lua: request permits taken from every rate-limit bucket a
token's requests fall in."""
from lua_harness import APP, RL, RL2, WINDOW, bearer, observe, permit, warm


def test_permit_opens_a_window_with_the_first_request(w):
    warm(w)
    before = w.now_ms()
    # a window of ours, not yet confirmed by Clever: observe the responses
    assert permit(w, 3) == [3, 0, 1]
    h = w.r.hgetall(RL)
    assert h["bearer.used"] == "3" and h["bearer.limit"] == "10"
    assert before + WINDOW <= int(h["bearer.reset"]) <= w.now_ms() + WINDOW


def test_permit_grants_fewer_than_asked_when_the_window_runs_out(w):
    warm(w)
    assert permit(w, 8) == [8, 0, 1]
    granted, wait, _ = permit(w, 5)
    assert granted == 2
    assert 0 < wait <= WINDOW
    granted, wait, _ = permit(w, 1)
    assert granted == 0 and 0 < wait <= WINDOW
    assert w.r.hget(RL, "bearer.used") == "10"


def test_permit_starts_a_new_window_after_the_reset(w):
    warm(w)
    w.r.hset(RL, mapping={"bearer.reset": w.now_ms() - 1, "bearer.used": 10,
                          "bearer.limit": 10})
    assert permit(w, 4) == [4, 0, 1]
    assert w.r.hget(RL, "bearer.used") == "4"


def test_cold_permits_stop_at_the_tightest_limit_until_headers_come(w):
    # rosterd's start: nothing known of the app's buckets
    assert permit(w, 20, limit=30) == [20, 0, 1]
    # another token: the cold budget (the tightest limit) is the app's
    granted, wait, cold = permit(w, 20, limit=30, key=RL2)
    assert (granted, cold) == (10, 1)
    assert 0 < wait < 1000, "a short wait: headers are on their way"
    assert permit(w, 1, limit=30, key=RL2)[0] == 0
    # the first response: an app bucket of 50, 20 left; known now
    reset_s = w.now_ms() // 1000 + 30
    observe(w, bearer(30, 10, reset_s) + [("app", "a", 50, 20, reset_s)])
    granted, wait, cold = permit(w, 30, limit=30, key=RL2)
    assert granted == 20, "the app bucket's 20 left bind"
    assert 20000 < wait <= WINDOW


def test_every_request_draws_from_every_bucket(w):
    reset_s = w.now_ms() // 1000 + 30
    observe(w, bearer(10, 10, reset_s) + [("app", "a", 12, 12, reset_s)])
    assert permit(w, 8) == [8, 0, 0]
    # another token's own bucket is fresh, the shared one has 4 left
    assert permit(w, 8, key=RL2)[0] == 4
    assert w.r.hget(APP, "app.used") == "12"
    assert w.r.hget(APP, "names") == "app"
    assert w.r.hget(RL, "names") == "bearer"


def test_scheduled_requests_use_only_their_share_of_a_window(w):
    warm(w)
    assert permit(w, 10, share=50)[0] == 5
    assert permit(w, 10, share=50)[0] == 0
    assert permit(w, 10)[0] == 5, "the app's requests have the rest"
