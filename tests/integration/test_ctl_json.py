"""rosterctl --json: one documented schema (doc/rosterctl.8, JSON OUTPUT).
Every object printed carries "schema": 1; a job prints alike in status and
watch (keys, order, types); names stay strings; action commands print a
result object and errors an error object, with the same exit codes."""
import json
import re

from conftest import Proc, ROSTERCTL, WRAP, rosterctl

NO_TOKEN = "5f" * 12


def ctl(d, *args):
    return rosterctl("-c", d.conf_path, *args)


def ctl_json(d, *args):
    """rosterctl --json ARGS: (exit status, the one JSON value printed)."""
    out = ctl(d, "--json", *args)
    lines = out.stdout.splitlines()
    assert len(lines) == 1, out
    return out.returncode, json.loads(lines[0])


def watch_json(d, count, *args):
    return Proc(WRAP + [ROSTERCTL, "-c", d.conf_path, "--json", "watch",
                        "-n", str(count)] + list(args), "watch")


def test_status_and_watch_print_a_job_alike(env):
    # a consumer name that looks like a number stays a string
    d = env.start_rosterd(daemon__consumer="4242")
    w = watch_json(d, 2, NO_TOKEN)
    w.wait_line(r"watching rosterd:events")
    jid = env.enqueue(NO_TOKEN, ref="12")
    assert w.p.wait(20) == 0, w.text()
    w.t.join(5)
    events = [json.loads(l) for l in w.lines if l.startswith("{")]
    assert [e["state"] for e in events] == ["running", "failed"], events
    rc, st = ctl_json(d, "status", jid)
    assert rc == 0 and st["state"] == "failed", st
    for ev in events:
        assert list(ev)[0] == "schema" and ev["schema"] == 1, ev
        # the event's fields in the status's order, with its types
        order = [k for k in st if k in ev]
        assert list(ev) == order + [k for k in ev if k not in st], (ev, st)
    final = events[-1]
    shared = [k for k in final if k in st]
    assert {"job", "teacher", "state", "error", "ref"} <= set(shared), final
    for k in shared:
        assert type(final[k]) is type(st[k]), (k, final[k], st[k])
    for k in ("job", "teacher", "state", "error", "attempts", "ref"):
        if k in final:
            assert final[k] == st[k], (k, final, st)
    assert st["ref"] == "12" and st["consumer"] == "4242", st
    assert isinstance(st["attempts"], int), st
    rc, stats = ctl_json(d, "stats")
    assert [i["consumer"] for i in stats["instances"]] == ["4242"], stats
    assert isinstance(stats["instances"][0]["pid"], int), stats


def assert_result(d, command, *args, status=0):
    rc, res = ctl_json(d, *args)
    assert rc == status, (args, rc, res)
    assert list(res)[:2] == ["schema", "command"] and res["schema"] == 1 \
        and res["command"] == command, res
    return res


def test_every_action_prints_a_result_object(env):
    d = env.start_rosterd()
    res = assert_result(d, "enqueue", "enqueue", NO_TOKEN, "discover", "force")
    assert (res["teacher"], res["kind"], res["force"]) == \
        (NO_TOKEN, "discover", True), res
    jid = res["job"]
    res = assert_result(d, "forget", "forget", "6a" * 12)
    assert res["kind"] == "forget" and res["job"] != jid, res
    ps = env.subscribe()
    env.wait_jobs(ps, [jid])
    rc, letters = ctl_json(d, "dead")
    assert rc == 0 and letters and all(x["schema"] == 1 for x in letters)
    eid = letters[0]["id"]
    res = assert_result(d, "retry", "retry", eid, status=1)
    assert res["skipped"] == [{"id": eid, "error": "no_token"}], res
    res = assert_result(d, "retry", "retry", eid, "force")
    assert res["requeued"][0]["id"] == eid, res
    env.wait_jobs(ps, [res["requeued"][0]["job"]])
    eid = env.r.xrange("rosterd:dead")[-1][0]
    res = assert_result(d, "delete", "delete", eid, "1-1", status=1)
    assert res["deleted"] == [eid] and res["missing"] == ["1-1"], res
    res = assert_result(d, "purge", "purge", "all")
    assert isinstance(res["deleted"], int), res
    res = assert_result(d, "pause", "pause", "upgrade")
    assert res["paused"] is True and res["note"].startswith("upgrade"), res
    res = assert_result(d, "resume", "resume")
    assert res["paused"] is False and res["note"] is None, res
    # the listings and summaries carry the schema too
    for args in (["queue"], ["stats"], ["schedule"], ["schedule", NO_TOKEN]):
        rc, obj = ctl_json(d, *args)
        assert list(obj)[0] == "schema" and obj["schema"] == 1, (args, obj)
    for args in (["dead"], ["diffs"], ["held"], ["find", NO_TOKEN]):
        rc, a = ctl_json(d, *args)
        assert rc == 0 and all(list(o)[0] == "schema" for o in a), (args, a)


def assert_error(out, status, code):
    assert out.returncode == status, out
    err = json.loads(out.stdout)
    assert list(err) == ["schema", "error"] and err["schema"] == 1, err
    assert list(err["error"]) == ["code", "message"], err
    assert err["error"]["code"] == code and err["error"]["message"], err
    return err["error"]["message"]


def test_errors_are_json_with_the_same_exit_codes(env):
    d = env.start_rosterd()
    assert "no status" in assert_error(ctl(d, "--json", "status", "1-1"), 1,
                                       "not_found")
    assert_error(ctl(d, "--json", "enqueue", "not an id"), 2, "usage")
    assert_error(ctl(d, "--json", "nosuchcommand"), 2, "usage")
    assert_error(ctl(d, "status", "--json"), 2, "usage")
    assert_error(ctl(d, "--json", "dead", "-s", "bogus"), 2, "usage")
    assert_error(ctl(d, "--json", "held", "confirm", NO_TOKEN), 1,
                 "not_found")
    assert_error(ctl(d, "--json", "snapshot", NO_TOKEN), 1, "not_found")
    assert_error(ctl(d, "--json", "resume"), 1, "refused")
    assert ctl(d, "pause").returncode == 0
    assert "already paused" in assert_error(ctl(d, "--json", "pause"), 1,
                                            "refused")
    # Redis unreachable, an invalid configuration: exit 3
    bad = d.conf_path + ".bad"
    with open(d.conf_path) as f:
        text = f.read()
    with open(bad, "w") as f:
        f.write(re.sub(r"(?m)^port = \d+", "port = 1", text))
    assert_error(rosterctl("-c", bad, "--json", "queue"), 3, "redis")
    with open(bad, "w") as f:
        f.write("[redis]\nbogus_key = 1\n")
    assert_error(rosterctl("-c", bad, "--json", "queue"), 3, "config")
