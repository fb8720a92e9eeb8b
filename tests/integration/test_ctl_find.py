"""rosterctl find TEACHER / find --ref REF: a teacher's or a ref's jobs
without a job id, newest first: those waiting in the job stream, the
pending ones (read, no status yet) and the finished ones whose status hash
still exists, even once their stream entry is gone."""
import json

from conftest import rosterctl

TEACHER = "5f" * 12
OTHER = "6a" * 12


def ctl(d, *args):
    return rosterctl("-c", d.conf_path, *args)


def test_find_lists_waiting_pending_and_finished_jobs(env):
    d = env.start_rosterd()
    finished, st = env.run(TEACHER, ref="order-1")	# no token: failed
    assert st["state"] == "failed", st
    trimmed, _ = env.run(TEACHER, kind="discover")
    env.run(OTHER, ref="order-1")
    # the stream entry goes (trimmed): the status hash alone tells
    env.r.xdel("rosterd:jobs", trimmed)
    assert d.stop() == 0
    # no instance: one job read but without a status, one not read at all
    pending = env.enqueue(TEACHER, ref="order-1")
    env.r.xreadgroup("rosterd", "ghost", {"rosterd:jobs": ">"}, count=1)
    waiting = env.enqueue(TEACHER, ref="order-2")
    env.enqueue(OTHER)

    out = ctl(d, "--json", "find", TEACHER)
    assert out.returncode == 0, out
    jobs = json.loads(out.stdout)
    assert [(j["job"], j["state"]) for j in jobs] == [
        (waiting, "waiting"), (pending, "pending"), (trimmed, "failed"),
        (finished, "failed")], jobs
    # each as status prints it: the same keys, order and types
    st = json.loads(ctl(d, "--json", "status", finished).stdout)
    assert jobs[-1] == st, (jobs[-1], st)
    assert jobs[-1]["error"] == "no_token" and jobs[-1]["ref"] == "order-1"
    assert jobs[2]["kind"] == "discover", jobs[2]
    for j in jobs[:2]:
        assert list(j)[:6] == ["schema", "job", "state", "teacher", "kind",
                               "trigger"], j
        assert j["created_ms"] == int(j["job"].split("-")[0]), j

    out = ctl(d, "--json", "find", "--ref", "order-1")
    assert out.returncode == 0, out
    jobs = json.loads(out.stdout)
    assert [j["job"] for j in jobs if j["teacher"] == TEACHER] == \
        [pending, finished], jobs
    assert [j["teacher"] for j in jobs].count(OTHER) == 1, jobs

    # for people: one line a job, newest first
    out = ctl(d, "find", TEACHER)
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and len(lines) == 4, out
    assert lines[0].startswith(waiting) and " waiting " in lines[0], lines
    assert "error no_token" in lines[3] and "ref order-1" in lines[3], lines
    assert ctl(d, "find", "-r", "order-2").stdout.startswith(waiting)


def test_find_checks_its_arguments_and_finds_nothing_quietly(env):
    d = env.start_rosterd()
    out = ctl(d, "find", TEACHER)
    assert out.returncode == 0 and "no jobs of teacher" in out.stdout, out
    assert json.loads(ctl(d, "--json", "find", TEACHER).stdout) == []
    for bad in (["find"], ["find", "not an id"], ["find", "--ref", ""],
                ["find", "--ref", "x" * 257], ["find", TEACHER, "more"]):
        assert ctl(d, *bad).returncode == 2, bad
