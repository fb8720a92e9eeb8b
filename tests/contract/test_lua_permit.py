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


def _grant_all(w, key, limit=30):
    """Every permit a token can still get now (as its waiting syncs ask)."""
    total = 0
    while True:
        granted = permit(w, 100, limit=limit, key=key)[0]
        if granted == 0:
            return total
        total += granted


def test_cold_permits_are_never_granted_again_when_remaining_is_adopted(w):
    """Issue 21's overshoot: 30 permits go out cold (20 to a district
    token, 10 to a Library teacher); the first response, of the first
    request to arrive, says the app bucket of 50 has 49 left.  Adopting
    that Remaining must not hand out again the 29 still on their way:
    the whole window's grants stay within the app bucket's 50 and the
    district token's 30."""
    assert permit(w, 20, limit=30) == [20, 0, 1]
    assert permit(w, 20, limit=30, key=RL2)[0] == 10
    reset_s = w.now_ms() // 1000 + 60
    observe(w, bearer(30, 29, reset_s) + [("app", "a", 50, 49, reset_s)],
            key=RL2)
    later = _grant_all(w, RL) + _grant_all(w, RL2)
    assert 20 + 10 + later <= 50, "the app bucket: %d" % (30 + later)
    assert int(w.r.hget(RL, "bearer.used")) <= 30
    assert int(w.r.hget(APP, "app.used")) == 50


def test_a_late_response_of_the_tokens_own_window_keeps_its_cold_count(w):
    """The district token's bucket: 30 granted cold; its first response,
    counted by Clever before the rest arrived, says 29 left.  Nothing more
    is granted in that window."""
    assert permit(w, 30, limit=30)[0] == 30
    reset_s = w.now_ms() // 1000 + 60
    observe(w, bearer(30, 29, reset_s) + [("app", "a", 50, 49, reset_s)])
    assert _grant_all(w, RL) == 0
    assert w.r.hget(RL, "bearer.used") == "30"


def test_cold_permits_are_not_forgotten_while_their_answers_are_slow(w):
    """Answers slower than a poll: the cold budget is not granted again
    while the window of those permits lasts."""
    assert permit(w, 30, limit=30)[0] == 30
    w.r.hset(APP, "cold_since", w.now_ms() - 5000)	# 5 s, no answer yet
    assert permit(w, 30, limit=30, key=RL2)[0] == 0
    w.r.hset(APP, "cold_since", w.now_ms() - WINDOW - 2000)	# that window ended
    assert permit(w, 30, limit=30, key=RL2)[0] == 30
