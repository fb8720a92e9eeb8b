"""How rosterd talks to Clever (the sandbox): identity first, conditional
requests, what the app and ops see.  Real redis-server, the sandbox and the
real rosterd binary."""
import urllib.error
import urllib.request

from conftest import teacher_with_sections


def status_of(sbx, path, token):
    req = urllib.request.Request(sbx.api + "/v3.0" + path,
                                 headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


# ---------- identity first ----------

def test_wrong_teachers_token_fails_token_mismatch(env):
    """B's Library token stored under A: Clever answers 404 to every data
    request, and /me names B; the job must say token_mismatch, whichever
    answer comes first (ten teachers, ten chances for either order)."""
    sbx = env.start_sandbox("--teachers", 12)
    env.start_rosterd()
    ts = [t for t in sbx.teachers() if t["sections"]]
    pairs = [(a, b) for a, b in zip(ts, ts[1:] + ts[:1])
             if not set(a["sections"]) & set(b["sections"])]
    assert len(pairs) >= 5
    ps = env.subscribe()
    jobs = {}
    for a, b in pairs:
        # the scenario is real: B's token cannot read A's data
        assert status_of(sbx, "/users/" + a["id"], b["token"]) == 404
        assert status_of(sbx, "/users/%s/sections" % a["id"], b["token"]) == 404
        env.store_token(a["id"], b["token"])
        jobs[env.enqueue(a["id"])] = a
    res = env.wait_jobs(ps, list(jobs))
    for j, st in res.items():
        assert st["state"] == "failed", st
        assert st["error"] == "token_mismatch", st
        assert "another Clever user" in st["message"]


def test_held_failure_is_reported_once_me_clears_the_token(env):
    """A district token asked for a teacher of another district: /me says
    the token is a district's (no mismatch), so the 404 decides."""
    sbx = env.start_sandbox("--teachers", 4, "--districts", 2)
    env.start_rosterd()
    ds = sbx.get("/districts")
    t = [t for t in sbx.teachers() if t["district"] == ds[0]["id"]][0]
    other = ds[1]
    env.store_district_token(other["id"], other["token"])
    _, st = env.run(t["id"], district=other["id"])
    assert st["state"] == "failed" and st["error"] == "not_shared", st


def test_own_token_still_syncs(env):
    sbx = env.start_sandbox("--teachers", 3)
    env.start_rosterd()
    t = teacher_with_sections(sbx)
    env.store_token(t["id"], t["token"])
    _, st = env.run(t["id"])
    assert st["state"] == "done" and st["result"] == "changed", st
    assert st["requests"] == "4"
