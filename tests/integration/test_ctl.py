"""rosterctl against the real rosterd and a real redis-server: listings
for people and as JSON, dead letters, pause/resume, watch, stats, exit
codes."""
import json
import os
import re
import socket
import subprocess
import time

from conftest import (Proc, ROSTERCTL, ROSTERD, SANDBOX, SLOW, rosterctl,
                      teacher_with_sections)

NO_TOKEN = "5f" * 12


def ctl(d, *args):
    return rosterctl("-c", d.conf_path, *args)


def test_every_program_answers_help_on_stdout():
    for prog in (ROSTERD, ROSTERCTL, SANDBOX):
        out = subprocess.run([prog, "--help"], capture_output=True,
                             text=True, timeout=10)
        assert out.returncode == 0, (prog, out)
        assert out.stdout.startswith("usage:") and out.stderr == "", (prog, out)


def test_status_fields_come_in_a_fixed_order_and_as_json(env):
    sbx = env.start_sandbox("--teachers", 3)
    d = env.start_rosterd()
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    jid, st = env.run(t["id"], ref="user-7")
    out = ctl(d, "status", jid)
    assert out.returncode == 0, out
    names = [line.split()[0] for line in out.stdout.splitlines()]
    assert names[:7] == ["job", "state", "teacher", "kind", "trigger", "ref",
                         "attempts"], names
    # known fields in doc/contract.md's order, the same every time
    assert names.index("created_ms") < names.index("finished_ms") < \
        names.index("result") < names.index("version"), names
    js = ctl(d, "--json", "status", jid)
    assert js.returncode == 0, js
    obj = json.loads(js.stdout)
    assert list(obj) == ["schema"] + names and obj["schema"] == 1, \
        (list(obj), names)
    # typed: counts, versions and times are numbers, the rest strings
    assert all(isinstance(obj[k], int) for k in ("attempts", "version",
                                                 "created_ms")), obj
    assert all(isinstance(obj[k], str) for k in ("job", "ref", "consumer"))
    assert {k: "" if v is None else str(v) for k, v in obj.items()
            if k != "schema"} == st, (obj, st)
    # the same from the option after the command
    assert json.loads(ctl(d, "status", jid, "--json").stdout) == obj
    # an unknown job is an error
    out = ctl(d, "status", "1-1")
    assert out.returncode == 1 and "no status" in out.stderr, out


def test_enqueue_checks_the_teacher_id_as_the_daemon_does(env):
    d = env.start_rosterd()
    for bad in ("not an id", "a" * 65, "x;y", ""):
        out = ctl(d, "enqueue", bad)
        assert out.returncode == 2 and "Clever id" in out.stderr, (bad, out)
    assert env.r.xlen("rosterd:jobs") == 0
    out = ctl(d, "enqueue", "a" * 64, "discover")
    assert out.returncode == 0, out
    assert env.r.xrange("rosterd:jobs")[0][1] == {"teacher": "a" * 64,
                                                   "kind": "discover"}
    out = ctl(d, "enqueue", NO_TOKEN, "sideways")
    assert out.returncode == 2, out


def dead_letters(env):
    return {f["teacher"]: (eid, f) for eid, f in env.r.xrange("rosterd:dead")}


def test_dead_letters_filter_retry_delete_purge(env):
    # Clever unreachable, one attempt: a token-holding teacher ends dead
    # (transient, attempts used up); one without a token fails (permanent)
    d = env.start_rosterd(clever__request_retries=0, sync__max_attempts=1)
    down = "6a" * 12
    env.store_token(down, "tok")
    ps = env.subscribe()
    jobs = [env.enqueue(down, ref="r1"), env.enqueue(NO_TOKEN)]
    res = env.wait_jobs(ps, jobs)
    assert [res[j]["state"] for j in jobs] == ["dead", "failed"], res
    letters = dead_letters(env)

    out = ctl(d, "--json", "dead", "-s", "failed")
    listed = json.loads(out.stdout)
    assert [x["teacher"] for x in listed] == [NO_TOKEN], listed
    assert list(listed[0])[:6] == ["schema", "id", "job", "state", "error",
                                   "message"]
    listed = json.loads(ctl(d, "dead", "--json", "-e",
                            "clever_unavailable").stdout)
    assert [x["teacher"] for x in listed] == [down], listed
    assert ctl(d, "dead", "-s", "held").stdout.strip() == \
        "no dead letters matching"
    assert ctl(d, "dead", "-s", "bogus").returncode == 2

    # a permanent failure is not re-queued without force; unknown ids fail
    failed_id = letters[NO_TOKEN][0]
    out = ctl(d, "retry", failed_id)
    assert out.returncode == 1 and "permanent failure" in out.stdout, out
    assert ctl(d, "retry", "1-1").returncode == 1
    # retry all re-queues the dead one only (and it comes back dead)
    ps2 = env.subscribe()
    out = ctl(d, "retry", "all")
    assert out.returncode == 0 and "1 re-queued, 1 permanent" in out.stdout, out
    again = re.findall(r"re-queued as job (\S+)", out.stdout)
    requeued = [f for _, f in env.r.xrange("rosterd:jobs")
                if f.get("retry_of")]
    assert requeued == [{"teacher": down, "kind": "sync", "ref": "r1",
                         "force": "0", "retry_of": jobs[0]}], requeued
    # with force the permanent one goes too
    out = ctl(d, "retry", failed_id, "force")
    assert out.returncode == 0 and "re-queued as job" in out.stdout, out
    assert failed_id not in [e for e, _ in env.r.xrange("rosterd:dead")]
    again += re.findall(r"re-queued as job (\S+)", out.stdout)

    # delete: by id, unknown is an error; purge needs "all"
    env.wait_jobs(ps2, again, timeout=30)	# both come back to the dead
    eid = env.r.xrange("rosterd:dead")[0][0]
    assert ctl(d, "delete", eid).returncode == 0
    assert ctl(d, "delete", eid).returncode == 1
    assert ctl(d, "purge").returncode == 2
    n = env.r.xlen("rosterd:dead")
    out = ctl(d, "purge", "all")
    assert out.returncode == 0 and "%d dead letters deleted" % n in out.stdout
    assert env.r.xlen("rosterd:dead") == 0


class Notify:
    """A NOTIFY_SOCKET of our own: what rosterd tells systemd."""

    def __init__(self, tmp):
        self.path = os.path.join(tmp, "notify")
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(self.path)
        self.s.settimeout(15)

    def wait(self, text, timeout=30):
        deadline = time.monotonic() + timeout * SLOW
        while True:
            assert time.monotonic() < deadline, "no STATUS with %r" % text
            msg = self.s.recv(4096).decode()
            for line in msg.splitlines():
                if line.startswith("STATUS=") and text in line:
                    return line


def test_pause_lets_in_flight_work_finish_and_starts_nothing(env):
    sbx = env.start_sandbox("--teachers", 4, "--latency-ms", 1500)
    ts = [t for t in sbx.teachers() if t["sections"]][:2]
    for t in ts:
        env.store_token(t["id"], t["token"])
    notify = Notify(env.tmp)
    d = env.start_rosterd(proc_env=dict(os.environ,
                                        NOTIFY_SOCKET=notify.path))
    ps = env.subscribe()
    first = env.enqueue(ts[0]["id"])
    while True:     # wait until the first job runs
        m = ps.get_message(timeout=10)
        assert m is not None, "the first job never started"
        if json.loads(m["data"]).get("state") == "running":
            break
    mark = d.proc.mark()
    out = ctl(d, "pause", "maintenance")
    assert out.returncode == 0 and "maintenance" in out.stdout, out
    assert ctl(d, "pause").returncode == 1     # already paused
    d.proc.wait_line(r"event=paused", start=mark)
    second = env.enqueue(ts[1]["id"])
    # the job in flight finishes
    assert env.wait_jobs(ps, [first])[first]["state"] == "done"
    # the daemon says it is paused, holding nothing: the second never started
    line = notify.wait("paused (maintenance")
    line = notify.wait("paused (maintenance")   # one tick after the enqueue
    assert "0 jobs" in line, line
    assert env.r.hgetall("rosterd:job:" + second) == {}
    st = json.loads(ctl(d, "--json", "stats").stdout)
    assert st["paused"].startswith("maintenance") and \
        st["jobs"]["waiting"] == 1, st
    assert "paused" in ctl(d, "queue").stdout
    # resume: it runs
    assert ctl(d, "resume").returncode == 0
    assert ctl(d, "resume").returncode == 1
    assert env.wait_jobs(ps, [second])[second]["state"] == "done"


def test_watch_follows_one_teacher(env):
    d = env.start_rosterd()
    other = "7b" * 12
    w = Proc([ROSTERCTL, "-c", d.conf_path, "watch", "-n", "2", NO_TOKEN],
             "watch")
    w.wait_line(r"watching rosterd:events")
    env.enqueue(other)
    jid = env.enqueue(NO_TOKEN)
    assert w.p.wait(20) == 0, w.text()
    w.t.join(5)
    lines = [l for l in w.lines if not l.startswith("rosterctl:")]
    assert len(lines) == 2, lines
    assert all(("teacher=%s" % NO_TOKEN) in l and ("job=%s" % jid) in l
               for l in lines), lines
    assert "state=running" in lines[0] and "state=failed" in lines[1] and \
        "error=no_token" in lines[1], lines
    # --json: the events as published, one per line
    w = Proc([ROSTERCTL, "-c", d.conf_path, "--json", "watch", "-n", "1"],
             "watch")
    w.wait_line(r"watching rosterd:events")
    jid = env.enqueue(NO_TOKEN)
    assert w.p.wait(20) == 0
    w.t.join(5)
    ev = json.loads([l for l in w.lines if l.startswith("{")][0])
    assert ev["job"] == jid and ev["state"] == "running", ev


def test_stats_counts_instances_dead_letters_and_waiting_jobs(env):
    a = env.start_rosterd()
    b = env.start_rosterd()
    for d in (a, b):	# ready: its first heartbeat is written
        d.proc.wait_line(r"event=ready")
    env.run(NO_TOKEN)
    env.run(NO_TOKEN)
    st = json.loads(ctl(a, "--json", "stats").stdout)
    names = sorted(i["consumer"] for i in st["instances"] if i["live"])
    assert names == ["rosterd0", "rosterd1"], st["instances"]
    assert st["dead"] == {"total": 2, "failed": 2, "dead": 0, "held": 0}, st
    assert st["jobs"]["length"] == 2 and st["jobs"]["waiting"] == 0, st
    assert st["jobs"]["oldest_waiting_age_ms"] is None, st
    assert {c["name"] for c in st["consumers"]} <= {"rosterd0", "rosterd1"}
    # NO_TOKEN failed no_token: it left the schedule (never in it)
    assert st["schedule"]["scheduled"] == 0 and st["schedule"]["left"] == 1
    out = ctl(a, "stats")
    assert out.returncode == 0 and "2 live" in out.stdout and \
        "2: 2 failed, 0 dead, 0 held" in out.stdout, out.stdout
    assert "0 teachers: 0 due now, 0 overdue, 1 left" in out.stdout
    # an instance that stops leaves the list
    env.daemons[1].stop()
    st = json.loads(ctl(a, "--json", "stats").stdout)
    assert [i["consumer"] for i in st["instances"]] == ["rosterd0"], st


def test_schedule_of_a_teacher_who_left_says_why(env):
    # the reason is read from a reply: it must still be there when printed
    # (tests/run's valgrind stage runs rosterctl under valgrind too)
    d = env.start_rosterd()
    _, st = env.run(NO_TOKEN)
    assert st["state"] == "failed" and st["error"] == "no_token", st
    out = ctl(d, "schedule", NO_TOKEN)
    assert out.returncode == 0, out
    assert "teacher %s: left" % NO_TOKEN in out.stdout, out.stdout
    assert re.search(r"^  because +no_token$", out.stdout, re.M), out.stdout
    me = json.loads(ctl(d, "--json", "schedule", NO_TOKEN).stdout)
    assert me["schema"] == 1 and me["left_because"] == "no_token", me


def test_filters_take_only_the_contracts_error_codes(env):
    d = env.start_rosterd()
    env.run(NO_TOKEN)
    # a code that matches no dead letter: nothing re-queued is a failure
    out = ctl(d, "retry", "-e", "lock_lost", "all")
    assert out.returncode == 1 and "0 re-queued" in out.stdout, out
    assert env.r.xlen("rosterd:dead") == 1
    # an unknown code is a usage error that lists the valid ones
    for cmd in (["dead"], ["retry", "all"], ["purge", "all"]):
        out = ctl(d, cmd[0], "-e", "bogus", *cmd[1:])
        assert out.returncode == 2, (cmd, out)
        assert "unknown error code bogus" in out.stderr and \
            "no_token" in out.stderr and "lock_lost" in out.stderr, out
    out = ctl(d, "retry", "-e", "nomatch", "all")
    assert out.returncode == 2 and "clever_unavailable" in out.stderr, out
    assert env.r.xlen("rosterd:dead") == 1
    out = ctl(d, "--json", "dead", "-e", "bogus")
    err = json.loads(out.stdout)
    assert out.returncode == 2 and err["error"]["code"] == "usage", out
    assert "shrink_guard" in err["error"]["message"], err
