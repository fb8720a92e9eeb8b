"""Streams stay bounded, and nothing unread is lost: rosterd trims the job
stream behind its acknowledgements and the diffs behind the app's
consumer groups, on its own."""
from conftest import teacher_with_sections, wait_for


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


def test_each_partition_is_trimmed_and_its_losses_told(env):
    """[diffs] partitions = 2, a cap of 2 diffs (1 per partition): the app's
    group loses the unread diffs of each partition past the cap; the lost
    hash names the group and partition with where to resume, and an event
    says so too."""
    import binascii
    import json
    sbx = env.start_sandbox("--teachers", 8, "--seed", 4)
    for p in range(2):
        env.r.xgroup_create("rosterd:diffs:%d" % p, "app", id="0",
                            mkstream=True)
    events = env.subscribe()
    d = env.start_rosterd(diffs__partitions=2, retention__interval_ms=300,
                          sync__diff_stream_maxlen=2)
    teachers = sbx.teachers()[:8]
    parts = {binascii.crc32(t["id"].encode()) % 2 for t in teachers}
    assert parts == {0, 1}, "both partitions get diffs"
    for t in teachers:
        env.store_token(t["id"], t["token"])
        _, st = env.run(t["id"])
        assert st["state"] == "done", st
    mark = d.proc.mark()
    d.proc.wait_line(r"event=diffs_lost", start=mark, timeout=30)
    for p in range(2):
        s = "rosterd:diffs:%d" % p
        field = "app:%d" % p
        wrote = sum(1 for t in teachers
                    if binascii.crc32(t["id"].encode()) % 2 == p)
        if wrote < 2:
            continue
        wait_for(lambda: env.r.hexists("rosterd:diffs_lost", field), 10,
                 "the loss of partition %d" % p)
        assert env.r.xlen(s) == 1
        lost = json.loads(env.r.hget("rosterd:diffs_lost", field))
        kept = env.r.xrange(s)[0][0]
        assert lost["resume_from"] == kept
        def sid(i):
            return tuple(map(int, i.split("-")))
        assert sid(lost["first_lost"]) < sid(kept)
        assert lost["at_ms"] > 0
    seen = []
    while True:
        m = events.get_message(timeout=1)
        if m is None:
            break
        if m["type"] == "message":
            ev = json.loads(m["data"])
            if ev.get("event") == "diffs_lost":
                seen.append(ev)
    assert seen and all(ev["field"] == "app:%d" % ev["partition"] and
                        ev["group"] == "app" for ev in seen), seen
