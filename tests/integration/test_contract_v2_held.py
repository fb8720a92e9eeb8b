"""Contract 2, held: the held event carries what would change (added,
updated, removed), and the app's own confirmation (XADD ... force 1, as
doc/shrink-guard.md shows) removes the held dead letter once that forced
sync succeeds, as rosterctl held confirm does."""
import json
import time

from conftest import SLOW, teacher_with_sections
from test_held import hold_one


def held_event(ps, jid, timeout=20):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        m = ps.get_message(timeout=1.0)
        if m is not None and m["type"] == "message":
            ev = json.loads(m["data"])
            if ev.get("job") == jid and ev.get("state") == "held":
                return ev
    raise AssertionError("no held event for %s" % jid)


def dead_letters(env):
    return [(f["teacher"], f["state"]) for _, f in env.r.xrange("rosterd:dead")]


def test_held_event_counts_and_the_apps_confirm_removes_the_letter(env):
    sbx = env.start_sandbox("--teachers", 6, "--seed", 2)
    env.start_rosterd()
    t, u = [t for t in sbx.teachers() if t["sections"]][:2]
    ps = env.subscribe()
    jid, gone = hold_one(env, sbx, t)
    ev = held_event(ps, jid)
    st = env.r.hgetall("rosterd:job:" + jid)
    assert ev["removed"] == int(st["removed"]) >= gone, (ev, st)
    assert ev["added"] == int(st["added"]) and \
        ev["updated"] == int(st["updated"]), (ev, st)
    hold_one(env, sbx, u)			# another teacher's hold stays
    assert dead_letters(env) == [(t["id"], "held"), (u["id"], "held")]
    # the app confirms as documented
    _, st = env.run(t["id"], force=1)
    assert st["state"] == "done" and st["result"] == "changed", st
    assert dead_letters(env) == [(u["id"], "held")]
