"""Streams stay bounded, and nothing unread is lost: rosterd trims the job
stream behind its acknowledgements and the diffs behind the app's
consumer groups, on its own."""
from conftest import teacher_with_sections


def test_streams_are_trimmed_behind_their_readers(env):
    sbx = env.start_sandbox("--teachers", 4)
    env.r.xgroup_create("rosterd:diffs", "app", id="0", mkstream=True)
    d = env.start_rosterd(retention__interval_ms=300)
    teachers = sbx.teachers()[:3]
    for t in teachers:
        env.store_token(t["id"], t["token"])
        _, st = env.run(t["id"])
        assert st["state"] == "done" and st["result"] == "changed", st
    assert env.r.xlen("rosterd:diffs") == 3
    # the app reads and applies two diffs, the third stays unread
    got = env.r.xreadgroup("app", "w", {"rosterd:diffs": ">"}, count=2)
    read = [e for e, _ in got[0][1]]
    env.r.xack("rosterd:diffs", "app", *read)
    mark = d.proc.mark()
    d.proc.wait_line(r"event=trimmed .* 2 diffs", start=mark, timeout=30)
    left = [e for e, _ in env.r.xrange("rosterd:diffs")]
    assert len(left) == 1 and left[0] not in read, "the unread diff stays"
    # every job was acknowledged: the job stream is empty
    assert env.r.xlen("rosterd:jobs") == 0
    assert not env.r.exists("rosterd:diffs_lost")
