"""The "Sync Classes" picker's list, rosterd:sections:{TEACHER}: a full
sync refreshes it, so that a discovery coalesced with a sync is satisfied
for real (issue 20: it ended coalesced with the list absent or stale)."""
import json

from conftest import teacher_with_sections


def sections_key(t):
    return "rosterd:sections:{%s}" % t["id"]


def clever_sections(sbx, t):
    """The teacher's section ids in Clever now."""
    return sorted(next(x for x in sbx.teachers()
                       if x["id"] == t["id"])["sections"])


def sync_and_discover_together(env, t):
    """A login sync and a discover enqueued at once (one transaction: read
    in one batch), both awaited; their statuses."""
    ps = env.subscribe()
    try:
        with env.r.pipeline() as p:
            for kind in ("sync", "discover"):
                p.xadd("rosterd:jobs", {"teacher": t["id"], "kind": kind})
            sync_id, disc_id = p.execute()
        got = env.wait_jobs(ps, [sync_id, disc_id])
    finally:
        ps.close()
    return sync_id, got[sync_id], disc_id, got[disc_id]


def test_a_discover_coalesced_with_a_sync_lists_every_section(env):
    sbx = env.start_sandbox("--teachers", 6, "--seed", 11,
                            "--latency-ms", 50)
    env.start_rosterd()
    t = teacher_with_sections(sbx, 3)
    env.store_token(t["id"], t["token"])

    # never discovered: the list must come from the sync
    sync_id, sync_st, disc_id, disc_st = sync_and_discover_together(env, t)
    assert sync_st["result"] == "changed", sync_st
    assert disc_st["result"] == "coalesced", disc_st
    assert disc_st["coalesced_with"] == sync_id, disc_st
    raw = env.r.get(sections_key(t))
    assert raw is not None, "the coalesced discovery left no list"
    got = json.loads(raw)
    assert got["job"] == sync_id
    assert sorted(s["id"] for s in got["sections"]) == clever_sections(sbx, t)
    assert disc_st["sections"] == str(len(got["sections"])), disc_st
    assert all("students" not in s for s in got["sections"])

    # Clever gains a section: the next coalesced discovery sees it (the
    # list is not stale)
    sbx.mutate(op="add_section", teacher=t["id"], name="Art/Design",
               subject="arts and music", grade="10")
    before = got["fetched_ms"]
    sync_id, _, disc_id, disc_st = sync_and_discover_together(env, t)
    assert disc_st["result"] == "coalesced", disc_st
    raw = env.r.get(sections_key(t))
    got = json.loads(raw)
    assert got["job"] == sync_id and got["fetched_ms"] >= before
    assert sorted(s["id"] for s in got["sections"]) == clever_sections(sbx, t)
    assert "Art/Design" in raw, "no '/' escaped, like the snapshot"
    assert disc_st["sections"] == str(len(clever_sections(sbx, t)))


def test_a_full_sync_with_a_selection_still_lists_every_section(env):
    sbx = env.start_sandbox("--teachers", 6, "--seed", 11)
    env.start_rosterd()
    t = teacher_with_sections(sbx, 3)
    env.store_token(t["id"], t["token"])
    env.r.set("rosterd:selection:{%s}" % t["id"], t["sections"][0])
    jid, st = env.run(t["id"])
    assert st["state"] == "done", st
    got = json.loads(env.r.get(sections_key(t)))
    assert got["job"] == jid
    # the picker shows what the teacher may pick, not only what is picked
    assert sorted(s["id"] for s in got["sections"]) == clever_sections(sbx, t)
    # and so does a discovery with a selection in place
    jid, st = env.run(t["id"], kind="discover")
    assert st["result"] == "discovered", st
    got = json.loads(env.r.get(sections_key(t)))
    assert got["job"] == jid
    assert sorted(s["id"] for s in got["sections"]) == clever_sections(sbx, t)
    assert st["sections"] == str(len(got["sections"]))
