"""Contract 2, versions never restart: after a forget (final diff N ->
N+1) the next sync writes N+1 -> N+2 from the empty roster (base_hash "")."""
from conftest import teacher_with_sections


def test_versions_go_on_after_a_forget(env):
    sbx = env.start_sandbox("--teachers", 4, "--seed", 5)
    env.start_rosterd()
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    env.run(t["id"])
    sbx.mutate(op="set_subject", section=t["sections"][0], subject="Math")
    env.run(t["id"])
    before = env.snapshot(t["id"])["hash"]
    _, st = env.run(t["id"], kind="forget")
    assert st["result"] == "forgotten" and st["version"] == "3", st
    [fd] = env.diffs(t["id"])
    assert (fd["base_version"], fd["version"]) == ("2", "3")
    assert fd["base_hash"] == before and fd["hash"] == "", fd
    assert env.r.hget("rosterd:state:{%s}" % t["id"], "version") == "3"
    _, st = env.run(t["id"])
    assert st["result"] == "changed", st
    assert (st["base_version"], st["version"]) == ("3", "4"), st
    d = env.diffs(t["id"])[-1]
    assert (d["base_version"], d["version"]) == ("3", "4")
    assert d["base_hash"] == "" and d["hash"] == before, \
        "the same content as before the forget: the same hash"
    assert env.snapshot(t["id"])["version"] == "4"
    assert env.r.hget("rosterd:state:{%s}" % t["id"], "version") is None
