"""Forget a teacher: a final diff that removes everything the app had of
the teacher, the teacher's earlier diffs erased from the stream, then every
key of the teacher goes but its state, which keeps only the version (the
next sync goes on from it); the token only where the configuration says
so."""
import json

import os

from conftest import rosterctl, teacher_with_sections
from test_sync import replay


def apply(base, diff, tmp):
    """rosterctl apply: the diff applied to the snapshot text base."""
    bpath, dpath = os.path.join(tmp, "base.json"), os.path.join(tmp, "d.json")
    with open(bpath, "w") as f:
        f.write(base)
    with open(dpath, "w") as f:
        json.dump(diff, f)
    res = rosterctl("apply", bpath, dpath)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def keys_naming(env, teacher):
    """Keys whose name holds the teacher's id, and job statuses that
    name the teacher; the state of a forgotten teacher (its version and
    when it was forgotten, nothing else) aside."""
    state = "rosterd:state:{%s}" % teacher
    forgotten = env.r.hexists(state, "forgotten_ms")
    if forgotten:
        assert set(env.r.hkeys(state)) == {"version", "forgotten_ms"}
    out = [k for k in env.r.scan_iter("*")
           if teacher in k and not (forgotten and k == state)]
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
    held = replay(env, t["id"], env.tmp)	# what the app holds
    ps = env.subscribe()
    out = rosterctl("-c", d.conf_path, "forget", t["id"])
    assert out.returncode == 0, out.stderr
    jid = out.stdout.strip()
    st = env.wait_jobs(ps, [jid])[jid]
    assert st["state"] == "done" and st["result"] == "forgotten", st
    assert st["version"] == "3" and st["diff_id"], st
    assert "teacher" not in st, "the forget's own status names no teacher"
    # the earlier diffs are erased: the final one, applied to what the
    # app held, gives the empty roster
    [fd] = env.diffs(t["id"])
    assert fd["forgotten"] == "1" and fd["erased"] == "2", fd
    final = json.loads(apply(held, fd["diff"], env.tmp))
    assert final["teacher"] is None and final["sections"] == [] and \
        final["students"] == [], final
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
    # a sync after the forget starts again from nothing, at the next
    # version (forget 2 -> 3, then 3 -> 4): versions never restart
    _, st = env.run(t["id"])
    assert st["result"] == "changed" and st["version"] == "4", st
    assert st["base_version"] == "3", st
