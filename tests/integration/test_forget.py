"""Forget a teacher: a final diff that removes everything the app had of
the teacher, then every key of the teacher goes; the token only where the
configuration says so."""
import json

from conftest import rosterctl, teacher_with_sections
from test_sync import replay


def keys_naming(env, teacher):
    """Keys whose name holds the teacher's id, and job statuses that
    name the teacher."""
    out = [k for k in env.r.scan_iter("*") if teacher in k]
    for k in env.r.scan_iter("rosterd:job:*"):
        if env.r.hget(k, "teacher") == teacher:
            out.append(k)
    return out


def synced_twice(env, sbx):
    t = teacher_with_sections(sbx, 2)
    env.store_token(t["id"], t["token"])
    env.r.set("rosterd:selection:{%s}" % t["id"], "all")
    for kind in ("sync", "discover"):
        _, st = env.run(t["id"], kind=kind)
        assert st["state"] == "done", st
    sbx.mutate(op="set_subject", section=t["sections"][0], subject="Math")
    _, st = env.run(t["id"])
    assert st["result"] == "changed", st
    return t


def test_forget_erases_the_teacher(env):
    sbx = env.start_sandbox("--teachers", 4)
    d = env.start_rosterd()
    t = synced_twice(env, sbx)
    assert keys_naming(env, t["id"])
    ps = env.subscribe()
    out = rosterctl("-c", d.conf_path, "forget", t["id"])
    assert out.returncode == 0, out.stderr
    jid = out.stdout.strip()
    st = env.wait_jobs(ps, [jid])[jid]
    assert st["state"] == "done" and st["result"] == "forgotten", st
    assert st["version"] == "3" and st["diff_id"], st
    assert "teacher" not in st, "the forget's own status names no teacher"
    # the teacher's diffs, replayed from nothing, give the empty roster
    final = json.loads(replay(env, t["id"], env.tmp))
    assert final["teacher"] is None and final["sections"] == [] and \
        final["students"] == [], final
    assert env.diffs(t["id"])[-1]["forgotten"] == "1"
    # no key of the teacher left (the app's token stays by default)
    d.proc.wait_line(r"event=forget_statuses .*deleted [1-9]")
    assert keys_naming(env, t["id"]) == ["rosterd:token:" + t["id"]]


def test_forget_deletes_the_token_when_configured(env):
    sbx = env.start_sandbox("--teachers", 4)
    d = env.start_rosterd(sync__forget_deletes_token="yes")
    t = synced_twice(env, sbx)
    _, st = env.run(t["id"], kind="forget")
    assert st["result"] == "forgotten", st
    d.proc.wait_line(r"event=forget_statuses")
    assert keys_naming(env, t["id"]) == []


def test_forget_of_a_teacher_never_synced_writes_no_diff(env):
    env.start_sandbox("--teachers", 2)
    env.start_rosterd()
    _, st = env.run("5f" * 12, kind="forget")
    assert st["state"] == "done" and st["result"] == "forgotten", st
    assert st["diff_id"] == "" and env.diffs("5f" * 12) == []


def test_a_forget_is_never_coalesced_with_an_earlier_sync(env):
    sbx = env.start_sandbox("--teachers", 4)
    env.start_rosterd()
    t = synced_twice(env, sbx)
    _, st = env.run(t["id"], kind="forget")
    assert st["result"] == "forgotten", st
    # a sync after the forget starts again from nothing
    _, st = env.run(t["id"])
    assert st["result"] == "changed" and st["version"] == "1", st
