"""rosterd logging to a real systemd-journald: one teacher's story told by
`journalctl ROSTERD_TEACHER=ID`, the caller in CODE_FILE/CODE_LINE/
CODE_FUNC, no empty fields, and the fallback to stderr when journald is not
there.

journald runs in a private mount namespace (unshare -m): a tmpfs on
/run/systemd holds its sockets, and /run/log is a bind mount of the test's
temp dir, so the journal files can be read from outside.  Needs root (or
the right to unshare); skipped otherwise, saying why.
"""
import json
import os
import shlex
import shutil
import signal
import subprocess

import pytest

from conftest import (EventLog, Proc, ROSTERD, SLOW, WRAP,
                      teacher_with_sections)

JOURNALD = "/lib/systemd/systemd-journald"

# Start journald in the namespace, wait for its socket, run rosterd (the
# test stops it by its pid); journald stops (and syncs) after it.
SCRIPT = r"""
set -e
mount -t tmpfs tmpfs /run/systemd
mount --bind "$LOGDIR" /run/log
mkdir -p /run/log/journal
if [ "$WITH_JOURNALD" = 1 ]; then
    %(journald)s &
    JP=$!
    n=0
    while [ ! -S /run/systemd/journal/socket ]; do
        n=$((n + 1)); [ $n -lt 200 ] || { echo "journald did not start"; exit 1; }
        sleep 0.05
    done
fi
set +e
%(rosterd)s &
RP=$!
echo "namespace ready, rosterd $RP"
wait $RP; rc=$?
if [ "$WITH_JOURNALD" = 1 ]; then kill $JP; wait $JP; fi
exit $rc
"""


def can_unshare():
    if shutil.which("unshare") is None:
        return "unshare(1) is not installed"
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return "cannot create a mount namespace: " + r.stderr.strip()
    return None


def start_in_namespace(env, conf_path, with_journald):
    why = can_unshare()
    if why is None and with_journald and not os.access(JOURNALD, os.X_OK):
        why = JOURNALD + " is not installed"
    if why is not None:
        print("SKIP: " + why)
        pytest.skip(why)
    logdir = os.path.join(env.tmp, "log")
    os.makedirs(logdir)
    script = SCRIPT % {
        "journald": JOURNALD,
        "rosterd": " ".join(shlex.quote(a) for a in
                            WRAP + [ROSTERD, "-c", conf_path])}
    p = Proc(["unshare", "-m", "--propagation", "private", "sh", "-c",
              script], "rosterd-ns",
             env=dict(os.environ, LOGDIR=logdir,
                      WITH_JOURNALD="1" if with_journald else "0"))
    _, m = p.wait_line(r"namespace ready, rosterd (\d+)")
    return NsRosterd(p, int(m.group(1))), os.path.join(logdir, "journal")


class NsRosterd:
    """rosterd in the namespace; stop() is SIGTERM to rosterd itself."""

    def __init__(self, proc, pid):
        self.proc, self.pid = proc, pid

    def wait_line(self, pattern):
        return self.proc.wait_line(pattern)

    def text(self):
        return self.proc.text()

    def stop(self):
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        rc = self.proc.p.wait(30 * SLOW)
        self.proc.t.join(5)
        return rc


def write_conf(env, level="info"):
    path = os.path.join(env.tmp, "journal.conf")
    api = env.sandbox.api if env.sandbox else "http://127.0.0.1:9"
    with open(path, "w") as f:
        f.write("[redis]\n%scommand_timeout_ms = %d\n"
                "[clever]\napi_base = %s\n[daemon]\nconsumer = jr\n"
                "[log]\ntarget = journal\nlevel = %s\n" %
                (env.redis.conf_text(), 5000 * SLOW, api, level))
    return path


def journal(jdir, *match):
    out = subprocess.run(["journalctl", "-D", jdir, "-o", "json",
                          "--no-pager"] + list(match),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [json.loads(l) for l in out.stdout.splitlines() if l.strip()]


def test_journal_tells_one_teachers_story(env):
    sbx = env.start_sandbox("--teachers", 3, "--latency-ms", 200)
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    conf = write_conf(env)
    p, jdir = start_in_namespace(env, conf, True)
    try:
        ps = env.subscribe()
        first = env.enqueue(t["id"], ref="first-ref")
        env.wait_jobs(ps, [first])
        # two requests at once: one syncs, the other is coalesced
        with env.r.pipeline(transaction=True) as pipe:
            pipe.xadd("rosterd:jobs", {"teacher": t["id"], "ref": "b"})
            pipe.xadd("rosterd:jobs", {"teacher": t["id"], "ref": "c"})
            pair = pipe.execute()
        nobody = "5f" * 12
        failed = env.enqueue(nobody)
        bad = env.r.xadd("rosterd:jobs", {"teacher": t["id"],
                                          "token": "SECRET-TOKEN"})
        res = env.wait_jobs(ps, pair + [failed, bad])
        assert sorted(res[j]["result"] for j in pair) == \
            ["coalesced", "no changes"], res
    finally:
        assert p.stop() == 0, p.text()

    story = journal(jdir, "ROSTERD_TEACHER=" + t["id"])
    outcomes = {e["ROSTERD_JOB"]: e for e in story if "ROSTERD_RESULT" in e}
    # every job of the teacher, with its outcome
    assert set(outcomes) == {first, bad} | set(pair), outcomes.keys()
    e = outcomes[first]
    assert e["ROSTERD_RESULT"] == "changed" and e["ROSTERD_REF"] == "first-ref"
    assert int(e["ROSTERD_ADDED"]) > 0 and e["ROSTERD_REMOVED"] == "0", e
    assert e["ROSTERD_EVENT"] == "synced" and e["PRIORITY"] == "6", e
    results = sorted((outcomes[j]["ROSTERD_RESULT"], outcomes[j]["ROSTERD_REF"])
                     for j in pair)
    assert results == [("coalesced", "b"), ("unchanged", "c")] or \
        results == [("coalesced", "c"), ("unchanged", "b")], results
    assert outcomes[bad]["ROSTERD_ERROR"] == "bad_job" and \
        outcomes[bad]["ROSTERD_RESULT"] == "rejected", outcomes[bad]
    # the caller, not the logging code
    assert e["CODE_FILE"] == "daemon/job.c" and e["CODE_FUNC"] == "job_synced"
    assert int(e["CODE_LINE"]) > 0
    # the permanent failure, by its error code
    (f,) = journal(jdir, "ROSTERD_ERROR=no_token")
    assert f["ROSTERD_JOB"] == failed and f["ROSTERD_TEACHER"] == nobody
    assert f["ROSTERD_RESULT"] == "failed" and f["PRIORITY"] == "4", f
    everything = journal(jdir, "SYSLOG_IDENTIFIER=rosterd")
    assert any(x.get("ROSTERD_EVENT") == "started" for x in everything)
    for x in everything:
        # unknown fields are left out, never sent empty
        for k, v in x.items():
            if k.startswith("ROSTERD_") or k.startswith("CODE_"):
                assert v != "", (k, x)
        assert x["CODE_FUNC"] != "emit_journal", x
        assert "SECRET-TOKEN" not in json.dumps(x), x
    started = [x for x in everything if x.get("ROSTERD_EVENT") == "started"][0]
    assert "ROSTERD_JOB" not in started and "ROSTERD_TEACHER" not in started
    assert started["CODE_FILE"] == "daemon/main.c" and \
        started["CODE_FUNC"] == "main", started


def test_journal_target_without_journald_falls_back_to_stderr(env):
    conf = write_conf(env)
    p, _ = start_in_namespace(env, conf, False)
    try:
        p.wait_line(r"event=journal_unavailable .*logging to stderr: "
                    r"journald is not reachable")
        # and the log goes on, on stderr
        p.wait_line(r"rosterd level=info event=redis_ready")
    finally:
        assert p.stop() == 0, p.text()


TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = "00-%s-00f067aa0ba902b7-01" % TRACE


def test_journal_fields_tell_a_sync_from_its_receipt_to_its_diff(env):
    """At info, a sync tells its start (queue wait), its fetch (requests,
    statuses, duration) and its outcome (diff id, duration) as journald
    fields; per request (endpoint, HTTP status) is debug."""
    sbx = env.start_sandbox("--teachers", 3)
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    p, jdir = start_in_namespace(env, write_conf(env), True)
    try:
        _, st = env.run(t["id"], ref="r1")
        assert st["result"] == "changed", st
        job = st["job"]
    finally:
        assert p.stop() == 0, p.text()
    lines = journal(jdir, "ROSTERD_JOB=" + job)
    by = {e.get("ROSTERD_EVENT"): e for e in lines}
    rec = by["received"]
    assert rec["PRIORITY"] == "6" and rec["ROSTERD_ATTEMPT"] == "1", rec
    assert int(rec["ROSTERD_QUEUE_WAIT_MS"]) >= 0, rec
    assert rec["ROSTERD_TRIGGER"] == "app" and rec["ROSTERD_CONSUMER"] == "jr"
    fetched = by["fetched"]
    assert fetched["PRIORITY"] == "6" and int(fetched["ROSTERD_REQUESTS"]) \
        == int(st["requests"]), fetched
    assert "ROSTERD_DURATION_MS" in fetched and "sections 200" in \
        fetched["MESSAGE"], fetched
    out = by["synced"]
    assert out["ROSTERD_DIFF_ID"] == st["diff_id"], out
    assert out["ROSTERD_ATTEMPT"] == "1" and "ROSTERD_DURATION_MS" in out
    assert out["ROSTERD_CONSUMER"] == "jr", out
    # no line per request at info: the volume stays one line per step
    assert "response" not in by and "ROSTERD_TRACE_ID" not in out, by.keys()
    assert [e["ROSTERD_EVENT"] for e in lines
            if e["PRIORITY"] == "6"] == ["received", "fetched", "synced"], \
        [e["MESSAGE"] for e in lines]


def test_an_apps_traceparent_follows_the_job_everywhere(env):
    """The app's W3C traceparent goes to the status, every event, the diff
    entry and every log line of the job (ROSTERD_TRACE_ID, at debug too);
    an invalid one is ignored and its job syncs all the same."""
    sbx = env.start_sandbox("--teachers", 4)
    ts = [t for t in sbx.teachers() if t["sections"]][:2]
    for t in ts:
        env.store_token(t["id"], t["token"])
    p, jdir = start_in_namespace(env, write_conf(env, "debug"), True)
    events = EventLog(env.redis)
    try:
        ps = env.subscribe()
        traced = env.enqueue(ts[0]["id"], traceparent=TRACEPARENT)
        bad = env.enqueue(ts[1]["id"], traceparent=TRACEPARENT.upper())
        res = env.wait_jobs(ps, [traced, bad])
    finally:
        events.stop()
        assert p.stop() == 0, p.text()
    assert res[traced]["traceparent"] == TRACEPARENT, res[traced]
    assert res[bad]["state"] == "done" and "traceparent" not in res[bad]
    evs = events.by_job()
    assert [e["state"] for e in evs[traced]] == ["running", "done"], evs
    assert all(e["traceparent"] == TRACEPARENT for e in evs[traced]), evs
    assert all("traceparent" not in e for e in evs[bad]), evs
    (d,) = env.diffs(ts[0]["id"])
    assert d["traceparent"] == TRACEPARENT and d["id"] == \
        res[traced]["diff_id"], d
    (other,) = env.diffs(ts[1]["id"])
    assert "traceparent" not in other, other
    # every line of the job, the per-request ones too, and only its own
    lines = journal(jdir, "ROSTERD_JOB=" + traced)
    assert {"received", "response", "fetched", "synced"} <= \
        {e.get("ROSTERD_EVENT") for e in lines}, lines
    assert all(e.get("ROSTERD_TRACE_ID") == TRACE for e in lines), \
        [e for e in lines if e.get("ROSTERD_TRACE_ID") != TRACE]
    assert {e["ROSTERD_JOB"] for e in journal(jdir, "ROSTERD_TRACE_ID=" +
                                              TRACE)} == {traced}
    resp = [e for e in lines if e.get("ROSTERD_EVENT") == "response"]
    assert all(e["PRIORITY"] == "7" and e["ROSTERD_ENDPOINT"] and
               e["ROSTERD_HTTP_STATUS"] == "200" for e in resp), resp
    # the invalid one: said at debug, and no trace on its lines
    badlines = journal(jdir, "ROSTERD_JOB=" + bad)
    assert any(e.get("ROSTERD_EVENT") == "bad_traceparent"
               for e in badlines), badlines
    assert not any("ROSTERD_TRACE_ID" in e for e in badlines), badlines
