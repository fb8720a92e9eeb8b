"""Held changes are handled, not only seen: rosterctl held lists the syncs
held by the shrink guard with what each would remove, and rosterctl held
confirm TEACHER applies one."""
import json

from conftest import rosterctl, teacher_with_sections
from test_sync import api_get


def hold_one(env, sbx, t):
    """Sync t, then remove most students of a section in Clever: held."""
    env.store_token(t["id"], t["token"])
    _, st = env.run(t["id"])
    assert st["state"] == "done", st
    sec = t["sections"][0]
    students = next(s["data"]["students"] for s in
                    api_get(sbx, "/users/%s/sections" % t["id"], t["token"])["data"]
                    if s["data"]["id"] == sec)
    gone = students[: len(students) * 3 // 4]
    for s in gone:
        sbx.mutate(op="remove_student", section=sec, student=s)
    jid, st = env.run(t["id"])
    assert st["state"] == "held", st
    return jid, len(gone)


def test_held_lists_and_confirm_applies(env):
    sbx = env.start_sandbox("--teachers", 6, "--seed", 2)
    d = env.start_rosterd()
    t = teacher_with_sections(sbx, 1)
    jid, gone = hold_one(env, sbx, t)
    conf = ["-c", d.conf_path]
    out = rosterctl(*conf, "held")
    assert out.returncode == 0, out.stderr
    assert t["id"] in out.stdout and jid in out.stdout
    assert "enrollments" in out.stdout and "confirm: rosterctl held confirm" \
        in out.stdout, out.stdout
    [h] = json.loads(rosterctl(*conf, "--json", "held").stdout)
    assert h["teacher"] == t["id"] and h["job"] == jid
    assert h["enrollments_removed"] == gone, h
    # an unknown teacher is an error
    assert rosterctl(*conf, "held", "confirm", "5f" * 12).returncode == 1
    ps = env.subscribe()
    out = rosterctl(*conf, "held", "confirm", t["id"])
    assert out.returncode == 0, out.stderr
    new = out.stdout.split("job ")[-1].strip()
    st = env.wait_jobs(ps, [new], timeout=20)[new]
    assert st["state"] == "done" and st["result"] == "changed", st
    assert st["enrollments_removed"] == str(gone), st
    # answered: nothing held any more
    assert rosterctl(*conf, "held").stdout.strip() == "no held changes"
