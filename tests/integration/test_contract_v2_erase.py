"""Contract 2, forget erases: the teacher's earlier diff entries leave the
diffs stream with the forget (other teachers' stay), and the final diff
says how many went."""
from conftest import teacher_with_sections


def synced_twice(env, sbx, t):
    env.store_token(t["id"], t["token"])
    env.run(t["id"])
    sbx.mutate(op="set_subject", section=t["sections"][0], subject="Math")
    _, st = env.run(t["id"])
    assert st["result"] == "changed", st


def test_forget_deletes_the_teachers_earlier_diffs_only(env):
    sbx = env.start_sandbox("--teachers", 8, "--seed", 3)
    env.start_rosterd()
    a, b = [t for t in sbx.teachers() if t["sections"]][:2]
    synced_twice(env, sbx, a)
    synced_twice(env, sbx, b)
    theirs = [d["id"] for d in env.diffs(b["id"])]
    assert len(env.diffs(a["id"])) == 2 and len(theirs) == 2
    _, st = env.run(a["id"], kind="forget")
    assert st["result"] == "forgotten" and st["erased"] == "2", st
    [fd] = env.diffs(a["id"])
    assert fd["forgotten"] == "1" and fd["erased"] == "2", fd
    assert [d["id"] for d in env.diffs(b["id"])] == theirs
    # synced again, then forgotten again: the new diffs go, not the final one
    # (the state kept only the version)
    env.run(a["id"])
    _, st = env.run(a["id"], kind="forget")
    assert st["erased"] == "1", st
    assert [d["forgotten"] for d in env.diffs(a["id"])] == ["1", "1"]
