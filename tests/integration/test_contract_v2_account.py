"""Contract 2, account on the diff: a diff entry names the app's account
matched for the teacher's email (ASCII case folded), none when unmatched."""
from conftest import teacher_with_sections


def test_the_diff_entry_names_the_matched_account(env):
    sbx = env.start_sandbox("--teachers", 4, "--seed", 5)
    env.start_rosterd()
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    env.run(t["id"])
    [d] = env.diffs(t["id"])
    assert "account" not in d, "no account matched yet"
    env.r.hset("rosterd:accounts", t["email"].lower(), "app-user-42")
    sbx.mutate(op="set_subject", section=t["sections"][0], subject="Math")
    _, st = env.run(t["id"])
    assert st["account"] == "app-user-42", st
    d = env.diffs(t["id"])[-1]
    assert d["account"] == "app-user-42", d
    _, st = env.run(t["id"], kind="forget")
    assert env.diffs(t["id"])[-1]["account"] == "app-user-42"
