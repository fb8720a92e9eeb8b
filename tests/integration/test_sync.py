"""rosterd end to end: Redis queue -> Clever (the sandbox) -> diff -> atomic
write-back, with the real rosterd binary."""
import json
import os
import re
import tempfile

from conftest import api_get, etags_once, rosterctl, roster_records, \
    store_district_of, teacher_with_sections


def clever_view(sbx, t):
    """What Clever shows for teacher t: section ids and the enrollments."""
    secs = api_get(sbx, "/users/%s/sections" % t["id"], t["token"])["data"]
    enroll = set()
    for s in secs:
        for st in s["data"]["students"]:
            enroll.add((s["data"]["id"], st))
    return {s["data"]["id"] for s in secs}, enroll


def replay(env, teacher, tmp):
    """Apply the teacher's diffs in order from nothing with rosterctl; the
    result must equal the stored snapshot byte for byte."""
    base = os.path.join(tmp, "replay.json")
    diffs = env.diffs(teacher)
    assert diffs, "no diffs to replay"
    cur = None
    for d in diffs:
        dpath = os.path.join(tmp, "d.json")
        with open(dpath, "w") as f:
            json.dump(d["diff"], f)
        res = rosterctl("apply", base if cur is not None else "/dev/null", dpath)
        assert res.returncode == 0, res.stderr
        cur = res.stdout.strip()
        with open(base, "w") as f:
            f.write(cur)
    return cur


def test_first_sync_adds_everything(env):
    sbx = env.start_sandbox("--teachers", 8, "--seed", 7)
    env.start_rosterd()
    t = teacher_with_sections(sbx)
    env.store_token(t["id"], t["token"])
    jid, st = env.run(t["id"])
    assert st["state"] == "done", st
    assert st["result"] == "changed"
    assert st["version"] == "1" and st["base_version"] == "0"
    assert st["authorized_by"] == "teacher"
    # a Library sync takes 4 requests whatever the number of sections
    assert st["requests"] == "4"

    secs, enroll = clever_view(sbx, t)
    (d,) = env.diffs(t["id"])
    assert d["job"] == jid and d["base_version"] == "0" and d["version"] == "1"
    diff = d["diff"]
    assert diff["teacher"]["added"]["id"] == t["id"]
    assert {s["id"] for s in diff["sections"]["added"]} == secs
    assert not diff["sections"]["updated"] and not diff["sections"]["removed"]
    got = {(e["section"], e["student"]) for e in diff["enrollments"]["added"]}
    assert got == enroll
    assert {s["id"] for s in diff["students"]["added"]} == {e[1] for e in enroll}
    assert int(st["added"]) == len(secs) + len(enroll) + len({e[1] for e in enroll}) + 1

    snap = env.snapshot(t["id"])
    assert snap["version"] == "1" and snap["diff_id"] == d["id"]


def test_unchanged_roster_writes_no_diff(env):
    sbx = env.start_sandbox("--teachers", 5)
    env.start_rosterd()
    t = teacher_with_sections(sbx)
    env.store_token(t["id"], t["token"])
    env.run(t["id"])
    _, st = env.run(t["id"])
    assert st["state"] == "done" and st["result"] == "no changes", st
    assert st["version"] == "1"
    assert len(env.diffs(t["id"])) == 1


def ids(lst):
    return sorted(x["id"] for x in lst)


def test_each_mutation_yields_exactly_its_diff(env):
    sbx = env.start_sandbox("--teachers", 6, "--seed", 3)
    env.start_rosterd()
    t = teacher_with_sections(sbx, 2)
    env.store_token(t["id"], t["token"])
    env.run(t["id"])
    sec_a, sec_b = t["sections"][0], t["sections"][1]
    secs = api_get(sbx, "/users/%s/sections" % t["id"], t["token"])["data"]
    students_a = next(s["data"]["students"] for s in secs
                      if s["data"]["id"] == sec_a)
    in_b = set(next(s["data"]["students"] for s in secs
                    if s["data"]["id"] == sec_b))
    only_a = [s for s in students_a if s not in in_b]

    def step(**op):
        sbx.mutate(**op)
        _, st = env.run(t["id"])
        assert st["state"] == "done" and st["result"] == "changed", st
        return env.diffs(t["id"])[-1]["diff"], st

    # a new student joins section A
    new_id = sbx.mutate(op="add_student", section=sec_a, first="Zoë",
                        last="Ångström")["id"]
    _, st = env.run(t["id"])
    d = env.diffs(t["id"])[-1]["diff"]
    assert ids(d["students"]["added"]) == [new_id]
    assert d["students"]["added"][0]["last"] == "Å"  # Library: initial only
    assert d["enrollments"]["added"] == [{"section": sec_a, "student": new_id}]
    assert not d["sections"]["added"] and not d["students"]["removed"]
    assert st["added"] == "2" and st["updated"] == "0" and st["removed"] == "0"

    # a student leaves section A (and no other section of the teacher)
    gone = only_a[0]
    d, st = step(op="remove_student", section=sec_a, student=gone)
    assert d["enrollments"]["removed"] == [{"section": sec_a, "student": gone}]
    assert ids(d["students"]["removed"]) == [gone]
    assert st["removed"] == "2"

    # a rename: one field-by-field update
    d, _ = step(op="rename_user", user=new_id, first="Zoe")
    (u,) = d["students"]["updated"]
    assert u["id"] == new_id
    assert u["changes"] == {"first": {"old": "Zoë", "new": "Zoe"}}

    # a section's grade changes, normalized
    d, _ = step(op="set_grade", section=sec_b, grade="Grade 3")
    (s,) = d["sections"]["updated"]
    assert s["id"] == sec_b and s["changes"]["grade"]["new"] == "3"

    # a new section with one existing student
    keep = only_a[1]
    sid = sbx.mutate(op="add_section", teacher=t["id"], name="Robotics",
                     subject="Computer Science", grade="KG",
                     students=[keep])["id"]
    _, st = env.run(t["id"])
    d = env.diffs(t["id"])[-1]["diff"]
    (s,) = d["sections"]["added"]
    assert s["id"] == sid and s["subject"] == "technology and engineering"
    assert s["grade"] == "Kindergarten"
    assert d["enrollments"]["added"] == [{"section": sid, "student": keep}]
    assert not d["students"]["added"]

    # a co-teacher joins section B
    other = next(x for x in sbx.teachers() if x["id"] != t["id"])
    d, _ = step(op="add_coteacher", section=sec_b, teacher=other["id"])
    (s,) = d["sections"]["updated"]
    assert s["changes"]["teachers"]["new"][-1] == other["id"]

    # the section goes away again
    d, _ = step(op="delete_section", section=sid)
    assert ids(d["sections"]["removed"]) == [sid]
    assert d["enrollments"]["removed"] == [{"section": sid, "student": keep}]

    # the teacher's email changes
    d, _ = step(op="set_email", user=t["id"], email="New.Mail@Example.org")
    assert d["teacher"]["updated"]["email"]["new"] == "New.Mail@Example.org"

    # replaying every diff from nothing gives exactly the snapshot
    with tempfile.TemporaryDirectory() as tmp:
        assert replay(env, t["id"], tmp) == env.snapshot(t["id"])["roster"]
    versions = [(d["base_version"], d["version"]) for d in env.diffs(t["id"])]
    assert versions == [(str(i), str(i + 1)) for i in range(len(versions))]


def test_selection_and_discovery(env):
    sbx = env.start_sandbox("--teachers", 6, "--seed", 11)
    env.start_rosterd()
    t = teacher_with_sections(sbx, 3)
    env.store_token(t["id"], t["token"])

    # discovery: the picker's list, no students fetched, no diff written
    _, st = env.run(t["id"], kind="discover")
    assert st["state"] == "done" and st["result"] == "discovered", st
    assert st["requests"] == "3"
    listed = json.loads(env.r.get("rosterd:sections:{%s}" % t["id"]))["sections"]
    assert sorted(s["id"] for s in listed) == sorted(t["sections"])
    assert all("students" not in s for s in listed)
    assert env.diffs() == []

    # the teacher picks one section: only its students are fetched/stored
    pick = t["sections"][1]
    env.r.set("rosterd:selection:{%s}" % t["id"], pick)
    before = sbx.get("/stats")["paths"]
    _, st = env.run(t["id"])
    assert st["state"] == "done", st
    after = sbx.get("/stats")["paths"]
    diff = env.diffs(t["id"])[-1]["diff"]
    assert [s["id"] for s in diff["sections"]["added"]] == [pick]
    assert {e["section"] for e in diff["enrollments"]["added"]} == {pick}
    delta = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    assert not any("mystudents" in k for k in delta), delta

    # "none": no sections at all, the teacher's own choice: applied without
    # a shrink-guard hold (no force)
    env.r.set("rosterd:selection:{%s}" % t["id"], "none")
    _, st = env.run(t["id"])
    assert st["state"] == "done" and st["result"] == "changed", st
    diff = env.diffs(t["id"])[-1]["diff"]
    assert [s["id"] for s in diff["sections"]["removed"]] == [pick]

    # back to all
    env.r.delete("rosterd:selection:{%s}" % t["id"])
    _, st = env.run(t["id"])
    diff = env.diffs(t["id"])[-1]["diff"]
    assert sorted(s["id"] for s in diff["sections"]["added"]) == sorted(t["sections"])


def test_district_token_pages_through_lists(env):
    sbx = env.start_sandbox("--teachers", 6, "--seed", 5)
    env.start_rosterd(clever__page_size=2)
    t = teacher_with_sections(sbx, 3)
    dist = store_district_of(env, sbx, t)
    _, st = env.run(t["id"], district=dist)
    assert st["state"] == "done", st
    assert st["authorized_by"] == "district"
    secs, enroll = clever_view(sbx, t)
    diff = env.diffs(t["id"])[-1]["diff"]
    assert {s["id"] for s in diff["sections"]["added"]} == secs
    assert {(e["section"], e["student"]) for e in diff["enrollments"]["added"]} == enroll
    # pages of 2: many requests, each list ending on Clever's empty page
    n_students = len({e[1] for e in enroll})
    assert int(st["requests"]) >= 2 + (len(secs) + 1) // 2 + n_students // 2
    # the district token is stored as a district's, and the teacher's
    # district is remembered for jobs that do not name it
    _, st = env.run(t["id"])
    assert st["state"] == "done" and st["result"] == "no changes", st


def test_coalescing_one_sync_for_many_requests(env):
    sbx = env.start_sandbox("--teachers", 4)
    t = teacher_with_sections(sbx)
    env.store_token(t["id"], t["token"])
    ps = env.subscribe()
    jobs = [env.enqueue(t["id"]) for _ in range(20)]
    env.start_rosterd()
    res = env.wait_jobs(ps, jobs)
    assert all(s["state"] == "done" for s in res.values()), res
    synced = [j for j, s in res.items() if s["result"] != "coalesced"]
    assert len(synced) == 1, res
    assert all(s["coalesced_with"] == synced[0] for j, s in res.items()
               if s["result"] == "coalesced")
    stats = sbx.get("/stats")
    assert stats["paths"]["/me"] == 1, stats["paths"]


def test_token_appears_nowhere_but_its_key(env):
    sbx = env.start_sandbox("--teachers", 4)
    d = env.start_rosterd()
    ts = sbx.teachers()[:3]
    for t in ts:
        env.store_token(t["id"], t["token"])
    sbx.mutate(op="revoke_token", token=ts[1]["token"])
    ps = env.subscribe()
    jobs = [env.enqueue(t["id"]) for t in ts]
    jobs.append(env.r.xadd("rosterd:jobs", {"teacher": ts[2]["id"],
                                             "token": ts[2]["token"]}))
    res = env.wait_jobs(ps, jobs)
    assert res[jobs[1]]["state"] == "failed"
    assert res[jobs[1]]["error"] == "reauthorize"
    assert res[jobs[3]]["error"] == "bad_job"
    tokens = [t["token"] for t in ts]
    for k in env.r.scan_iter("*"):
        typ = env.r.type(k)
        if k.startswith("rosterd:token:"):
            continue
        if typ == "string":
            vals = [env.r.get(k)]
        elif typ == "hash":
            vals = list(env.r.hgetall(k).values())
        elif typ == "stream":
            vals = [json.dumps(f) for _, f in env.r.xrange(k)]
        else:
            vals = [str(k)]
        for v in vals + [k]:
            for tok in tokens:
                if k.endswith(":jobs") and tok == ts[2]["token"]:
                    continue  # the app itself wrote it into that job
                assert tok not in v, (k, v)
    d.stop()
    for tok in tokens:
        assert tok not in d.proc.text()


def test_bad_jobs_fail_clearly_and_the_daemon_goes_on(env):
    sbx = env.start_sandbox("--teachers", 3)
    env.start_rosterd()
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    ps = env.subscribe()
    bad = [
        env.r.xadd("rosterd:jobs", {"kind": "sync"}),
        env.r.xadd("rosterd:jobs", {"teacher": "../etc/passwd"}),
        env.r.xadd("rosterd:jobs", {"teacher": t["id"], "kind": "everything"}),
        env.r.xadd("rosterd:jobs", {"teacher": t["id"], "ref": "x" * 5000}),
        env.r.xadd("rosterd:jobs", {"teacher": "5f" * 12}),  # no token
    ]
    good = env.enqueue(t["id"])
    res = env.wait_jobs(ps, bad + [good])
    for j in bad[:4]:
        assert res[j]["state"] == "failed" and res[j]["error"] == "bad_job", res[j]
        assert res[j]["message"]
    assert res[bad[4]]["error"] == "no_token"
    assert res[good]["state"] == "done"
    dead = env.r.xrange("rosterd:dead")
    assert len(dead) == 5
    assert {f["error"] for _, f in dead} == {"bad_job", "no_token"}
    # rejected entries leave the stream; the others stay
    left = {eid for eid, _ in env.r.xrange("rosterd:jobs")}
    assert left == {bad[4], good}, left


def test_a_job_carrying_a_token_is_rejected_and_the_token_removed(env):
    env.start_rosterd()
    ps = env.subscribe()
    jid = env.r.xadd("rosterd:jobs", {"teacher": "5f" * 12,
                                      "token": "ilc_LEAKED_SECRET"})
    st = env.wait_jobs(ps, [jid])[jid]
    assert st["error"] == "bad_job" and "token" in st["message"], st
    assert env.r.xrange("rosterd:jobs") == []
    # the secret is nowhere in Redis any more
    for key in env.r.scan_iter("*"):
        assert b"ilc_LEAKED_SECRET" not in (env.r.dump(key) or b""), key


def test_permanent_errors_have_codes(env):
    sbx = env.start_sandbox("--teachers", 3)
    env.start_rosterd()
    a, b = sbx.teachers()[:2]
    # a's token stored for b: Clever says it is someone else's
    env.store_token(b["id"], a["token"])
    _, st = env.run(b["id"])
    assert st["state"] == "failed" and st["error"] == "token_mismatch", st
    # revoked: 401 -> reauthorize, at once, no retry
    env.store_token(a["id"], a["token"])
    sbx.mutate(op="revoke_token", token=a["token"])
    _, st = env.run(a["id"])
    assert st["error"] == "reauthorize" and st["attempts"] == "1", st


def test_transient_failures_are_retried(env):
    sbx = env.start_sandbox("--teachers", 4, "--fault-seed", 9)
    env.start_rosterd(clever__request_retries=6)
    t = teacher_with_sections(sbx)
    env.store_token(t["id"], t["token"])
    sbx.post("/faults", {"rates": {"503": 0.3, "reset": 0.1, "truncated": 0.1}})
    _, st = env.run(t["id"], timeout=60)
    assert st["state"] == "done", st
    faults = sbx.get("/stats")["faults"]
    assert sum(faults.values()) > 0
    # nothing retried forever: with Clever down, the job ends dead
    sbx.post("/faults", {"rates": {"503": 1.0}})
    sbx.mutate(op="set_grade", section=t["sections"][0], grade="5")
    _, st = env.run(t["id"], timeout=60)
    assert st["state"] == "dead" and st["error"] == "clever_unavailable", st
    assert st["attempts"] == "5"
    (dl,) = [f for _, f in env.r.xrange("rosterd:dead")]
    assert dl["state"] == "dead"
    # a dead letter can be retried once Clever is back
    sbx.post("/faults", {"rates": {}})
    ps = env.subscribe()
    out = rosterctl("-c", env.daemons[0].conf_path, "retry", "all")
    assert out.returncode == 0, out.stderr
    new = re.search(r"re-queued as job (\S+)", out.stdout).group(1)
    res = env.wait_jobs(ps, [new])
    assert res[new]["state"] == "done", res


def test_shrink_guard_holds_mass_removal(env):
    sbx = env.start_sandbox("--teachers", 6, "--seed", 2)
    env.start_rosterd()
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    env.run(t["id"])
    sec = t["sections"][0]
    students = next(s["data"]["students"] for s in
                    api_get(sbx, "/users/%s/sections" % t["id"], t["token"])["data"]
                    if s["data"]["id"] == sec)
    assert len(students) >= 5
    for s in students[: len(students) * 3 // 4]:
        sbx.mutate(op="remove_student", section=sec, student=s)
    _, st = env.run(t["id"])
    assert st["state"] == "held" and st["error"] == "shrink_guard", st
    assert sec in st["message"]
    assert len(env.diffs(t["id"])) == 1          # nothing applied
    _, st = env.run(t["id"], force=1)            # the app confirms
    assert st["state"] == "done" and st["result"] == "changed", st


def test_account_matching_and_authorization_change(env):
    sbx = env.start_sandbox("--teachers", 3)
    env.start_rosterd()
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    env.r.hset("rosterd:accounts", t["email"].lower(), "app-user-42")
    _, st = env.run(t["id"])
    assert st["account"] == "app-user-42", st
    sbx.mutate(op="set_authorization", token=t["token"], authorized_by="district")
    _, st = env.run(t["id"])
    assert st["authorized_by"] == "district"
    assert st["authorized_by_changed"] == "teacher->district", st


def test_bad_clever_responses_fail_the_job_not_the_daemon(env):
    sbx = env.start_sandbox("--teachers", 4, "--fault-seed", 3)
    d = env.start_rosterd(clever__max_body_bytes=4096,
                          clever__request_retries=1, sync__max_attempts=2)
    big = teacher_with_sections(sbx, 3)      # its lists exceed 4 KiB
    env.store_token(big["id"], big["token"])
    _, st = env.run(big["id"])
    assert st["state"] == "failed" and st["error"] == "response_too_large", st
    assert "max_body_bytes" in st["message"]
    # malformed JSON from Clever: retried, then dead with a clear code
    sbx.post("/faults", {"rates": {"malformed": 1.0}})
    small = next(t for t in sbx.teachers() if not t["sections"])
    env.store_token(small["id"], small["token"])
    _, st = env.run(small["id"], timeout=60)
    assert st["state"] == "dead" and st["error"] == "bad_response", st
    assert "JSON" in st["message"], st
    # an HTML 404 page: not shared, at once
    sbx.post("/faults", {"rates": {"html404": 1.0}})
    _, st = env.run(small["id"])
    assert st["state"] == "failed" and st["error"] == "not_shared", st
    # and the daemon is still there for the next job
    sbx.post("/faults", {"rates": {}})
    _, st = env.run(small["id"])
    assert st["state"] == "done", st
    assert d.proc.p.poll() is None


def test_secure_sync_keeps_district_fields_when_configured(env):
    """fields = district: with a district token the district-level extras
    come along in "extra", the core schema unchanged."""
    sbx = env.start_sandbox("--teachers", 4, "--seed", 6)
    env.start_rosterd(sync__fields="district")
    t = teacher_with_sections(sbx, 1)
    dist = store_district_of(env, sbx, t)
    _, st = env.run(t["id"], district=dist)
    assert st["state"] == "done", st
    snap = roster_records(env.snapshot(t["id"])["roster"])
    assert snap["fields"] == "district" and snap["authorized_by"] == "district"
    s = snap["students"][0]
    assert len(s["last"]) == 1                   # the core stays minimal
    assert len(s["extra"]["last_name"]) >= 1 and "sis_id" in s["extra"]
    assert s["extra"]["last_name"][0] == s["last"]


def test_a_snapshot_of_the_older_format_is_read_and_rewritten(env):
    """A deployment upgrades with format 1 snapshots in Redis: the next
    sync diffs against them correctly, and rewrites them in format 2."""
    sbx = env.start_sandbox("--teachers", 6, "--seed", 7)
    env.start_rosterd()
    t = teacher_with_sections(sbx)
    env.store_token(t["id"], t["token"])
    key = "rosterd:snapshot:{%s}" % t["id"]

    def downgrade():
        """The stored snapshot as the rosterd before format 2 wrote it; its
        ETag record had another fingerprint, so it is not used."""
        etags_once(env, t, lambda r: r is not None)
        text = env.r.hget(key, "roster")
        old = roster_records(text)
        old["format"] = 1
        env.r.hset(key, "roster", json.dumps(old, separators=(",", ":"),
                                             ensure_ascii=False))
        env.r.hdel("rosterd:state:{%s}" % t["id"], "etags")
        return text

    _, st = env.run(t["id"])
    assert st["state"] == "done" and st["version"] == "1", st
    text = downgrade()
    assert json.loads(env.r.hget(key, "roster"))["format"] == 1
    _, st = env.run(t["id"])
    assert st["state"] == "done" and st["result"] == "no changes", st
    assert st["version"] == "1", st
    assert env.r.hget(key, "roster") == text, "rewritten in format 2"
    assert len(env.diffs(t["id"])) == 1

    downgrade()
    sbx.mutate(op="add_student", section=t["sections"][0])
    _, st = env.run(t["id"])
    assert st["result"] == "changed" and st["version"] == "2", st
    assert st["students_added"] == "1" and st["removed"] == "0", st
    assert json.loads(env.r.hget(key, "roster"))["format"] == 2
    with tempfile.TemporaryDirectory() as tmp:
        assert replay(env, t["id"], tmp) == env.snapshot(t["id"])["roster"]
