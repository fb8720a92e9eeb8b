"""How rosterd talks to Clever (the sandbox): identity first, conditional
requests, what the app and ops see.  Real redis-server, the sandbox and the
real rosterd binary."""
import json
import urllib.error
import urllib.request


from conftest import etags_once, store_district_of, teacher_with_sections, SLOW


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
    sbx, d, t = teacher_env(env, "--teachers", 3)
    _, st = env.run(t["id"])
    assert st["state"] == "done" and st["result"] == "changed", st
    assert st["requests"] == "4"


# ---------- conditional requests ----------

def teacher_env(env, *sandbox_args, min_sections=2):
    """The sandbox, rosterd, and a teacher with sections whose token is
    stored."""
    sbx = env.start_sandbox(*sandbox_args)
    d = env.start_rosterd()
    t = teacher_with_sections(sbx, min_sections)
    env.store_token(t["id"], t["token"])
    return sbx, d, t


def run_logged(env, d, teacher, **job):
    """env.run, then wait for the job's last log line (it follows the
    status)."""
    jid, st = env.run(teacher, **job)
    d.proc.wait_line(r"event=(synced|failed|dead|held) job=%s " % jid)
    return jid, st


def since(d, mark):
    with d.proc.cond:
        return d.proc.lines[mark:]


def state(env, t):
    return env.r.hgetall("rosterd:state:{%s}" % t["id"])


def stats(sbx):
    return sbx.get("/stats")


def resync_equals_fresh(env, t, **job):
    """The stored snapshot is what a sync without ETags makes of Clever now."""
    etags_once(env, t, lambda r: r is not None)
    env.r.hdel("rosterd:state:{%s}" % t["id"], "etags")
    _, st = env.run(t["id"], **job)
    assert st["state"] == "done" and st["result"] == "no changes", st


def test_unchanged_resync_is_not_modified(env):
    sbx, d, t = teacher_env(env, "--teachers", 5)
    _, st = env.run(t["id"])
    assert st["result"] == "changed" and st["requests"] == "4", st
    rec = etags_once(env, t, lambda r: r is not None)
    assert rec.startswith("E1 ") and rec.count('W/"') == 4
    s0 = stats(sbx)
    mark = d.proc.mark()
    _, st = run_logged(env, d, t["id"])
    assert st["state"] == "done" and st["result"] == "no changes", st
    assert st["requests"] == "4" and st["version"] == "1", st
    assert st["authorized_by"] == "teacher", st
    s1 = stats(sbx)
    assert s1["not_modified"] - s0["not_modified"] == 4
    assert s1["body_bytes"] == s0["body_bytes"]       # not a byte of body
    assert any("no changes (not modified)" in l for l in since(d, mark))
    assert state(env, t)["etags"] == rec
    assert len(env.diffs(t["id"])) == 1


def test_a_change_after_etags_is_a_full_sync(env):
    sbx, d, t = teacher_env(env, "--teachers", 6, "--seed", 3, min_sections=2)
    env.run(t["id"])
    rec = etags_once(env, t, lambda r: r is not None)
    sbx.mutate(op="rename_user", user=t["id"], first="Zebedee")
    _, st = env.run(t["id"])
    assert st["result"] == "changed" and st["teacher_updated"] == "1", st
    # the changed answer was kept, the unchanged ones taken from the
    # snapshot where the record says it holds them exactly (EXACT: 1 /me,
    # 4 sections, 8 mystudents), else asked again (test_rate_parts.py)
    exact = int(rec.split("\n")[1].split("\t")[3])
    again = sum(1 for b in (1, 4, 8) if not exact & b)
    assert again < 3 and st["requests"] == str(4 + again), st
    assert st["updated"] == "1", st
    etags_once(env, t, lambda r: r is not None and r != rec)
    resync_equals_fresh(env, t)


def test_selection_list_starts_over_when_something_changed(env):
    """Per-section requests depend on the section list: a change there
    makes the sync start over rather than stitch."""
    sbx, d, t = teacher_env(env, "--teachers", 6, "--seed", 11, min_sections=3)
    pick = t["sections"][:2]
    env.r.set("rosterd:selection:{%s}" % t["id"], ",".join(pick))
    _, st = env.run(t["id"])
    n = int(st["requests"])
    assert n == 5, st     # me, teacher, sections, 2 x section students
    s0 = stats(sbx)
    _, st = env.run(t["id"])
    assert st["result"] == "no changes" and st["requests"] == "5", st
    assert stats(sbx)["not_modified"] - s0["not_modified"] == 5
    sbx.mutate(op="add_student", section=pick[1])
    _, st = env.run(t["id"])
    assert st["result"] == "changed" and st["requests"] == "10", st
    diff = env.diffs(t["id"])[-1]["diff"]
    assert [e["section"] for e in diff["enrollments"]["added"]] == [pick[1]]
    resync_equals_fresh(env, t)


def test_district_pages_are_conditional_too(env):
    sbx = env.start_sandbox("--teachers", 6, "--seed", 5)
    env.start_rosterd(clever__page_size=2)
    t = teacher_with_sections(sbx, 3)
    dist = store_district_of(env, sbx, t)
    _, st = env.run(t["id"], district=dist)
    n = int(st["requests"])
    s0 = stats(sbx)
    _, st = env.run(t["id"], district=dist)
    # the district's /me answer is kept ([clever] me_revalidate_s): not asked
    assert st["result"] == "no changes" and int(st["requests"]) == n - 1, st
    assert stats(sbx)["not_modified"] - s0["not_modified"] == n - 1
    sbx.mutate(op="add_student", section=t["sections"][0])
    _, st = env.run(t["id"], district=dist)
    assert st["result"] == "changed", st
    diff = env.diffs(t["id"])[-1]["diff"]
    assert len(diff["enrollments"]["added"]) == 1
    resync_equals_fresh(env, t, district=dist)


def test_what_rosterd_changed_forces_a_full_sync(env):
    """Same answers, but a new selection or fields: never "no changes"
    on the strength of the ETags."""
    sbx, d, t = teacher_env(env, "--teachers", 6, "--seed", 11, min_sections=3)
    env.run(t["id"])
    env.r.set("rosterd:selection:{%s}" % t["id"], t["sections"][0])
    s0 = stats(sbx)
    _, st = env.run(t["id"], force=1)
    assert st["result"] == "changed", st
    assert stats(sbx)["not_modified"] == s0["not_modified"]
    # another fields setting: the same answers make another roster
    env.r.delete("rosterd:selection:{%s}" % t["id"])
    env.run(t["id"])
    env.daemons[0].stop()
    env.start_rosterd(sync__fields="district")
    s0 = stats(sbx)
    _, st = env.run(t["id"])
    assert stats(sbx)["not_modified"] == s0["not_modified"]
    assert st["state"] == "done", st


def test_without_etags_behaviour_is_unchanged(env):
    sbx, d, t = teacher_env(env, "--teachers", 5, "--etag", "off")
    env.run(t["id"])
    assert "etags" not in state(env, t)
    s0 = stats(sbx)
    _, st = env.run(t["id"])
    assert st["result"] == "no changes" and st["requests"] == "4", st
    s1 = stats(sbx)
    assert s1["not_modified"] == 0
    assert s1["body_bytes"] > s0["body_bytes"]
    # ETags that stop coming: the record is dropped, not trusted
    sbx.post("/faults", {"etag": "on"})
    env.run(t["id"])
    etags_once(env, t, lambda r: r is not None)
    sbx.post("/faults", {"etag": "off"})
    sbx.mutate(op="rename_user", user=t["id"], first="Zebedee")
    _, st = env.run(t["id"])
    assert st["result"] == "changed", st
    etags_once(env, t, lambda r: r is None)


def test_server_ignoring_if_none_match(env):
    """A 200 carrying the remembered tag is unchanged too: body not parsed."""
    sbx, d, t = teacher_env(env, "--teachers", 5, "--etag", "ignore")
    run_logged(env, d, t["id"])
    mark = d.proc.mark()
    _, st = run_logged(env, d, t["id"])
    assert st["result"] == "no changes" and st["requests"] == "4", st
    assert stats(sbx)["not_modified"] == 0
    assert any("no changes (not modified)" in l for l in since(d, mark))


# ---------- what the app sees ----------

def post_raw(sbx, path, body):
    req = urllib.request.Request(sbx.control + path, data=body,
                                 headers={"Content-Type": "application/json"},
                                 method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


def test_names_are_valid_utf8(env):
    """Ill-formed bytes in Clever names reach snapshots and diffs as U+FFFD."""
    sbx, d, t = teacher_env(env, "--teachers", 5)
    # raw bytes, as a broken SIS might send them: never valid UTF-8
    first = b"A\xfe\xffB\xc0\xaf\xed\xa0\x80\x80Z"
    post_raw(sbx, "/mutate", b'{"op":"rename_user","user":"' +
             t["id"].encode() + b'","first":"' + first +
             b'","last":"O\xe6\x9d"}')
    sec = t["sections"][0]
    post_raw(sbx, "/mutate", b'{"op":"set_subject","section":"' +
             sec.encode() + b'","subject":"Math"}')
    _, st = env.run(t["id"])
    assert st["state"] == "done", st
    rb = env.redis.new_client(decode_responses=False)
    snap = rb.hget("rosterd:snapshot:{%s}" % t["id"], "roster")
    snap.decode("utf-8", errors="strict")       # would raise if invalid
    diff = rb.xrange("rosterd:diffs")[-1][1][b"diff"]
    doc = json.loads(diff.decode("utf-8", errors="strict"))
    text = json.dumps(doc, ensure_ascii=False)
    want = "A\ufffd\ufffdB\ufffd\ufffd\ufffd\ufffd\ufffd\ufffdZ"
    assert want in text, text[:400]
    assert "O\ufffd" in text


def test_selection_none_is_applied_clever_losing_all_is_held(env):
    sbx, d, t = teacher_env(env, "--teachers", 6, "--seed", 11, min_sections=2)
    env.run(t["id"])
    # the teacher chooses no section: applied, no hold, no force
    env.r.set("rosterd:selection:{%s}" % t["id"], "none")
    _, st = env.run(t["id"])
    assert st["state"] == "done" and st["result"] == "changed", st
    assert st["sections_removed"] == str(len(t["sections"])), st
    # back to all; then Clever loses every section: the guard holds that
    env.r.delete("rosterd:selection:{%s}" % t["id"])
    env.run(t["id"])
    for sec in t["sections"]:
        sbx.mutate(op="delete_section", section=sec)
    _, st = env.run(t["id"])
    assert st["state"] == "held" and st["error"] == "shrink_guard", st


def log_lines(d, mark, needle):
    return [l for l in since(d, mark) if needle in l]


def test_unrecognised_values_counted_and_logged_once(env):
    sbx, d, t = teacher_env(env, "--teachers", 6, "--seed", 3, min_sections=2)
    _, st = run_logged(env, d, t["id"])
    base = json.loads(st.get("unrecognised_values", "{}"))
    s1, s2 = t["sections"][:2]
    sbx.mutate(op="set_subject", section=s1, subject="Misc")
    sbx.mutate(op="set_subject", section=s2, subject="Misc")
    sbx.mutate(op="set_grade", section=s2, grade="Sophomore")
    want = {"grade": sorted(set(base.get("grade", [])) | {"Sophomore"}),
            "subject": sorted(set(base.get("subject", [])) | {"Misc"})}
    n = len(want["grade"]) + len(want["subject"])
    mark = d.proc.mark()
    jid, st = run_logged(env, d, t["id"])
    assert st["unrecognised"] == str(n), st
    assert json.loads(st["unrecognised_values"]) == want
    lines = log_lines(d, mark, "unrecognised")
    assert len(lines) == 1, "\n".join(lines)
    assert "event=unrecognised" in lines[0]
    assert "job=%s" % jid in lines[0] and "teacher=%s" % t["id"] in lines[0]
    assert '\\"Misc\\"' in lines[0] and "Sophomore" in lines[0]
    # unchanged resyncs, conditional or full: counted, not logged again
    mark = d.proc.mark()
    _, st = run_logged(env, d, t["id"])
    assert st["result"] == "no changes", st
    assert st["unrecognised"] == str(n), st
    assert json.loads(st["unrecognised_values"]) == want
    env.r.hdel("rosterd:state:{%s}" % t["id"], "etags")
    jid, st = run_logged(env, d, t["id"])
    (synced,) = log_lines(d, mark, "event=synced job=%s " % jid)
    assert "(not modified)" not in synced
    assert st["unrecognised"] == str(n), st
    assert log_lines(d, mark, "unrecognised") == []
    # a sync that changes them logs them once
    sbx.mutate(op="set_subject", section=s1, subject="Lunch")
    jid, st = run_logged(env, d, t["id"])
    assert st["unrecognised"] == str(n + 1), st
    lines = log_lines(d, mark, "unrecognised")
    assert len(lines) == 1 and "Lunch" in lines[0], lines
    # every line of a job's work names the job and the teacher
    for l in d.proc.text().splitlines():
        if t["id"] in l:
            assert "job=" in l, l


# ---------- rate-limit buckets ----------

def bucket_mix(env, window_s):
    """The issue's mix: an app-wide bucket of 50 beside 30 per token; 20
    syncs through one district token and 8 Library syncs, all at once."""
    sbx = env.start_sandbox("--teachers", 40, "--seed", 4, "--rate-limit", 30,
                            "--two-buckets", "--app-rate-limit", 50,
                            "--rate-window-s", window_s)
    ts = [t for t in sbx.teachers() if t["sections"]]
    assert len(ts) >= 28
    dist = store_district_of(env, sbx, ts[0])
    district_ts = [t for t in ts if t["district"] == dist][:20]
    library_ts = [t for t in ts if t not in district_ts][:8]
    for t in library_ts:
        env.store_token(t["id"], t["token"])
    env.start_rosterd(clever__rate_limit=30, clever__rate_window_s=window_s)
    ps = env.subscribe()
    jobs = [env.enqueue(t["id"], district=dist) for t in district_ts]
    jobs += [env.enqueue(t["id"]) for t in library_ts]
    return sbx, ps, jobs


def test_buckets_at_most_one_429_per_bucket_per_window(env):
    sbx, ps, jobs = bucket_mix(env, 2)
    res = env.wait_jobs(ps, jobs, timeout=120)
    assert all(s["state"] == "done" for s in res.values()), res
    assert all(s["attempts"] == "1" for s in res.values()), res
    st = sbx.get("/stats")
    # the shared bucket took every request; it needed several windows
    assert st["app"]["windows"] >= 3, st["app"]
    assert st["app"]["full"] <= st["app"]["windows"], st["app"]
    for owner, tok in st["tokens"].items():
        b = tok["bearer"]
        assert b["full"] <= b["windows"], (owner, tok)
