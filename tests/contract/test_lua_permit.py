"""permit.lua: request permits taken from every rate-limit bucket a
token's requests fall in."""
from lua_harness import (APP, DEMAND, P, RL, RL2, WINDOW, bearer, observe,
                         permit, warm)


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


def queued(w, key, n):
    """Another caller of the token waits for n permits."""
    w.r.hset(DEMAND, "d %s other" % key, "%d %d" % (n, w.now_ms() + 5000))


def test_cold_permits_stop_at_the_tightest_limit_until_headers_come(w):
    # rosterd's start: nothing known of the app's buckets; a token whose
    # syncs want more than a window of its own
    queued(w, RL, 20)
    assert permit(w, 20, limit=30) == [20, 0, 1]
    # another token: the cold budget (the tightest limit) is the app's
    granted, wait, cold = permit(w, 40, limit=30, key=RL2)
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
    queued(w, RL, 20)
    assert permit(w, 20, limit=30) == [20, 0, 1]
    assert permit(w, 40, limit=30, key=RL2)[0] == 10
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
    queued(w, RL, 10)
    assert permit(w, 30, limit=30)[0] == 30
    reset_s = w.now_ms() // 1000 + 60
    observe(w, bearer(30, 29, reset_s) + [("app", "a", 50, 49, reset_s)])
    assert _grant_all(w, RL) == 0
    assert w.r.hget(RL, "bearer.used") == "30"


def test_cold_permits_are_not_forgotten_while_their_answers_are_slow(w):
    """Answers slower than a poll: the cold budget is not granted again
    while the window of those permits lasts."""
    queued(w, RL, 10)
    assert permit(w, 30, limit=30)[0] == 30
    w.r.hset(APP, "cold_since", w.now_ms() - 5000)	# 5 s, no answer yet
    assert permit(w, 40, limit=30, key=RL2)[0] == 0
    w.r.hset(APP, "cold_since", w.now_ms() - WINDOW - 2000)	# that window ended
    assert permit(w, 40, limit=30, key=RL2)[0] == 30


DIST = P + "ratelimit:{rl}:district:d1"


def app_bucket(w, limit=50, remaining=50):
    """Headers seen: an app bucket of 50 with its window open."""
    reset_s = w.now_ms() // 1000 + 30
    observe(w, bearer(30, 30, reset_s) + [("app", "a", limit, remaining,
                                           reset_s)], key=DIST)


def test_the_critical_tokens_permits_are_kept_from_library_requests(w):
    """Issue 21: 20 syncs through a district token (3 requests each, 30 per
    window) and 8 Library syncs (4 each) share an app bucket of 50.  The
    district token needs 60 / 30 = 2 windows, a Library token 4 / 30: the
    district token is the critical path, and of the app bucket the 30 it
    can use in its window are kept for it; the Library requests share the
    other 20, whatever order the requests come in."""
    app_bucket(w)
    # 4 of the district token's syncs got theirs; 16 wait for their turn
    # (as when refused while cold, or before its window rolled over)
    for i in range(4):
        assert permit(w, 3, limit=30, key=DIST, caller="d%d" % i)[0] == 3
    for i in range(4, 20):
        w.r.hset(DEMAND, "d %s d%d" % (DIST, i), "3 %d" % (w.now_ms() + 5000))
    w.r.hset(DEMAND, "b " + DIST, "30 12 %s" % w.r.hget(DIST, "bearer.reset"))
    library = sum(permit(w, 4, limit=30, caller="l%d" % i,
                         key=P + "ratelimit:{rl}:teacher:L%d" % i)[0]
                  for i in range(8))
    assert library == 20, "the Library syncs share what is not kept"
    district = 12 + sum(permit(w, 3, limit=30, key=DIST, caller="d%d" % i)[0]
                        for i in range(4, 20))
    assert district == 30, "the district token has its whole window"
    assert int(w.r.hget(APP, "app.used")) == 50


def test_a_library_request_is_refused_what_the_critical_token_needs(w):
    """A Library request is refused an app permit the critical district
    token can still use in this window, and gets it once the district
    token has no demand."""
    app_bucket(w, remaining=31)		# 19 used by others: 31 left
    # the district token waits for 60 permits (its own window: 30 free)
    w.r.hset(DEMAND, mapping={
        "d %s j1" % DIST: "60 %d" % (w.now_ms() + 5000),
        "b %s" % DIST: "30 0 %d" % (w.now_ms() + WINDOW)})
    lib = P + "ratelimit:{rl}:teacher:L1"
    granted, wait, _ = permit(w, 4, limit=30, key=lib, caller="l1")
    assert granted == 1, "31 left, 30 kept for the critical token"
    assert 0 < wait <= 1000, "asks again soon, not at the window's end"
    granted, wait, _ = permit(w, 3, limit=30, key=lib, caller="l1")
    assert granted == 0
    # the district token takes its 30; nothing is kept for it any more
    assert permit(w, 30, limit=30, key=DIST, caller="j1")[0] == 30
    w.r.hdel(DEMAND, "d %s j1" % DIST)		# (its syncs ended)
    assert permit(w, 3, limit=30, key=lib, caller="l1")[0] == 0, \
        "the app bucket is full: 19 + 1 + 30"
    # a fresh window: no district demand, the Library request has it all
    w.r.hset(APP, "app.reset", w.now_ms() - 1)
    assert permit(w, 3, limit=30, key=lib, caller="l1")[0] == 3


def test_no_critical_token_no_reservation(w):
    """Demand gone (expired entries) or a token that cannot use permits
    now (its own window full): nothing is kept."""
    app_bucket(w)
    w.r.hset(DEMAND, mapping={
        "d %s j1" % DIST: "60 %d" % (w.now_ms() - 1),	# expired
        "b %s" % DIST: "30 0 %d" % (w.now_ms() + WINDOW)})
    lib = P + "ratelimit:{rl}:teacher:L1"
    assert permit(w, 30, limit=30, key=lib, caller="l1")[0] == 30
    assert not w.r.hexists(DEMAND, "d %s j1" % DIST), "expired: dropped"
    assert not w.r.hexists(DEMAND, "b %s" % DIST)
    w.r.hset(DEMAND, mapping={
        "d %s j1" % DIST: "60 %d" % (w.now_ms() + 5000),
        "b %s" % DIST: "30 30 %d" % (w.now_ms() + WINDOW)})	# full
    lib2 = P + "ratelimit:{rl}:teacher:L2"
    assert permit(w, 20, limit=30, key=lib2, caller="l2")[0] == 20


def test_the_reservation_leaves_a_quarter_of_the_app_bucket_shared(w):
    """A critical token whose own limit is as large as the app bucket's
    is kept at most three quarters of it, less what it took."""
    app_bucket(w)
    w.r.hset(DEMAND, mapping={
        "d %s j1" % DIST: "5000 %d" % (w.now_ms() + 5000),
        "b %s" % DIST: "1200 10 %d" % (w.now_ms() + WINDOW)})
    lib = P + "ratelimit:{rl}:teacher:L1"
    assert permit(w, 30, limit=30, key=lib, caller="l1")[0] == 50 - 27


def test_a_callers_demand_is_counted_once_and_dropped_when_granted(w):
    warm(w)
    permit(w, 12, caller="a")			# 10 granted, 2 wait
    assert w.r.hget(DEMAND, "d %s a" % RL).split()[0] == "2"
    permit(w, 2, caller="a")			# asks again: still 2, not 4
    assert w.r.hget(DEMAND, "d %s a" % RL).split()[0] == "2"
    w.r.hset(RL, "bearer.reset", w.now_ms() - 1)
    assert permit(w, 2, caller="a")[0] == 2
    assert w.r.hlen(DEMAND) == 0


def test_cold_a_token_whose_demand_fits_a_window_has_a_quarter(w):
    """Until the first answer nobody knows the critical path, and a district
    token's syncs ask a lookup later than a Library teacher's: tokens whose
    demand fits in a window of their own share a quarter of the cold
    budget; a token that needs more windows has the rest."""
    lib = sum(permit(w, 4, limit=30, caller="l%d" % i,
                     key=P + "ratelimit:{rl}:teacher:L%d" % i)[0]
              for i in range(8))
    assert lib == 7
    queued(w, DIST, 30)
    assert permit(w, 30, limit=30, key=DIST)[0] == 30 - 7
