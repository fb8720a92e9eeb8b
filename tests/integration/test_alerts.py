"""The shipped alert rules (etc/prometheus/rosterd-alerts.yml), their
runbooks (doc/alerts.md) and the Grafana dashboard
(etc/grafana/rosterd-dashboard.json), checked with Prometheus's own
tools: promtool checks the rules and runs their unit tests
(tests/prometheus/), a real Prometheus accepts every query of the
dashboard, and a real Prometheus scraping two real rosterd instances sees
RosterdQueueStuck fire once both instances' Clever requests hang.

Skipped, saying why, where promtool or prometheus is not installed (CI
installs Debian's prometheus package: .ci/packages)."""
import calendar
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import yaml

from conftest import BUILD, TOP, WRAP, Proc, free_port, store_district_of, \
    wait_for
from test_docs import anchor, anchors

RULES = os.path.join(TOP, "etc", "prometheus", "rosterd-alerts.yml")
RULE_TESTS = os.path.join(TOP, "tests", "prometheus",
                          "rosterd-alerts.test.yml")
DASHBOARD = os.path.join(TOP, "etc", "grafana", "rosterd-dashboard.json")
RUNBOOKS = "doc/alerts.md"


def need(tool):
    path = shutil.which(tool)
    if path is None:
        pytest.skip("%s is not installed (Debian: apt-get install "
                    "prometheus)" % tool)
    return path


def load_rules(path=RULES):
    with open(path) as f:
        return yaml.safe_load(f)


def alerts(doc):
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def promtool(*args):
    out = subprocess.run([need("promtool")] + list(args), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_promtool_accepts_the_rules():
    out = promtool("check", "rules", RULES)
    assert "SUCCESS: %d rules found" % len(alerts(load_rules())) in out, out


def test_the_rules_pass_their_unit_tests():
    assert "SUCCESS" in promtool("test", "rules", RULE_TESTS)


def test_every_alert_says_what_and_where_its_runbook_is():
    sections = anchors(RUNBOOKS)
    for rule in alerts(load_rules()):
        name, ann = rule["alert"], rule.get("annotations", {})
        assert ann.get("summary") and ann.get("description"), name
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        # the runbook is the section of doc/alerts.md named after the alert
        assert ann["runbook_url"] == "%s#%s" % (RUNBOOKS, anchor(name)), name
        assert anchor(name) in sections, name + ": no runbook section"


def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    firing, quiet = set(), set()
    for case in load_rules(RULE_TESTS)["tests"]:
        for t in case.get("alert_rule_test", []):
            (firing if t.get("exp_alerts") else quiet).add(t["alertname"])
    names = {r["alert"] for r in alerts(load_rules())}
    assert names - firing == set(), "no firing case"
    assert names - quiet == set(), "no quiet case"
    assert (firing | quiet) - names == set(), "tests of no alert"


def test_meson_installs_the_rules_and_the_dashboard():
    out = subprocess.run(["meson", "introspect", "--installed", BUILD],
                         capture_output=True, text=True, check=True)
    installed = {os.path.relpath(src, TOP): dest for src, dest in
                 json.loads(out.stdout).items()}
    for path, name in ((RULES, "prometheus/rosterd-alerts.yml"),
                       (DASHBOARD, "grafana/rosterd-dashboard.json")):
        dest = installed.get(os.path.relpath(path, TOP))
        assert dest and dest.endswith("/share/rosterd/" + name), installed


# ---- a real Prometheus ----

class Prometheus:
    """A real prometheus on a free loopback port with its data in tmp:
    scrape and evaluation every second, the given rosterd targets (job
    "rosterd", as the rules expect) and rule files."""

    def __init__(self, tmp, targets=(), rule_files=()):
        binary = need("prometheus")
        self.port = free_port()
        conf = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                           "evaluation_interval": "1s"},
                "rule_files": list(rule_files),
                "scrape_configs": [{"job_name": "rosterd", "static_configs":
                                    [{"targets": list(targets)}]}]}
        path = os.path.join(tmp, "prometheus.yml")
        with open(path, "w") as f:
            yaml.safe_dump(conf, f)
        self.proc = Proc([binary, "--config.file=" + path,
                          "--storage.tsdb.path=" + os.path.join(tmp, "tsdb"),
                          "--web.listen-address=127.0.0.1:%d" % self.port],
                         "prometheus")
        try:
            self.proc.wait_line(r"Server is ready to receive web requests",
                                timeout=60)
        except AssertionError:
            self.proc.stop()
            raise

    def api(self, path, **form):
        """GET (or POST the form to) /api/v1/PATH; the decoded answer,
        errors included (Prometheus answers them in JSON too)."""
        url = "http://127.0.0.1:%d/api/v1/%s" % (self.port, path)
        data = urllib.parse.urlencode(form).encode() if form else None
        try:
            with urllib.request.urlopen(url, data=data, timeout=30) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())

    def query(self, expr):
        """The instant vector of expr: {labels as a sorted tuple: value}."""
        ans = self.api("query", query=expr)
        assert ans["status"] == "success", (expr, ans)
        return {tuple(sorted(s["metric"].items())): float(s["value"][1])
                for s in ans["data"]["result"]}

    def alerts(self, name):
        ans = self.api("alerts")
        assert ans["status"] == "success", ans
        return [a for a in ans["data"]["alerts"]
                if a["labels"]["alertname"] == name]

    def rule(self, name):
        ans = self.api("rules")
        assert ans["status"] == "success", ans
        (rule,) = [r for g in ans["data"]["groups"] for r in g["rules"]
                   if r["name"] == name]
        return rule

    def stop(self):
        self.proc.stop()


# ---- the dashboard ----

def panels(items):
    for p in items:
        yield p
        yield from panels(p.get("panels", []))   # rows hold theirs


# What Grafana puts in place of its variables before it sends a query:
# every instance, and a rate window of a few scrape intervals.
GRAFANA_VARS = {"instance": ".*", "__rate_interval": "1m",
                "__interval": "15s", "__range": "1h"}


def grafana_expand(expr):
    def value(m):
        name = m.group(1) or m.group(2)
        assert name in GRAFANA_VARS, "unknown variable in " + expr
        return GRAFANA_VARS[name]
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", value, expr)


def load_dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def test_the_dashboard_is_grafana_json_over_a_chosen_datasource():
    d = load_dashboard()
    assert d["schemaVersion"] >= 36 and d["title"] and d["uid"]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["instance"]["type"] == "query"
    ps = list(panels(d["panels"]))
    ids = [p["id"] for p in ps]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for p in ps:
        if p["type"] == "row":
            continue
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert "rosterd" in t["expr"] or "process_" in t["expr"], t


def test_prometheus_accepts_every_query_of_the_dashboard(tmp_path):
    prom = Prometheus(str(tmp_path))
    try:
        exprs = [t["expr"] for p in panels(load_dashboard()["panels"])
                 for t in p.get("targets", [])]
        assert len(exprs) >= 20, exprs
        for expr in exprs:
            ans = prom.api("query", query=grafana_expand(expr))
            assert ans["status"] == "success", (expr, ans)
    finally:
        prom.stop()


# ---- the live test ----

TIME_SCALE = 60     # a minute of the shipped rules is a second here
MIN_RANGE_S = 5     # rate(), deriv(), increase() need a few 1 s samples


def seconds(duration):
    """A Prometheus duration (5m, 1h30m, 90s) in seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    parts = re.findall(r"(\d+)([smhdw])", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(int(n) * units[u] for n, u in parts)


def shortened(doc):
    """The rules with time compressed TIME_SCALE-fold: every `for:` and
    every range selector's window divided alike (windows kept to a few
    scrapes).  Compressing every duration by one factor, rather than
    writing test-only values, keeps the shipped expressions as they are
    and their windows in proportion to one another (RosterdQueueStuck's
    10m without a finished job then 5m pending become 10 s and 5 s), so
    the test runs what operators run, in seconds.  Thresholds are not
    time and are kept."""
    def window(m):
        s = max(MIN_RANGE_S, seconds(m.group(1)) // TIME_SCALE)
        return "[%ds]" % s
    for rule in [r for g in doc["groups"] for r in g["rules"]]:
        if "for" in rule:
            rule["for"] = "%ds" % max(1, seconds(rule["for"]) // TIME_SCALE)
        rule["expr"] = re.sub(r"\[(\w+)\]", window, rule["expr"])
    return doc


def test_the_shortened_rules_keep_their_shape():
    short = alerts(shortened(load_rules()))
    stuck = {r["alert"]: r for r in short}["RosterdQueueStuck"]
    assert stuck["for"] == "5s"
    assert "increase(rosterd_jobs_total[10s])" in stuck["expr"]
    assert [r["alert"] for r in short] == [r["alert"] for r in
                                           alerts(load_rules())]
    assert not any(re.search(r"\[\d+[mhdw]", r["expr"]) for r in short)


def evaluated(rule):
    """When Prometheus last evaluated the rule (epoch seconds, whole)."""
    stamp = rule.get("lastEvaluation", "")[:19]
    if not stamp or stamp.startswith("0001"):
        return 0
    return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))


def metrics_target(d):
    _, m = d.proc.wait_line(r"event=metrics_listening .*http://(\S+)/metrics")
    return m.group(1)


def test_a_real_prometheus_sees_the_queue_stuck(env, tmp_path):
    need("prometheus")
    if WRAP:
        # a minute and a half of Prometheus's wall-clock scrapes and rule
        # evaluations under valgrind; rosterd's metrics code is covered there
        # by test_metrics.py, and this test runs on the plain and ASan builds
        pytest.skip("the live Prometheus test runs on the plain and ASan builds")
    rules = os.path.join(str(tmp_path), "rosterd-alerts.yml")
    with open(rules, "w") as f:
        yaml.safe_dump(shortened(load_rules()), f)
    sbx = env.start_sandbox("--teachers", 6, "--seed", 19)
    ts = [t for t in sbx.teachers() if t["sections"]][:5]
    assert len(ts) == 5, ts
    dist = store_district_of(env, sbx, ts[0])
    # one job at a time each, and a hung request is not given up on:
    # work waits in the stream while nothing finishes
    daemons = [env.start_rosterd(metrics__listen="127.0.0.1:0",
                                 sync__concurrency=1,
                                 clever__request_timeout_ms=3600000)
               for _ in range(2)]
    targets = [metrics_target(d) for d in daemons]
    prom = Prometheus(str(tmp_path), targets, [rules])
    try:
        # before the fault: jobs finish, both targets are scraped and the
        # rule evaluated after that, and it is quiet
        _, st = env.run(ts[0]["id"], district=dist)
        assert st["state"] == "done", st
        wait_for(lambda: sorted(prom.query('up{job="rosterd"}').values())
                 == [1, 1], 60, "both instances scraped")
        wait_for(lambda: sorted(prom.query(
            "rosterd_queue_waiting_jobs").values()) == [0, 0], 60,
            "an empty queue scraped from both")
        since = time.time()
        wait_for(lambda: evaluated(prom.rule("RosterdQueueStuck")) > since,
                 60, "RosterdQueueStuck evaluated")
        rule = prom.rule("RosterdQueueStuck")
        assert rule["health"] == "ok" and rule["state"] == "inactive", rule
        assert prom.alerts("RosterdQueueStuck") == []

        # Clever hangs for both: each instance holds one job, the rest wait
        sbx.post("/faults", {"rates": {"stall": 1}})
        for t in ts[1:]:
            env.enqueue(t["id"], district=dist)

        def firing():
            return [a for a in prom.alerts("RosterdQueueStuck")
                    if a["state"] == "firing"]
        try:
            wait_for(firing, 120, "RosterdQueueStuck firing")
        except AssertionError:
            raise AssertionError(("not firing", prom.alerts(
                "RosterdQueueStuck"), {m: prom.query(m) for m in (
                    "rosterd_queue_waiting_jobs", "rosterd_jobs_in_flight",
                    "increase(rosterd_jobs_total[10s]) > 0")}))
        (alert,) = firing()     # one for the deployment, not per instance
        assert alert["labels"] == {"alertname": "RosterdQueueStuck",
                                   "job": "rosterd",
                                   "severity": "critical"}, alert
        assert float(alert["value"]) == 2, alert    # 4 jobs, 2 taken
        assert alert["annotations"]["description"].startswith(
            "2 jobs wait in the queue"), alert
        assert sorted(prom.query("rosterd_jobs_in_flight").values()) == \
            [1, 1]
    finally:
        prom.stop()
