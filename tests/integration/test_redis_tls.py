"""Redis over TLS ([redis] tls): rosterd and rosterctl verify the server
with the configured CA and host name, give a client certificate when the
server asks for one, and never talk to Redis in clear text.  Real
redis-servers listening with TLS only (--port 0); the certificates are
made by the test (conftest.TlsFiles: a test CA, and another CA whose
certificates must be refused)."""
import json
import os
import re
import signal
import socket
import struct
import subprocess
import threading

import pytest

from conftest import ROSTERD, SUITE_TLS, rosterctl, teacher_with_sections

NO_TOKEN = "5f" * 12		# a teacher id nobody stored a token for
EX_CONFIG = 78			# a configuration error, as a denied permission

# What an event=redis_* line says when TLS refuses the server or is
# refused by it: the certificate, the host name check, the verification.
HOST_NAME = r"(?i:host ?name|certificate|verif)"
UNTRUSTED = r"(?i:certificate|verif|issuer)"
NO_CLIENT_CERT = r"(?i:certificate|handshake|alert)"


def tls_world(env, teachers=3, **redis):
    """A TLS-only Redis (whatever the suite's mode) and a sandbox."""
    env.start_redis(tls=True, **redis)
    return env.start_sandbox("--teachers", teachers)


def sync_one(env, sbx):
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    _, st = env.run(t["id"])
    assert st["state"] == "done" and st["result"] == "changed", st
    return t


def assert_refused(env, d, why):
    """rosterd d cannot work with this Redis: an event=redis_* line says
    why, it never becomes ready and a job stays untouched.  It may keep
    trying (exit status 0 on SIGTERM) or give up as on a configuration
    error (78); then it is stopped here."""
    refused = r"event=redis_\w+.*" + why
    i, _ = d.proc.wait_line(refused, timeout=10)
    jid = env.enqueue(NO_TOKEN)
    # the next attempt, refused too (or rosterd gave up and exited): a
    # wrongly accepted connection would have shown as redis_ready first
    try:
        d.proc.wait_line("cannot connect.*" + why + "|event=redis_ready",
                         timeout=10, start=i + 1)
    except AssertionError:
        assert d.proc.p.poll() is not None, "neither retried nor exited"
    assert "event=redis_ready" not in d.proc.text()
    assert not env.r.exists("rosterd:job:" + jid)
    assert env.r.xinfo_groups("rosterd:jobs") == [], "rosterd prepared Redis"
    env.daemons.remove(d)
    rc = d.stop()
    assert rc in (0, EX_CONFIG), (rc, d.proc.text()[-3000:])


def test_a_sync_over_tls_with_the_server_verified_by_the_ca_file(env):
    sbx = tls_world(env)
    d = env.start_rosterd()
    with open(d.conf_path) as f:
        conf = f.read()
    assert "tls = yes" in conf and "tls_ca_file = " in conf, conf
    assert "tls_server_name = localhost" in conf, conf
    t = sync_one(env, sbx)
    assert [x["teacher"] for x in env.diffs()] == [t["id"]]
    # nothing but TLS could have carried it
    assert env.r.config_get("port") == {"port": "0"}
    assert env.r.config_get("tls-port") == {"tls-port": str(env.redis.port)}


def test_the_host_name_is_checked_when_no_server_name_is_set(env):
    """host = localhost: resolved, sent in SNI and matched against the
    certificate's DNS name."""
    sbx = tls_world(env, bind="127.0.0.1 -::1")
    env.start_rosterd(redis__host="localhost", redis__tls_server_name="")
    sync_one(env, sbx)


def test_a_wrong_host_name_is_refused(env):
    tls_world(env)
    d = env.start_rosterd(wait=False, redis__tls_server_name="wrong.example")
    assert_refused(env, d, HOST_NAME)


@pytest.mark.parametrize("case", ["other_ca", "system_store"])
def test_a_server_certificate_rosterd_does_not_trust_is_refused(env, case):
    """Signed by a CA other than tls_ca_file's; or the test CA's, which
    the system's trust store (tls_ca_file empty) does not hold."""
    if case == "other_ca":
        tls_world(env, server=env.pki.other_server)
        d = env.start_rosterd(wait=False)
    else:
        tls_world(env)
        d = env.start_rosterd(wait=False, redis__tls_ca_file="")
    assert_refused(env, d, UNTRUSTED)


def test_a_client_certificate_is_given_when_the_server_requires_one(env):
    sbx = tls_world(env, auth_clients=True)
    d = env.start_rosterd()
    with open(d.conf_path) as f:
        assert "tls_cert_file = " in f.read()
    sync_one(env, sbx)


@pytest.mark.parametrize("case", ["none", "other_ca"])
def test_without_a_client_certificate_the_server_accepts_no_connection(env,
                                                                    case):
    """--tls-auth-clients yes: no certificate, or one the server's CA did
    not sign, and the server refuses rosterd."""
    tls_world(env, auth_clients=True)
    if case == "none":
        d = env.start_rosterd(wait=False, redis__tls_cert_file="",
                              redis__tls_key_file="")
    else:
        d = env.start_rosterd(wait=False,
                              redis__tls_cert_file=env.pki.other_client.cert,
                              redis__tls_key_file=env.pki.other_client.key)
    assert_refused(env, d, NO_CLIENT_CERT)


def check(env, text):
    """rosterd -n on a configuration file of text."""
    path = os.path.join(env.tmp, "check.conf")
    with open(path, "w") as f:
        f.write(text)
    return subprocess.run([ROSTERD, "-n", "-c", path], capture_output=True,
                          text=True, timeout=30)


def test_the_check_refuses_tls_settings_that_would_not_hold(env):
    ca, client = env.pki.ca, env.pki.client
    out = check(env, "[redis]\ntls_ca_file = %s\n" % ca)
    assert out.returncode == 78, out
    assert "[redis] tls_ca_file is set but tls = no" in out.stderr, out
    out = check(env, "[redis]\ntls = yes\ntls_cert_file = %s\n"
                "tls_key_file = /nonexistent/client.key\n" % client.cert)
    assert out.returncode == 78, out
    assert "[redis] tls_key_file: cannot read \"/nonexistent/client.key\"" \
        in out.stderr, out
    out = check(env, "[redis]\ntls = yes\ntls_cert_file = %s\n" % client.cert)
    assert out.returncode == 78, out
    assert "tls_cert_file is set without tls_key_file" in out.stderr, out
    out = check(env, "[redis]\ntls = yes\nunix_socket = /run/redis.sock\n")
    assert out.returncode == 78 and "unix_socket" in out.stderr, out
    out = check(env, "[redis]\ntls = yes\ntls_ca_file = %s\n"
                "tls_server_name = localhost\ntls_cert_file = %s\n"
                "tls_key_file = %s\n" % (ca, client.cert, client.key))
    assert out.returncode == 0 and out.stdout == "configuration OK\n", out


def test_rosterctl_over_tls(env):
    sbx = tls_world(env, auth_clients=True)
    d = env.start_rosterd()
    d.proc.wait_line(r"event=ready")		# its first heartbeat
    sync_one(env, sbx)
    out = rosterctl("-c", d.conf_path, "--json", "stats")
    assert out.returncode == 0, out
    st = json.loads(out.stdout)
    assert [i["consumer"] for i in st["instances"] if i["live"]] == \
        ["rosterd0"], st
    out = rosterctl("-c", d.conf_path, "queue")
    assert out.returncode == 0 and "rosterd0" in out.stdout, out
    # it verifies the server as rosterd does
    with open(d.conf_path) as f:
        text = f.read()
    wrong = os.path.join(env.tmp, "wrong.conf")
    with open(wrong, "w") as f:
        f.write(text.replace("tls_server_name = localhost",
                             "tls_server_name = wrong.example"))
    out = rosterctl("-c", wrong, "queue")
    assert out.returncode == 3, out
    assert re.search(HOST_NAME, out.stderr), out


def test_a_reload_keeps_the_tls_settings_in_force(env):
    """TLS settings take effect at the next restart: a reload says so,
    and a reconnection still uses those of the start."""
    sbx = tls_world(env)
    d = env.start_rosterd()
    with open(d.conf_path) as f:
        text = f.read()
    with open(d.conf_path, "w") as f:
        f.write(text.replace("tls_server_name = localhost",
                             "tls_server_name = wrong.example"))
    mark = d.proc.mark()
    d.proc.p.send_signal(signal.SIGHUP)
    d.proc.wait_line(r"event=reload_partial.*TLS", start=mark)
    d.proc.wait_line(r"event=reloaded", start=mark)
    env.redis.stop()
    env.redis.start()
    d.proc.wait_line(r"event=redis_ready", start=mark, timeout=20)
    sync_one(env, sbx)


class LoopbackCapture:
    """Every TCP payload to or from port on the loopback interface, one
    byte string per direction, read by a thread from a packet socket
    (needs CAP_NET_RAW, as tcpdump does)."""

    def __init__(self, port):
        self.port = port
        self.flows = {}
        self.segments = []
        self.stopping = False
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                               socket.htons(0x0003))	# ETH_P_ALL
        self.s.bind(("lo", 0))
        self.s.settimeout(0.1)
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stopping:
            try:
                frame, addr = self.s.recvfrom(1 << 18)
            except socket.timeout:
                continue
            if addr[2] == socket.PACKET_OUTGOING:
                continue	# each loopback packet is also seen coming in
            seg = self.tcp(frame)
            if seg and self.port in seg[:2] and seg[2]:
                self.segments.append(seg[2])
                self.flows[seg[:2]] = self.flows.get(seg[:2], b"") + seg[2]

    @staticmethod
    def tcp(frame):
        """(source port, destination port, payload) of an Ethernet frame
        carrying TCP over IPv4 or IPv6, or None."""
        kind = struct.unpack("!H", frame[12:14])[0]
        if kind == 0x0800 and frame[23] == 6:
            ip_end = 14 + struct.unpack("!H", frame[16:18])[0]
            tcp = 14 + (frame[14] & 0x0f) * 4
        elif kind == 0x86dd and frame[20] == 6:
            ip_end = 54 + struct.unpack("!H", frame[18:20])[0]
            tcp = 54
        else:
            return None
        sport, dport = struct.unpack("!HH", frame[tcp:tcp + 4])
        return sport, dport, frame[tcp + (frame[tcp + 12] >> 4) * 4:ip_end]

    def stop(self):
        self.stopping = True
        self.t.join(5)
        self.s.close()


def test_no_token_crosses_to_redis_in_clear_text(env):
    sbx = tls_world(env)
    # redis-server has no plaintext port that anything could use
    assert env.r.config_get("port") == {"port": "0"}
    try:
        cap = LoopbackCapture(env.redis.port)
    except (PermissionError, OSError) as e:
        pytest.skip("cannot capture on the loopback interface (%s): "
                    "only the disabled plaintext port was checked" % e)
    try:
        env.start_rosterd()
        t = sync_one(env, sbx)
    finally:
        cap.stop()
    # the capture saw the connections: TLS handshake records
    assert any(s[:2] == b"\x16\x03" for s in cap.segments), cap.segments[:5]
    for flow, data in cap.flows.items():
        assert t["token"].encode() not in data, flow
        # not even the protocol: no key name, no command in clear
        assert b"rosterd:" not in data and b"EVALSHA" not in data, flow


def test_the_suite_redis_is_tls_only_when_asked(env):
    """ROSTERD_TEST_REDIS_TLS=1: every test's Redis TLS-only, and
    rosterd configured for it (conftest.Env.start_redis)."""
    assert env.redis.tls == SUITE_TLS
    want = "0" if SUITE_TLS else str(env.redis.port)
    assert env.r.config_get("port") == {"port": want}
    assert ("tls" in env.redis.conf()) == SUITE_TLS
