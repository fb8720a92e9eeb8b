"""rosterd under the real systemd 252: systemd runs as PID 1 in private
pid, mount and cgroup namespaces (unshare), with /etc overlaid, /run on a
tmpfs, a volatile journal and the generators masked, and the shipped unit
(systemd/rosterd.service.in, as meson makes it) runs the built rosterd.  Redis and the sandbox
are the test's own, on loopback.

These tests need root and a machine where systemd can boot like that; they
skip, saying why, where it cannot.  They run on the plain build only: what
they test is systemd's view, which ASan and valgrind do not change."""
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import BUILD, ROSTERD, SLOW, WRAP, teacher_with_sections

SYSTEMD = "/lib/systemd/systemd"

BOOT = r"""
set -e
mount --make-rprivate /
mount -t overlay overlay -o lowerdir=/etc,upperdir="$D/up",workdir="$D/work" /etc
mount -t tmpfs tmpfs /run
# the host's /tmp is not ours to clean (systemd-tmpfiles would)
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /var/tmp
mkdir -p /etc/systemd/system-generators /etc/systemd/journald.conf.d
for g in /lib/systemd/system-generators/*; do
    ln -sf /dev/null "/etc/systemd/system-generators/${g##*/}"
done
# nothing of the machine's boot (sysctl, modules, tmpfiles, timers, ...):
# only the journal and the units under test
for u in /lib/systemd/system/*.wants/* /etc/systemd/system/*.wants/*; do
    case "${u##*/}" in
    systemd-journald.service|systemd-journald*.socket) ;;
    *) ln -sf /dev/null "/etc/systemd/system/${u##*/}" ;;
    esac
done
printf '[Journal]\nStorage=volatile\n' > /etc/systemd/journald.conf.d/volatile.conf
printf '[Unit]\nDescription=rosterd tests\nRequires=systemd-journald.socket\n' \
    > /etc/systemd/system/rosterd-test.target
exec %s --system --unit=rosterd-test.target --log-target=null
""" % SYSTEMD


def why_not():
    """Why systemd cannot be booted here, or None."""
    if WRAP or "asan" in os.path.basename(BUILD):
        return "systemd tests run on the plain build only"
    if os.geteuid() != 0:
        return "systemd as PID 1 needs root"
    for p in ("unshare", "nsenter"):
        if shutil.which(p) is None:
            return "%s not found" % p
    if not os.access(SYSTEMD, os.X_OK):
        return "%s not found" % SYSTEMD
    if os.path.realpath(BUILD).startswith("/tmp/"):
        # the unit's PrivateTmp= would hide the binary and its files
        return "the build is under /tmp, which the unit's PrivateTmp= hides"
    return None


class Systemd:
    """systemd as PID 1 of private namespaces; commands run inside them."""

    def __init__(self):
        # outside /tmp: the unit has PrivateTmp=, and the dynamic user
        # must read its configuration and the binary
        self.dir = tempfile.mkdtemp(prefix="systemd-test-", dir=BUILD)
        os.chmod(self.dir, 0o755)
        for d in ("up", "work"):
            os.mkdir(os.path.join(self.dir, d))
        self.p = subprocess.Popen(
            ["unshare", "-m", "-p", "-f", "-C", "--mount-proc",
             "/bin/sh", "-c", BOOT], env=dict(os.environ, D=self.dir),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
            # a session of its own: systemd as PID 1 claims the console
            start_new_session=True)
        self.pid = self._pid1()
        private = "/proc/%d/root/run/systemd/private" % self.pid
        deadline = time.monotonic() + 30
        while not os.path.exists(private):	# systemd's bus socket
            if time.monotonic() > deadline or self.p.poll() is not None:
                self.close()
                raise RuntimeError("systemd made no bus socket")
            time.sleep(0.05)
        r = self.run("systemctl", "is-system-running", "--wait",
                     timeout=60)
        if r.stdout.strip() not in ("running", "degraded"):
            out = r.stdout + r.stderr
            self.close()
            raise RuntimeError("systemd did not boot: %s" % out)

    def _pid1(self):
        """The namespace's PID 1: unshare's child."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with open("/proc/%d/task/%d/children" %
                          (self.p.pid, self.p.pid)) as f:
                    kids = f.read().split()
            except OSError:
                kids = []
            if kids:
                pid = int(kids[0])
                with open("/proc/%d/cmdline" % pid) as f:
                    if f.read().startswith(SYSTEMD):
                        return pid
            if self.p.poll() is not None:
                raise RuntimeError("unshare failed: %s" % self.p.stdout.read())
            time.sleep(0.05)	# the exec of systemd is not an event we see
        raise RuntimeError("systemd did not start")

    def run(self, *argv, timeout=30):
        return subprocess.run(["nsenter", "-t", str(self.pid), "-m", "-p",
                               "--"] + list(argv), capture_output=True,
                              stdin=subprocess.DEVNULL, text=True,
                              timeout=timeout * SLOW)

    def show(self, unit, prop):
        return self.run("systemctl", "show", "-P", prop, unit).stdout.strip()

    def install(self, name, text):
        path = "/etc/systemd/system/" + name
        r = subprocess.run(["nsenter", "-t", str(self.pid), "-m", "--",
                            "sh", "-c", 'mkdir -p "${1%/*}" && cat > "$1"',
                            "-", path], input=text, text=True,
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert self.run("systemctl", "daemon-reload").returncode == 0

    def close(self):
        try:
            os.kill(self.pid, 9)	# the namespace dies with its PID 1
        except (OSError, AttributeError):
            pass
        self.p.wait(30)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def sd():
    reason = why_not()
    if reason:
        pytest.skip(reason)
    try:
        s = Systemd()
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        pytest.skip("cannot boot systemd as PID 1 here: %s" % e)
    yield s
    s.close()


def install_rosterd(sd, env, conf):
    """The shipped unit, running the built rosterd on a configuration of
    the test's Redis and sandbox."""
    path = os.path.join(sd.dir, "rosterd.conf")
    sections = {
        # TLS files copied where the unit's dynamic user can read them
        "redis": env.redis.conf(files_dir=sd.dir),
        "clever": {"api_base": env.sandbox.api if env.sandbox else
                   "http://127.0.0.1:9", "retry_base_ms": 20,
                   "retry_max_ms": 200},
        "sync": {"retry_base_ms": 50, "retry_max_ms": 500},
        "daemon": {"consumer": "systemd"},
    }
    for k, v in conf.items():
        sec, key = k.split("__", 1)
        sections.setdefault(sec, {})[key] = v
    with open(path, "w") as f:
        for sec, kv in sections.items():
            f.write("[%s]\n" % sec)
            for k, v in kv.items():
                f.write("%s = %s\n" % (k, v))
    os.chmod(path, 0o644)
    # the unit meson made from systemd/rosterd.service.in
    with open(os.path.join(BUILD, "systemd", "rosterd.service")) as f:
        unit = f.read()
    installed = re.search(r"^ExecStart=(\S+)", unit, re.M).group(1)
    unit = unit.replace(installed, ROSTERD)
    unit = unit.replace("/etc/rosterd/rosterd.conf", path)
    sd.run("systemctl", "stop", "rosterd")
    sd.run("systemctl", "reset-failed", "rosterd")
    sd.install("rosterd.service", unit)
    return path


def wait_for(what, pred, timeout=20):
    deadline = time.monotonic() + timeout * SLOW
    while not pred():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.1)	# systemd's properties change without an event to us


def test_reload_checks_the_file_and_status_shows_a_refused_reload(sd, env):
    conf = install_rosterd(sd, env, {})
    r = sd.run("systemctl", "start", "rosterd")
    assert r.returncode == 0, r.stderr + sd.run(
        "journalctl", "-u", "rosterd", "--no-pager").stdout
    pid = sd.show("rosterd", "MainPID")
    with open(conf, "a") as f:
        f.write("[sync]\nconcurency = 3\n")
    r = sd.run("systemctl", "reload", "rosterd")
    assert r.returncode != 0, "a reload of an invalid file must fail"
    assert sd.show("rosterd", "ActiveState") == "active"
    assert sd.show("rosterd", "MainPID") == pid
    # a SIGHUP that bypasses the check: rosterd refuses, STATUS says so
    sd.run("systemctl", "kill", "-s", "HUP", "--kill-who=main", "rosterd")
    wait_for("STATUS to show the refused reload", lambda: "reload refused"
             in sd.show("rosterd", "StatusText"))
    assert "concurency" in sd.show("rosterd", "StatusText")
    with open(conf) as f:
        good = f.read().replace("concurency = 3", "max_attempts = 2")
    with open(conf, "w") as f:
        f.write(good)
    r = sd.run("systemctl", "reload", "rosterd")
    assert r.returncode == 0, r.stderr
    wait_for("STATUS to forget the refused reload", lambda: "reload refused"
             not in sd.show("rosterd", "StatusText"))
    assert sd.run("systemctl", "stop", "rosterd").returncode == 0


def test_a_stop_timeout_longer_than_the_units_is_honoured(sd, env):
    """stop_timeout_ms (4 s) beyond TimeoutStopSec (2 s): rosterd extends
    the stop timeout itself, drains for its full time, exits cleanly."""
    sbx = env.start_sandbox("--teachers", 2, "--fault", "stall=1")
    install_rosterd(sd, env, {"daemon__stop_timeout_ms": 4000,
                              "clever__request_timeout_ms": 60000})
    sd.install("rosterd.service.d/stop.conf", "[Service]\nTimeoutStopSec=2\n")
    assert sd.run("systemctl", "start", "rosterd").returncode == 0
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    jid = env.enqueue(t["id"])
    wait_for("the sync to be stalled in Clever",
             lambda: env.r.hget("rosterd:job:" + jid, "state") == "running")
    r = sd.run("systemctl", "stop", "rosterd", timeout=60)
    assert r.returncode == 0, r.stderr
    assert sd.show("rosterd", "Result") == "success", sd.run(
        "journalctl", "-u", "rosterd", "--no-pager").stdout
    assert sd.show("rosterd", "ExecMainStatus") == "0"
    # the stalled job went back to the queue for another instance
    assert env.r.hget("rosterd:job:" + jid, "state") == "queued"
    sd.run("rm", "-r", "/etc/systemd/system/rosterd.service.d")


def test_a_denied_permission_fails_the_unit_without_restarts(sd, env):
    env.r.acl_setuser("admin", enabled=True, passwords=["+pw"],
                      commands=["+@all"], keys=["*"], channels=["*"])
    admin = env.redis.new_client(username="admin", password="pw")
    admin.execute_command("ACL", "SETUSER", "default", "-xautoclaim")
    install_rosterd(sd, env, {})
    r = sd.run("systemctl", "start", "rosterd")
    assert r.returncode != 0, "the start must fail"
    assert sd.show("rosterd", "ExecMainStatus") == "78"
    # RestartPreventExitStatus=78: failed for good, no restart scheduled
    assert sd.show("rosterd", "SubState") == "failed"
    assert sd.show("rosterd", "NRestarts") == "0"
    assert "XAUTOCLAIM rosterd:jobs" in sd.show("rosterd", "StatusText")
    admin.execute_command("ACL", "SETUSER", "default", "+@all")
