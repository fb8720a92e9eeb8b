"""Integration harness: real redis-server, the Clever sandbox and the real
rosterd binary, each started per test on free loopback ports in a temp dir.

Nothing here sleeps to synchronise: processes are awaited through the lines
they print (redis "Ready to accept connections", the sandbox "ready" line,
rosterd's structured log events) and jobs through rosterd's published
status changes.

ROSTERD_TEST_REDIS_TLS=1 runs every test's Redis TLS-only (no plaintext
port), with a test CA made per test: Env's clients, rosterd's and
rosterctl's configuration (Redis.conf()) all go over TLS.
"""
import collections
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest
import redis as redislib

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD_DIR", os.path.join(TOP, "build"))
ROSTERD = os.path.join(BUILD, "daemon", "rosterd")
ROSTERCTL = os.path.join(BUILD, "daemon", "rosterctl", "rosterctl")
SANDBOX = os.environ.get("CLEVER_SANDBOX",
                         os.path.join(BUILD, "tests", "sandbox", "clever-sandbox"))
WRAP = shlex.split(os.environ.get("ROSTERD_WRAP", ""))
# valgrind makes everything slower
SLOW = 10 if WRAP else 1
TERMINAL = ("done", "failed", "dead", "held")
# every test's Redis TLS-only (Env.start_redis), when set
SUITE_TLS = os.environ.get("ROSTERD_TEST_REDIS_TLS", "") not in ("", "0")


STUDENT_COLUMNS = ("id", "first", "last", "grade", "extra")


def roster_records(text):
    """A snapshot's roster with its records spelled out, whatever its
    format: students as objects, a section's students as ids (format 2
    stores them as arrays and as indices into the students)."""
    r = json.loads(text)
    if r["format"] == 1:
        return r
    r["students"] = [dict(zip(STUDENT_COLUMNS, s)) for s in r["students"]]
    for s in r["sections"]:
        s["students"] = [r["students"][i]["id"] for i in s["students"]]
    return r


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Proc:
    """A child process whose output lines are collected by a thread, so
    that tests can wait for a line (an event) instead of sleeping."""

    def __init__(self, argv, name, stdout_is_log=False, **kw):
        self.name = name
        self.lines = []
        self.cond = threading.Condition()
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True,
                                  errors="replace", **kw)
        self.t = threading.Thread(target=self._pump, daemon=True)
        self.t.start()

    def _pump(self):
        for line in self.p.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_line(self, pattern, timeout=10, start=0):
        """Wait for a line matching pattern at or after index start;
        return (index, match)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout * SLOW
        with self.cond:
            i = start
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return i, m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and
                                 i >= len(self.lines)):
                    raise AssertionError(
                        "%s: no line matching %r; output:\n%s" %
                        (self.name, pattern, "\n".join(self.lines[-40:])))
                self.cond.wait(left)

    def mark(self):
        with self.cond:
            return len(self.lines)

    def text(self):
        with self.cond:
            return "\n".join(self.lines)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.t.join(5)
        return self.p.returncode


def wait_for(pred, timeout, what):
    """Poll pred until it holds: a state of other processes (servers,
    replication) that publishes no event to await."""
    deadline = time.monotonic() + timeout * SLOW
    while not pred():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


# A certificate, its key and the CA that signed it.
Cert = collections.namedtuple("Cert", "cert key ca")


class TlsFiles:
    """Test certificates made with the openssl CLI in DIR/tls: a CA; signed
    by it, a server certificate for localhost, 127.0.0.1 and ::1 and a
    client certificate; and a second, unrelated CA with a server and a
    client certificate of its own, for what must be refused.  P-256 keys,
    valid for a day, no extended key usage (a certificate serves either
    side, as Redis's replication uses its server certificate)."""

    SERVER_SAN = "DNS:localhost,IP:127.0.0.1,IP:::1"

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "tls")
        os.makedirs(self.dir, exist_ok=True)
        ca = self._ca("ca", "rosterd test CA")
        other = self._ca("other-ca", "another test CA")
        self.ca, self.other_ca = ca.cert, other.cert
        self.server = self._cert("server", "localhost", ca, self.SERVER_SAN)
        self.client = self._cert("client", "rosterd", ca)
        self.other_server = self._cert("other-server", "localhost", other,
                                       self.SERVER_SAN)
        self.other_client = self._cert("other-client", "rosterd", other)

    def _openssl(self, *args):
        out = subprocess.run(["openssl"] + list(args), cwd=self.dir,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, ("openssl",) + args + (out.stderr,)

    def _path(self, name):
        return os.path.join(self.dir, name)

    _EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes"]

    def _ca(self, name, cn):
        self._openssl("req", "-x509", *self._EC, "-keyout", name + ".key",
                      "-out", name + ".pem", "-days", "1", "-subj", "/CN=" + cn,
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return Cert(self._path(name + ".pem"), self._path(name + ".key"), None)

    def _cert(self, name, cn, ca, san=None):
        self._openssl("req", *self._EC, "-keyout", name + ".key",
                      "-out", name + ".csr", "-subj", "/CN=" + cn)
        with open(self._path(name + ".ext"), "w") as f:
            f.write("basicConstraints=CA:FALSE\n")
            if san:
                f.write("subjectAltName=%s\n" % san)
        self._openssl("x509", "-req", "-in", name + ".csr", "-CA", ca.cert,
                      "-CAkey", ca.key, "-CAcreateserial", "-days", "1",
                      "-out", name + ".pem", "-extfile", name + ".ext")
        return Cert(self._path(name + ".pem"), self._path(name + ".key"),
                    ca.cert)


class Redis:
    """A redis-server of the test's own, on a free loopback port.  With
    pki it listens with TLS only (--port 0): the server certificate is
    pki.server, or server (a Cert, e.g. pki.other_server); clients'
    certificates are checked against pki.ca, and required when
    auth_clients."""

    def __init__(self, tmp, extra=(), pki=None, server=None,
                 auth_clients=False, bind="127.0.0.1", port=None):
        self.port = port or free_port()
        self.host = bind.split()[0]
        self.dir = tmp
        self.pki = pki
        self.auth_clients = auth_clients
        self.server = (server or pki.server) if pki else None
        if pki:
            listen = ["--port", "0", "--tls-port", str(self.port),
                      "--tls-cert-file", self.server.cert,
                      "--tls-key-file", self.server.key,
                      "--tls-ca-cert-file", pki.ca,
                      "--tls-auth-clients", "yes" if auth_clients else "no"]
        else:
            listen = ["--port", str(self.port)]
        argv = ["redis-server"] + listen + [
            "--bind"] + bind.split() + ["--save", "", "--appendonly", "no",
            "--dir", tmp] + list(extra)
        self.argv = argv
        self.start()

    @property
    def tls(self):
        return self.pki is not None

    def start(self):
        self.proc = Proc(self.argv, "redis")
        self.proc.wait_line(r"Ready to accept connections")
        self.connect()

    def client_kwargs(self, **kw):
        """redis-py's arguments for a client of this server (over TLS
        when it is TLS-only, trusting the CA of its certificate and with
        the client certificate), decoding replies unless told."""
        args = {"host": self.host, "port": self.port,
                "decode_responses": True}
        if self.tls:
            args.update(ssl=True, ssl_ca_certs=self.server.ca,
                        ssl_cert_reqs="required",
                        ssl_certfile=self.pki.client.cert,
                        ssl_keyfile=self.pki.client.key)
        args.update(kw)
        return args

    def new_client(self, **kw):
        """A client of its own (see client_kwargs)."""
        return redislib.Redis(**self.client_kwargs(**kw))

    def connect(self, password=None):
        """(Re)connect the test's client, as the default user."""
        self.client = self.new_client(password=password)

    def conf(self, files_dir=None):
        """The [redis] settings of rosterd and rosterctl for this server:
        over TLS, the address 127.0.0.1 with the certificate's name
        (localhost) in tls_server_name, the test CA, and the client
        certificate when the server requires one.  files_dir: copy the
        TLS files there first (world-readable), for a rosterd that
        cannot see the test's temp dir."""
        c = {"host": self.host, "port": self.port}
        if not self.tls:
            return c
        files = {"tls_ca_file": self.pki.ca}
        if self.auth_clients:
            files.update(tls_cert_file=self.pki.client.cert,
                         tls_key_file=self.pki.client.key)
        c.update(tls="yes", tls_server_name="localhost")
        for k, path in files.items():
            if files_dir:
                c[k] = os.path.join(files_dir, os.path.basename(path))
                shutil.copyfile(path, c[k])
                os.chmod(c[k], 0o644)
            else:
                c[k] = path
        return c

    def conf_text(self, files_dir=None):
        """conf() as the lines of a [redis] section."""
        return "".join("%s = %s\n" % kv for kv in
                       self.conf(files_dir).items())

    def stop(self):
        self.proc.stop()


SENTINEL_MASTER = "rosterd-primary"


class Sentinel:
    """A redis-server --sentinel on a free loopback port, watching
    SENTINEL_MASTER at the primary's address (quorum 2, down after
    down_after_ms); with pki, TLS-only, and speaking TLS to the servers
    it watches."""

    def __init__(self, tmp, i, primary_port, pki=None, down_after_ms=1000):
        self.port = free_port()
        d = os.path.join(tmp, "sentinel%d" % i)
        os.makedirs(d, exist_ok=True)
        self.conf = os.path.join(d, "sentinel.conf")
        if pki:
            listen = ("port 0\ntls-port %d\ntls-cert-file %s\n"
                      "tls-key-file %s\ntls-ca-cert-file %s\n"
                      "tls-replication yes\ntls-auth-clients no\n" %
                      (self.port, pki.server.cert, pki.server.key, pki.ca))
        else:
            listen = "port %d\n" % self.port
        with open(self.conf, "w") as f:
            f.write("%sbind 127.0.0.1\ndir %s\n"
                    "sentinel monitor %s 127.0.0.1 %d 2\n"
                    "sentinel down-after-milliseconds %s %d\n"
                    "sentinel failover-timeout %s 10000\n"
                    "sentinel parallel-syncs %s 1\n" %
                    (listen, d, SENTINEL_MASTER, primary_port, SENTINEL_MASTER,
                     down_after_ms, SENTINEL_MASTER, SENTINEL_MASTER))
        self.proc = Proc(["redis-server", self.conf, "--sentinel"],
                         "sentinel%d" % i)
        self.proc.wait_line(r"\+monitor master")
        kw = {}
        if pki:
            kw = dict(ssl=True, ssl_ca_certs=pki.ca, ssl_cert_reqs="required")
        self.client = redislib.Redis(host="127.0.0.1", port=self.port,
                                     decode_responses=True, **kw)

    def primary(self):
        host, port = self.client.execute_command(
            "SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER)
        return host, int(port)

    def stop(self):
        self.proc.stop()


class Sandbox:
    def __init__(self, *args):
        argv = [SANDBOX, "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"]
        argv += [str(a) for a in args]
        self.proc = Proc(argv, "sandbox")
        _, m = self.proc.wait_line(r"^ready api=(\S+) control=(\S+)")
        self.api, self.control = m.group(1), m.group(2)

    def get(self, path):
        with urllib.request.urlopen(self.control + path, timeout=10) as r:
            return json.loads(r.read())

    def post(self, path, obj=None):
        req = urllib.request.Request(self.control + path,
                                     data=json.dumps(obj or {}).encode(),
                                     headers={"Content-Type": "application/json"},
                                     method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
            return json.loads(body) if body else None

    def mutate(self, **op):
        return self.post("/mutate", op)

    def teachers(self):
        return self.get("/teachers")

    def stop(self):
        self.proc.stop()


class Rosterd:
    def __init__(self, tmp, redis, sandbox, name="rosterd", wait=True,
                 proc_env=None, **conf):
        self.conf_path = os.path.join(tmp, name + ".conf")
        sections = {
            "redis": dict(redis.conf(), command_timeout_ms=5000 * SLOW),
            "clever": {"api_base": sandbox.api if sandbox else "http://127.0.0.1:9",
                       "retry_base_ms": 20, "retry_max_ms": 200,
                       "request_timeout_ms": 10000 * SLOW},
            "sync": {"retry_base_ms": 50, "retry_max_ms": 500,
                     "concurrency": 16},
            "daemon": {"consumer": name, "stop_timeout_ms": 5000 * SLOW},
            "log": {"level": "debug", "target": "stderr"},
        }
        for k, v in conf.items():
            sec, key = k.split("__", 1)
            sections.setdefault(sec, {})[key] = v
        with open(self.conf_path, "w") as f:
            for sec, kv in sections.items():
                f.write("[%s]\n" % sec)
                for k, v in kv.items():
                    f.write("%s = %s\n" % (k, v))
        self.proc = Proc(WRAP + [ROSTERD, "-c", self.conf_path], name,
                         env=proc_env)
        try:
            self.proc.wait_line(r"event=redis_ready" if wait else
                                r"event=started")
        except AssertionError:
            self.proc.stop()    # not left running after the test
            raise

    def stop(self, sig=signal.SIGTERM):
        rc = self.proc.stop(sig)
        return rc


class EventLog:
    """Every status change published on rosterd:events while it runs,
    collected by a thread.  It subscribes again after a Redis restart
    (what was published while Redis was down is lost with it)."""

    def __init__(self, redis):
        self.redis = redis
        self.events = []
        self.cond = threading.Condition()
        self.stopping = False
        self.ready = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()
        assert self.ready.wait(10), "could not subscribe to rosterd:events"

    def _run(self):
        while not self.stopping:
            try:
                c = self.redis.new_client()
                ps = c.pubsub(ignore_subscribe_messages=True)
                ps.subscribe("rosterd:events")
                ps.get_message(timeout=1)   # the confirmation
                self.ready.set()
                while not self.stopping:
                    m = ps.get_message(timeout=0.2)
                    if m is not None and m["type"] == "message":
                        with self.cond:
                            self.events.append(json.loads(m["data"]))
                            self.cond.notify_all()
                ps.close()
            except (redislib.ConnectionError, OSError):
                # Redis restarting: try again (no event to await here)
                time.sleep(0.1)

    def stop(self):
        self.stopping = True
        self.t.join(5)

    def by_job(self):
        out = {}
        with self.cond:
            for ev in self.events:
                out.setdefault(ev.get("job"), []).append(ev)
        return out

    def regressions(self):
        """Jobs whose status went from a final state back to another."""
        bad = {}
        for job, evs in self.by_job().items():
            states = [e.get("state") for e in evs]
            for a, b in zip(states, states[1:]):
                if a in TERMINAL and b not in TERMINAL:
                    bad[job] = states
        return bad


class Env:
    """One test's world: Redis, the sandbox, rosterd instances.  tls: the
    Redis of start_redis() is TLS-only unless told otherwise (the suite's
    mode, ROSTERD_TEST_REDIS_TLS)."""

    def __init__(self, tmp, tls=SUITE_TLS):
        self.tmp = tmp
        self.tls = tls
        self._pki = None
        self.redis = None
        self.sandbox = None
        self.daemons = []

    @property
    def r(self):
        return self.redis.client

    @property
    def pki(self):
        """The test's certificates (TlsFiles), made on first use."""
        if self._pki is None:
            self._pki = TlsFiles(self.tmp)
        return self._pki

    def start_redis(self, extra=(), tls=None, **kw):
        """(Re)start the test's Redis, the previous one stopped: TLS-only
        when tls (None: as self.tls), with Redis's keyword arguments
        (server, auth_clients, bind)."""
        if self.redis:
            self.redis.stop()
        use_tls = self.tls if tls is None else tls
        self.redis = Redis(self.tmp, extra, pki=self.pki if use_tls else None,
                           **kw)
        return self.redis

    def start_sandbox(self, *args):
        if self.sandbox:
            self.sandbox.stop()
        self.sandbox = Sandbox(*args)
        return self.sandbox

    def start_rosterd(self, name="rosterd", wait=True, proc_env=None, **conf):
        """Start rosterd; wait=True: until it is connected to Redis."""
        d = Rosterd(self.tmp, self.redis, self.sandbox,
                    name="%s%d" % (name, len(self.daemons)), wait=wait,
                    proc_env=proc_env, **conf)
        self.daemons.append(d)
        return d

    def start_refused(self, **conf):
        """Start rosterd expecting it to refuse to work, with exit status
        78 (EX_CONFIG); return its error lines."""
        d = self.start_rosterd(wait=False, **conf)
        self.daemons.remove(d)
        assert d.proc.p.wait(30 * SLOW) == 78, d.proc.text()[-3000:]
        d.proc.t.join(5)
        return [l for l in d.proc.text().splitlines() if "level=error" in l]

    # ---- the app side of the contract ----
    def store_token(self, teacher, token, ttl=3600):
        self.r.set("rosterd:token:" + teacher, token, ex=ttl)

    def store_district_token(self, district, token):
        self.r.set("rosterd:district_token:" + district, token)

    def enqueue(self, teacher, kind="sync", **fields):
        f = {"teacher": teacher, "kind": kind}
        f.update({k: str(v) for k, v in fields.items()})
        return self.r.xadd("rosterd:jobs", f)

    def wait_jobs(self, pubsub, job_ids, timeout=20):
        """Wait for a terminal state of each job, from published events."""
        want = set(job_ids)
        got = {}
        deadline = time.monotonic() + timeout * SLOW
        # a job may have finished before we looked: check the status first
        for j in list(want):
            st = self.r.hgetall("rosterd:job:" + j)
            if st.get("state") in TERMINAL:
                got[j] = st
                want.discard(j)
        while want:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("jobs not finished: %s; statuses: %s" % (
                    want, {j: self.r.hgetall("rosterd:job:" + j) for j in want}))
            m = pubsub.get_message(timeout=min(left, 1.0))
            if m is None or m["type"] != "message":
                # re-check statuses (an event may precede our subscription)
                for j in list(want):
                    st = self.r.hgetall("rosterd:job:" + j)
                    if st.get("state") in TERMINAL:
                        got[j] = st
                        want.discard(j)
                continue
            ev = json.loads(m["data"])
            if ev.get("job") in want and ev.get("state") in TERMINAL:
                want.discard(ev["job"])
                got[ev["job"]] = self.r.hgetall("rosterd:job:" + ev["job"])
        return got

    def subscribe(self):
        ps = self.r.pubsub(ignore_subscribe_messages=True)
        ps.subscribe("rosterd:events")
        # wait for the subscription to be confirmed
        ps.get_message(timeout=1)
        return ps

    def run(self, teacher, kind="sync", timeout=20, **fields):
        """Enqueue one job and wait for its terminal status."""
        ps = self.subscribe()
        try:
            jid = self.enqueue(teacher, kind, **fields)
            return jid, self.wait_jobs(ps, [jid], timeout)[jid]
        finally:
            ps.close()

    def diffs(self, teacher=None):
        out = []
        for eid, f in self.r.xrange("rosterd:diffs"):
            if teacher is None or f["teacher"] == teacher:
                f = dict(f)
                f["id"] = eid
                f["diff"] = json.loads(f["diff"])
                out.append(f)
        return out

    def snapshot(self, teacher):
        h = self.r.hgetall("rosterd:snapshot:{%s}" % teacher)
        return h

    def close(self):
        rcs = []
        for d in self.daemons:
            rcs.append((d, d.stop()))
        if self.sandbox:
            self.sandbox.stop()
        if self.redis:
            self.redis.stop()
        return rcs


def exit_report(proc):
    """What explains a bad exit: valgrind's own lines (==PID==, wherever
    they fell among the debug log) first, then the log's tail."""
    lines = proc.text().split("\n")
    vg = [ln for ln in lines if re.match(r"==\d+== ", ln)]
    return "\n".join(vg[:200] + ["--- log tail:", "\n".join(lines)[-3000:]])


@pytest.fixture
def env():
    with tempfile.TemporaryDirectory(prefix="rosterd-it-") as tmp:
        e = Env(tmp)
        e.start_redis()
        try:
            yield e
        finally:
            rcs = e.close()
        for d, rc in rcs:
            # a clean exit; under valgrind also "no leaks, no errors"
            assert rc == 0, "%s exited %s:\n%s" % (
                d.proc.name, rc, exit_report(d.proc))


def store_district_of(env, sbx, t):
    """Store the token of teacher t's district; return the district id."""
    (dist,) = [d for d in sbx.get("/districts") if d["id"] == t["district"]]
    env.store_district_token(dist["id"], dist["token"])
    return dist["id"]


def teacher_with_sections(sbx, min_sections=2):
    for t in sbx.teachers():
        if len(t["sections"]) >= min_sections:
            return t
    raise AssertionError("sandbox has no teacher with %d sections" % min_sections)


def api_get(sbx, path, token):
    """GET a Clever API path from the sandbox with a token, as JSON."""
    req = urllib.request.Request(sbx.api + "/v3.0" + path,
                                 headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def etags_once(env, t, test, timeout=10):
    """The ETag record is written just after the job's status: wait until
    test(record or None) holds."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        rec = env.r.hget("rosterd:state:{%s}" % t["id"], "etags")
        if test(rec):
            return rec
        assert time.monotonic() < deadline, rec
        time.sleep(0.01)


def rosterctl(*args, input=None):
    """rosterctl, under ROSTERD_WRAP as rosterd is (the valgrind stage:
    an invalid read or a leak is exit status 99)."""
    return subprocess.run(WRAP + [ROSTERCTL] + [str(a) for a in args],
                          input=input, capture_output=True, text=True,
                          timeout=60 * SLOW)
