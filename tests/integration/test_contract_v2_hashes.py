"""Contract 2, content hashes: every diff entry names the roster it applies
to (base_hash) and the one it yields (hash), the snapshot its own; the
hashes chain, equal content keeps its hash, and a snapshot stored before
(without a hash) gets one at its next sync, changed or not."""
import hashlib
import re

from conftest import etags_once, teacher_with_sections


def content_hash(roster):
    """doc/contract.md's one-liner: the canonical text without its version."""
    return hashlib.sha256(re.sub(r'^\{"format":2,"version":\d+,', '{"format":2,',
                                 roster).encode()).hexdigest()[:32]


def test_hashes_chain_from_the_empty_roster_to_the_snapshot(env):
    sbx = env.start_sandbox("--teachers", 4, "--seed", 5)
    env.start_rosterd()
    t = teacher_with_sections(sbx, 2)
    env.store_token(t["id"], t["token"])
    _, st = env.run(t["id"])
    assert st["result"] == "changed", st
    for subject in ("Math", "Science"):
        sbx.mutate(op="set_subject", section=t["sections"][0], subject=subject)
        _, st = env.run(t["id"])
        assert st["result"] == "changed", st
    diffs = env.diffs(t["id"])
    assert [d["version"] for d in diffs] == ["1", "2", "3"]
    assert diffs[0]["base_hash"] == ""
    for a, b in zip(diffs, diffs[1:]):
        assert a["hash"] == b["base_hash"] != "", (a, b)
    assert len({d["hash"] for d in diffs}) == 3
    snap = env.snapshot(t["id"])
    assert snap["hash"] == diffs[-1]["hash"] == content_hash(snap["roster"])
    # unchanged: no diff, the same hash (the second resync on the ETags)
    for _ in range(2):
        _, st = env.run(t["id"])
        assert st["result"] == "no changes", st
        etags_once(env, t, lambda rec: rec is not None)
    assert len(env.diffs(t["id"])) == 3
    assert env.snapshot(t["id"])["hash"] == snap["hash"]
    # back to an earlier content: its earlier hash again, at a new version
    sbx.mutate(op="set_subject", section=t["sections"][0], subject="Math")
    _, st = env.run(t["id"])
    d = env.diffs(t["id"])[-1]
    assert d["version"] == "4" and d["hash"] == diffs[1]["hash"], d


def test_a_snapshot_stored_without_a_hash_gets_one_at_the_next_sync(env):
    """As written before contract 2: the next sync hashes the stored
    roster, even unchanged and with an ETag record, and rewrites it."""
    sbx = env.start_sandbox("--teachers", 4, "--seed", 5)
    env.start_rosterd()
    t = teacher_with_sections(sbx, 2)
    env.store_token(t["id"], t["token"])
    env.run(t["id"])
    etags_once(env, t, lambda rec: rec is not None)
    key = "rosterd:snapshot:{%s}" % t["id"]
    want = env.r.hget(key, "hash")
    env.r.hdel(key, "hash")
    _, st = env.run(t["id"])
    assert st["result"] == "no changes", st
    assert env.r.hget(key, "hash") == want and len(env.diffs(t["id"])) == 1
    # changed: the diff's base hash is the stored roster's, computed
    env.r.hdel(key, "hash")
    sbx.mutate(op="set_subject", section=t["sections"][0], subject="Math")
    _, st = env.run(t["id"])
    assert st["result"] == "changed", st
    d = env.diffs(t["id"])[-1]
    assert d["base_hash"] == want and d["hash"] == env.r.hget(key, "hash")
