"""A changed Library roster in four requests: the parts Clever answers
304 are taken from the last snapshot where it holds them exactly
(doc/rate-limits.md), and the roster, snapshot, hash and diff are those a
full fetch makes.  Where it does not (a selection, a value normalized
away), the part is asked again.  Real redis-server, sandbox and rosterd."""
import json

from conftest import api_get, etags_once

# daemon/sync.c's request kinds, as the ETag record's EXACT holds them
ME, TEACHER, SECTIONS, MYSTUDENTS = 1, 2, 4, 8


def exact(rec):
    """The EXACT field of an ETag record (its second line's fourth)."""
    return int(rec.split("\n")[1].split("\t")[3])


def counts(sbx, t):
    st = sbx.get("/stats")
    return {"requests": st["tokens"]["teacher:" + t["id"]]["requests"],
            "not_modified": st["not_modified"],
            "sections": st["paths"].get("/users/{id}/sections", 0),
            "mystudents": st["paths"].get("/users/{id}/mystudents", 0),
            "teacher": st["paths"].get("/users/{id}", 0)}


def delta(a, b):
    return {k: b[k] - a[k] for k in a}


def exact_teacher(env, sbx, want=ME | TEACHER | SECTIONS | MYSTUDENTS):
    """A teacher with sections whose first sync's record holds every part
    exactly (no value normalized away): synced, record in hand."""
    for t in sbx.teachers():
        if len(t["sections"]) < 2:
            continue
        env.store_token(t["id"], t["token"])
        _, st = env.run(t["id"])
        assert st["state"] == "done", st
        rec = etags_once(env, t, lambda r: r is not None)
        if exact(rec) == want:
            return t, rec
    raise AssertionError("no teacher whose roster is held exactly")


def state_of(env, t):
    """The stored snapshot and the picker's list (its sections)."""
    picker = env.r.get("rosterd:sections:{%s}" % t["id"])
    return {"snapshot": env.snapshot(t["id"]),
            "sections": json.loads(picker)["sections"]}


def raw_diffs(env, t):
    return [f["diff"] for _, f in env.r.xrange("rosterd:diffs")
            if f["teacher"] == t["id"]]


def same_as_full_fetch(env, t, before, **job):
    """The last sync's diff, snapshot (roster, hash, version) and picker
    list are what a full fetch, without ETags, makes from the snapshot it
    started from (before: the stored state then)."""
    got = state_of(env, t)
    diff = raw_diffs(env, t)[-1]
    key = "rosterd:snapshot:{%s}" % t["id"]
    env.r.delete(key)
    env.r.hset(key, mapping=before["snapshot"])
    env.r.hdel("rosterd:state:{%s}" % t["id"], "etags")
    _, st = env.run(t["id"], **job)
    assert st["state"] == "done" and st["result"] == "changed", st
    assert st["requests"] == "4", st       # every part asked, none 304
    again = state_of(env, t)
    assert raw_diffs(env, t)[-1] == diff
    for f in ("roster", "hash", "version"):
        assert again["snapshot"][f] == got["snapshot"][f], f
    assert again["sections"] == got["sections"]


def changed_in_four(env, sbx, t, taken):
    """Sync t after a change: 4 requests, `taken` of them 304 and taken
    from the snapshot (nothing asked twice)."""
    c0 = counts(sbx, t)
    _, st = env.run(t["id"])
    assert st["state"] == "done" and st["result"] == "changed", st
    assert st["requests"] == "4", st
    d = delta(c0, counts(sbx, t))
    assert d["requests"] == 4 and d["not_modified"] == taken, d
    assert d["sections"] == d["mystudents"] == d["teacher"] == 1, d
    return st


def exact_world(env):
    """The sandbox, rosterd, a teacher held exactly, its record and state."""
    sbx = env.start_sandbox("--teachers", 8, "--seed", 3)
    env.start_rosterd()
    t, rec = exact_teacher(env, sbx)
    return sbx, t, rec, state_of(env, t)


def test_student_renamed_in_four_requests(env):
    sbx, t, rec, before = exact_world(env)
    u = api_get(sbx, "/users/%s/mystudents" % t["id"], t["token"])
    sbx.mutate(op="rename_user", user=u["data"][0]["data"]["id"],
               first="Quillon")
    st = changed_in_four(env, sbx, t, taken=3)
    assert st["students_updated"] == "1" and st["updated"] == "1", st
    etags_once(env, t, lambda r: r is not None and r != rec)
    same_as_full_fetch(env, t, before)


def test_section_subject_changed_in_four_requests(env):
    sbx, t, rec, before = exact_world(env)
    sec = before["sections"]
    s = [x for x in sec if x["subject"] != "science"][0]
    sbx.mutate(op="set_subject", section=s["id"], subject="Science")
    st = changed_in_four(env, sbx, t, taken=3)
    assert st["sections_updated"] == "1", st
    d = env.diffs(t["id"])[-1]["diff"]
    upd = d["sections"]["updated"]
    assert [x["id"] for x in upd] == [s["id"]], d
    etags_once(env, t, lambda r: r is not None and r != rec)
    same_as_full_fetch(env, t, before)


def test_teacher_renamed_in_four_requests(env):
    sbx, t, rec, before = exact_world(env)
    sbx.mutate(op="rename_user", user=t["id"], first="Zebedee")
    st = changed_in_four(env, sbx, t, taken=3)
    assert st["teacher_updated"] == "1" and st["updated"] == "1", st
    # the unchanged parts' tags are kept for the next sync: all 304
    rec2 = etags_once(env, t, lambda r: r is not None and r != rec)
    assert rec2.count('W/"') == 4 and exact(rec2) == exact(rec)
    c0 = counts(sbx, t)
    _, st = env.run(t["id"])
    assert st["result"] == "no changes" and st["requests"] == "4", st
    assert delta(c0, counts(sbx, t))["not_modified"] == 4
    same_as_full_fetch(env, t, before)


def rename_teacher(env, sbx, t, first):
    """Rename t at Clever and sync: its status, and what Clever counted."""
    sbx.mutate(op="rename_user", user=t["id"], first=first)
    c0 = counts(sbx, t)
    _, st = env.run(t["id"])
    assert st["result"] == "changed" and st["teacher_updated"] == "1", st
    return st, delta(c0, counts(sbx, t))


def test_selection_none_asks_the_sections_again(env):
    """With a selection the snapshot holds the selected sections, the
    answer all of them (the picker's list): asked again; the teacher is
    still taken from the snapshot."""
    sbx = env.start_sandbox("--teachers", 8, "--seed", 3)
    env.start_rosterd()
    t = [t for t in sbx.teachers() if len(t["sections"]) >= 2][0]
    env.r.set("rosterd:selection:{%s}" % t["id"], "none")
    env.store_token(t["id"], t["token"])
    env.run(t["id"])
    rec = etags_once(env, t, lambda r: r is not None)
    assert exact(rec) == ME | TEACHER
    before = state_of(env, t)
    st, d = rename_teacher(env, sbx, t, "Zebedee")
    # me and sections 304, teacher 200; the sections asked again
    assert st["requests"] == "4" and d["requests"] == 4, (st, d)
    assert d["sections"] == 2 and d["teacher"] == 1, d
    assert d["not_modified"] == 2, d
    etags_once(env, t, lambda r: r is not None and r != rec)
    got = state_of(env, t)
    assert got["sections"] == before["sections"]


def test_values_normalized_away_are_asked_again(env):
    """An unrecognised subject (the raw value only in the status) or
    grade: that part is not held exactly, and a 304 to it is asked again;
    the result is still a full fetch's."""
    sbx = env.start_sandbox("--teachers", 8, "--seed", 3)
    env.start_rosterd()
    t, rec = exact_teacher(env, sbx)
    sec = state_of(env, t)["sections"]
    sbx.mutate(op="set_subject", section=sec[0]["id"], subject="Lunch")
    _, st = env.run(t["id"])
    assert st["result"] == "changed" and st["requests"] == "4", st
    assert "Lunch" in st["unrecognised_values"], st
    rec = etags_once(env, t, lambda r: r is not None and r != rec)
    assert exact(rec) == ME | TEACHER | MYSTUDENTS
    # sections 304, not taken: asked again
    before = state_of(env, t)
    st, d = rename_teacher(env, sbx, t, "Zebedee")
    assert st["requests"] == "5", st
    assert "Lunch" in st["unrecognised_values"], st
    assert d["sections"] == 2 and d["mystudents"] == 1, d
    same_as_full_fetch(env, t, before)

    # a student's odd grade: the students part the same way
    u = api_get(sbx, "/users/%s/mystudents" % t["id"], t["token"])
    sbx.mutate(op="set_grade", user=u["data"][0]["data"]["id"],
               grade="Sophomore-ish")
    env.r.hdel("rosterd:state:{%s}" % t["id"], "etags")
    env.run(t["id"])
    rec = etags_once(env, t, lambda r: r is not None)
    assert exact(rec) == ME | TEACHER
    before = state_of(env, t)
    st, d = rename_teacher(env, sbx, t, "Zelda")
    assert st["requests"] == "6", st
    assert d["sections"] == 2 and d["mystudents"] == 2, d
    same_as_full_fetch(env, t, before)


def test_a_snapshot_not_the_records_is_not_taken(env):
    """The stored snapshot is not the one the record vouches for (its
    hash is another): nothing is taken from it, the parts are asked
    again, and the write-back diffs from what is stored."""
    sbx = env.start_sandbox("--teachers", 8, "--seed", 3)
    d = env.start_rosterd()
    t, rec = exact_teacher(env, sbx)
    key = "rosterd:snapshot:{%s}" % t["id"]
    env.r.hset(key, "hash", "0" * 32)
    sbx.mutate(op="rename_user", user=t["id"], first="Zebedee")
    mark = d.proc.mark()
    _, st = env.run(t["id"])
    assert st["state"] == "done" and st["result"] == "changed", st
    assert st["requests"] == "7", st
    with d.proc.cond:
        lines = d.proc.lines[mark:]
    assert any("event=snapshot_not_taken" in l for l in lines)
