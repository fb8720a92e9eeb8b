"""Diff partitions ([diffs] partitions): a teacher's diffs all go to the
stream crc32(teacher id) mod N, in order, where the app's one consumer per
partition reads them; the number is recorded and a rosterd configured
with another refuses to start; rosterctl and the metrics see every
partition."""
import binascii
import json
import subprocess

from conftest import rosterctl, wait_for
from test_metrics import scrape, scrape_text, start, value

N = 4
GROUP = "app"


def stream(p):
    return "rosterd:diffs:%d" % p


def partition(teacher, n=N):
    # the docs' one-liner
    return binascii.crc32(teacher.encode()) % n


def recorded(env, n):
    """rosterd records the number once it prepared Redis."""
    wait_for(lambda: env.r.get("rosterd:diffs:partitions") == str(n), 10,
             "rosterd:diffs:partitions = %d" % n)


def sync_all(env, teachers):
    ps = env.subscribe()
    try:
        ids = [env.enqueue(t["id"]) for t in teachers]
        got = env.wait_jobs(ps, ids, timeout=60)
    finally:
        ps.close()
    assert all(st["state"] == "done" for st in got.values()), got
    return got


def test_each_teachers_diffs_land_in_order_in_its_partition(env):
    sbx = env.start_sandbox("--teachers", 20, "--seed", 3)
    for p in range(N):
        env.r.xgroup_create(stream(p), GROUP, id="0", mkstream=True)
    d, url = start(env, diffs__partitions=N)
    recorded(env, N)
    teachers = sbx.teachers()[:20]
    for t in teachers:
        env.store_token(t["id"], t["token"])
    sync_all(env, teachers)
    # a second diff for some: each teacher's must follow the first
    for t in teachers[:8]:
        sbx.mutate(op="set_email", user=t["id"],
                   email="moved-%s@example.org" % t["id"])
    sync_all(env, teachers[:8])

    assert not env.r.exists("rosterd:diffs"), "no unpartitioned stream"
    where = {}
    for p in range(N):
        for eid, f in env.r.xrange(stream(p)):
            where.setdefault(f["teacher"], []).append(
                (p, int(f["base_version"]), int(f["version"])))
    assert sorted(where) == sorted(t["id"] for t in teachers)
    for t in teachers:
        got = where[t["id"]]
        assert {p for p, _, _ in got} == {partition(t["id"])}, t["id"]
        assert [(b, v) for _, b, v in got] == \
            [(i, i + 1) for i in range(len(got))], got
    assert len({partition(t["id"]) for t in teachers}) > 1

    # rosterctl diffs: every partition, merged by stream id; one teacher's
    t = teachers[0]
    out = rosterctl("-c", d.conf_path, "--json", "diffs", "-", "1000")
    assert out.returncode == 0, out.stderr
    allof = json.loads(out.stdout)
    ids = [e["id"] for e in allof]
    assert len(ids) == 28
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    out = rosterctl("-c", d.conf_path, "--json", "diffs", t["id"])
    assert out.returncode == 0, out.stderr
    assert [e["version"] for e in json.loads(out.stdout)] == [1, 2] or \
        [e["version"] for e in json.loads(out.stdout)] == ["1", "2"]
    out = rosterctl("-c", d.conf_path, "--json", "stats")
    assert out.returncode == 0, out.stderr
    diffs = json.loads(out.stdout)["diffs"]
    assert diffs["length"] == 28 and diffs["partitions"] == N
    assert sorted(g["partition"] for g in diffs["groups"]) == list(range(N))

    # the metrics: one series per partition, promtool still clean
    _, s = scrape(url)
    for p in range(N):
        assert value(s, "rosterd_diffs_lag", group=GROUP, partition=str(p)) \
            == env.r.xlen(stream(p))
        assert ("rosterd_diffs_pending",
                (("group", GROUP), ("partition", str(p)))) in s
    lint = subprocess.run(["/usr/bin/promtool", "check", "metrics"],
                          input=scrape_text(url), capture_output=True,
                          text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_another_number_of_partitions_refuses_to_start(env):
    env.start_sandbox("--teachers", 2)
    d = env.start_rosterd(diffs__partitions=N)
    recorded(env, N)
    d.stop()
    errors = env.start_refused(diffs__partitions=2)
    text = "\n".join(errors)
    assert "event=partitions_mismatch" in text, text
    # the message gives the procedure
    assert "drain every diff stream" in text and \
        "DEL rosterd:diffs:partitions" in text, text
    assert env.r.get("rosterd:diffs:partitions") == str(N), "left as it was"
    # one partition (the default) is a number like another
    assert env.start_refused()
    # the procedure: the key deleted, the new number is recorded
    env.r.delete("rosterd:diffs:partitions")
    env.start_rosterd(diffs__partitions=2)
    recorded(env, 2)
