"""rosterd under the minimal Redis ACL of doc/production.md, on a real
redis-server: it syncs, discovers, fails a job, pauses and stops cleanly,
and Redis denies it nothing."""
import os
import re
import shlex

from conftest import TOP, teacher_with_sections


def documented_acl():
    text = open(os.path.join(TOP, "doc", "production.md")).read()
    (line,) = re.findall(r"^ACL SETUSER rosterd .*$", text, re.M)
    return shlex.split(line)


def test_the_acl_is_written_once():
    """doc/production.md has the ACL line; rosterd(8) points to it instead
    of keeping a copy that could drift."""
    page = open(os.path.join(TOP, "doc", "rosterd.8")).read()
    assert "ACL SETUSER rosterd" not in page
    (section,) = re.findall(r"^\.Ss Redis ACL\n(.*?)^\.S[sh] ", page,
                            re.M | re.S)
    assert "doc/production.md" in section, section


def test_rosterd_runs_under_exactly_the_documented_acl(env):
    acl = documented_acl()
    acl = [a.replace(">PASSWORD", ">acl-pw") for a in acl]
    env.r.execute_command(*acl)
    env.r.config_set("requirepass", "admin-pw")   # default user: admin only
    env.redis.connect("admin-pw")
    sbx = env.start_sandbox("--teachers", 3)
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    d = env.start_rosterd(redis__username="rosterd", redis__password="acl-pw",
                          redis__db=0)
    _, st = env.run(t["id"], ref="acl")
    assert st["state"] == "done" and st["result"] == "changed", st
    _, st = env.run(t["id"], kind="discover")
    assert st["state"] == "done" and st["result"] == "discovered", st
    _, st = env.run("5f" * 12)
    assert st["state"] == "failed" and st["error"] == "no_token", st
    # pause and resume reach it (its 1-second check reads the key)
    mark = d.proc.mark()
    env.r.set("rosterd:paused", "acl test")
    d.proc.wait_line(r"event=paused", start=mark)
    env.r.delete("rosterd:paused")
    d.proc.wait_line(r"event=resumed", start=mark)
    # the heartbeat is there, and Redis refused nothing
    assert env.r.hget("rosterd:instance:rosterd0", "redis") == "ok"
    assert d.stop() == 0
    log = d.proc.text()
    assert "NOPERM" not in log and "no permissions" not in log, log[-3000:]
    assert not env.r.exists("rosterd:instance:rosterd0")
    # every denial Redis logged (ACL LOG) is none of rosterd's
    denied = [e for e in env.r.execute_command("ACL", "LOG")
              if "rosterd" in str(e)]
    assert denied == [], denied
