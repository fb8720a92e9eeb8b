"""/me once per district token (issue 21): a district token's /me answer
is the same district for every teacher, so rosterd keeps it, with its
ETag, in Redis (rosterd:me:district:D) and every sync through that token
takes it instead of asking again, until [clever] me_revalidate_s passes
(then one conditional /me) or Clever refuses the token.  Counts come from
the sandbox's stats, never from timings."""
from conftest import store_district_of

N = 20


def district_teachers(env, n=N, *args):
    sbx = env.start_sandbox("--teachers", n + 4, "--districts", 1, *args)
    ts = [t for t in sbx.teachers() if t["sections"]][:n]
    assert len(ts) == n
    dist = store_district_of(env, sbx, ts[0])
    return sbx, ts, dist


def sync_all(env, ts, dist):
    ps = env.subscribe()
    jobs = [env.enqueue(t["id"], district=dist) for t in ts]
    res = env.wait_jobs(ps, jobs, timeout=60)
    assert all(s["state"] == "done" for s in res.values()), res
    return res


def district_requests(sbx, dist):
    return sbx.get("/stats")["tokens"]["district:" + dist]["requests"]


def test_twenty_teachers_through_one_district_token_ask_me_once(env):
    sbx, ts, dist = district_teachers(env)
    env.start_rosterd(sync__concurrency=32)
    res = sync_all(env, ts, dist)
    st = sbx.get("/stats")
    # 3 requests per teacher (teacher, sections, mystudents) and one /me,
    # where it was 4 per teacher (80)
    assert st["paths"]["/me"] == 1, st["paths"]
    assert district_requests(sbx, dist) == 3 * N + 1
    kept = env.r.hgetall("rosterd:me:district:" + dist)
    assert set(kept) == {"body", "etag", "checked"}
    assert '"district"' in kept["body"] and kept["etag"].startswith('W/"')
    token = [d["token"] for d in sbx.get("/districts") if d["id"] == dist][0]
    assert token not in "".join(kept.values())
    assert env.r.ttl("rosterd:me:district:" + dist) > 0
    # each job says what a /me of its own would have said
    assert all(s["authorized_by"] == "district" for s in res.values()), res


def test_an_unchanged_resync_takes_me_from_the_kept_answer(env):
    sbx, ts, dist = district_teachers(env, 3)
    env.start_rosterd()
    sync_all(env, ts, dist)
    before = sbx.get("/stats")
    res = sync_all(env, ts, dist)
    after = sbx.get("/stats")
    assert all(s["result"] == "no changes" for s in res.values()), res
    assert after["paths"]["/me"] == before["paths"]["/me"] == 1
    # the other three, conditional: all 304
    assert after["not_modified"] - before["not_modified"] == 3 * 3


def test_me_is_asked_again_conditionally_once_the_interval_passed(env):
    sbx, ts, dist = district_teachers(env, 2)
    env.start_rosterd(clever__me_revalidate_s=1)
    sync_all(env, ts[:1], dist)
    key = "rosterd:me:district:" + dist
    # as if checked long ago: the next sync revalidates it
    env.r.hset(key, "checked", 1)
    before = sbx.get("/stats")
    sync_all(env, ts[1:], dist)
    after = sbx.get("/stats")
    assert after["paths"]["/me"] - before["paths"]["/me"] == 1
    assert after["not_modified"] - before["not_modified"] >= 1, \
        "the /me revalidation is a 304"
    assert int(env.r.hget(key, "checked")) > 1


def test_a_401_drops_the_kept_answer(env):
    sbx, ts, dist = district_teachers(env, 2)
    env.start_rosterd()
    sync_all(env, ts[:1], dist)
    key = "rosterd:me:district:" + dist
    assert env.r.exists(key)
    env.store_district_token(dist, "not-a-token")
    _, st = env.run(ts[1]["id"], district=dist)
    assert st["state"] == "failed" and st["error"] == "reauthorize", st
    assert not env.r.exists(key)


def test_no_kept_answer_when_the_interval_is_zero(env):
    sbx, ts, dist = district_teachers(env, 3)
    env.start_rosterd(clever__me_revalidate_s=0)
    sync_all(env, ts, dist)
    assert sbx.get("/stats")["paths"]["/me"] == 3
    assert not env.r.exists("rosterd:me:district:" + dist)
