"""Packaging as ops meet it: `meson install` with the build's prefix, the
units, their hardening next to Debian's redis-server.service, and the
Redis password from a file or a systemd credential (real redis-server with
requirepass, the real rosterd and rosterctl)."""
import json
import os
import re
import shutil
import socket
import subprocess

import pytest

from conftest import BUILD, ROSTERD, rosterctl, teacher_with_sections

REDIS_UNIT = "/lib/systemd/system/redis-server.service"


def buildopt(name):
    out = subprocess.run(["meson", "introspect", "--buildoptions", BUILD],
                         capture_output=True, text=True, check=True)
    return {o["name"]: o["value"] for o in json.loads(out.stdout)}[name]


def meson_install(destdir):
    out = subprocess.run(["meson", "install", "-C", BUILD, "--destdir",
                          destdir], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def unitdir():
    d = buildopt("systemdunitdir")
    if d:
        return d
    out = subprocess.run(["pkg-config", "--variable=systemdsystemunitdir",
                          "systemd"], capture_output=True, text=True)
    return out.stdout.strip() or os.path.join(buildopt("prefix"),
                                              "lib/systemd/system")


def test_meson_install_gives_a_working_layout_and_keeps_the_config(tmp_path):
    dest = str(tmp_path)
    meson_install(dest)
    prefix = buildopt("prefix")
    sbin = os.path.join(prefix, buildopt("sbindir"), "rosterd")
    assert os.access(dest + sbin, os.X_OK)
    assert os.access(dest + os.path.join(prefix, buildopt("bindir"),
                                         "rosterctl"), os.X_OK)
    for unit, conf in (("rosterd.service", "rosterd.conf"),
                       ("rosterd@.service", "rosterd-%i.conf")):
        text = open(dest + os.path.join(unitdir(), unit)).read()
        assert "ExecStart=%s -c /etc/rosterd/%s\n" % (sbin, conf) in text, text
        assert not re.search(r"@[A-Z_]+@", text), text  # all replaced
    man = dest + os.path.join(prefix, buildopt("mandir"), "man8", "rosterd.8")
    assert os.path.exists(man)
    # the installed default is valid, and an operator's file is kept
    conf = dest + "/etc/rosterd/rosterd.conf"
    out = subprocess.run([ROSTERD, "-n", "-c", conf], capture_output=True,
                         text=True)
    assert out.stdout == "configuration OK\n", out
    with open(conf, "a") as f:
        f.write("# the operator's own\n")
    meson_install(dest)
    assert open(conf).read().endswith("# the operator's own\n")


def exposure(unit):
    out = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                          unit], capture_output=True, text=True, timeout=120)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out.stdout)
    assert m, out.stdout + out.stderr
    return float(m.group(1))


def test_units_are_no_more_exposed_than_debians_redis_server():
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    if not os.path.exists(REDIS_UNIT):
        pytest.skip(REDIS_UNIT + " is not installed")
    redis = exposure(REDIS_UNIT)
    for unit in ("rosterd.service", "rosterd@.service"):
        ours = exposure(os.path.join(BUILD, "systemd", unit))
        print("%s %.1f, redis-server.service %.1f" % (unit, ours, redis))
        assert ours <= redis, (unit, ours, redis)


def write_conf(env, name, **redis):
    path = os.path.join(env.tmp, name)
    with open(path, "w") as f:
        f.write("[redis]\n" + env.redis.conf_text())
        for k, v in redis.items():
            f.write("%s = %s\n" % (k, v))
        f.write("[clever]\napi_base = %s\n[log]\ntarget = stderr\n"
                "level = debug\n" % env.sandbox.api)
    return path


def test_redis_password_from_a_file_or_a_systemd_credential(env):
    env.start_redis(["--requirepass", "s3cr3t-pw"])
    env.redis.connect("s3cr3t-pw")
    sbx = env.start_sandbox("--teachers", 3)
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    pwfile = os.path.join(env.tmp, "redis-password")
    with open(pwfile, "w") as f:
        f.write("s3cr3t-pw\n")
    os.chmod(pwfile, 0o600)

    # password_file: rosterd syncs, rosterctl reads the queue
    d = env.start_rosterd(redis__password_file=pwfile)
    _, st = env.run(t["id"])
    assert st["state"] == "done", st
    out = rosterctl("-c", d.conf_path, "queue")
    assert out.returncode == 0 and "group:" in out.stdout, out
    assert "s3cr3t-pw" not in d.proc.text()
    d.stop()

    # the credential systemd passes with LoadCredential=redis-password:...
    creds = os.path.join(env.tmp, "creds")
    os.mkdir(creds)
    shutil.copy(pwfile, os.path.join(creds, "redis-password"))
    d = env.start_rosterd(proc_env=dict(os.environ,
                                        CREDENTIALS_DIRECTORY=creds))
    _, st = env.run(t["id"])
    assert st["state"] == "done" and st["consumer"] == d.proc.name, st

    # mistakes are named at start-up
    bad = write_conf(env, "bad.conf", password_file=pwfile + ".missing")
    out = subprocess.run([ROSTERD, "-n", "-c", bad], capture_output=True,
                         text=True)
    assert out.returncode == 78 and "cannot read %s.missing" % pwfile in \
        out.stderr, out
    both = write_conf(env, "both.conf", password="x", password_file=pwfile)
    out = subprocess.run([ROSTERD, "-n", "-c", both], capture_output=True,
                         text=True)
    assert out.returncode == 78 and "both set" in out.stderr, out
    nopw = write_conf(env, "nopw.conf", username="rosterd")
    out = subprocess.run([ROSTERD, "-n", "-c", nopw], capture_output=True,
                         text=True)
    assert out.returncode == 78 and "needs a password" in out.stderr, out


def test_every_configuration_error_exits_78_which_the_unit_does_not_restart(
        env):
    """A bad file, key or value (found by -n, the unit's ExecStartPre=, or
    at start) and an address rosterd cannot listen on (found at start)
    exit 78, EX_CONFIG; Restart=on-failure would loop on 1 until the start
    limit, but the unit does not restart 78."""
    with open(os.path.join(BUILD, "systemd", "rosterd.service")) as f:
        unit = f.read()
    assert re.search(r"^Restart=on-failure$", unit, re.M), unit
    m = re.search(r"^RestartPreventExitStatus=(.*)$", unit, re.M)
    assert m and "78" in m.group(1).split(), unit

    def run(text, *opts):
        path = os.path.join(env.tmp, "exit.conf")
        with open(path, "w") as f:
            f.write(text)
        return subprocess.run([ROSTERD, *opts, "-c", path],
                              capture_output=True, text=True, timeout=60)

    base = "[redis]\n%s[log]\ntarget = stderr\n" % env.redis.conf_text()
    for text, said in [
            (base + "[sync]\nconcurency = 4\n", "concurency"),
            (base + "[sync]\nconcurrency = many\n", "concurrency"),
            (base + "[metrics]\nlisten = localhost\n", "expected HOST:PORT"),
            ("[redis\n", "exit.conf")]:
        for opts in (["-n"], []):
            out = run(text, *opts)
            assert out.returncode == 78 and said in out.stderr, (opts, out)
    missing = subprocess.run([ROSTERD, "-n", "-c", env.tmp + "/none.conf"],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 78, missing
    # valid, but taken: the start finds it
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        text = base + "[metrics]\nlisten = 127.0.0.1:%d\n" % \
            taken.getsockname()[1]
        assert run(text, "-n").returncode == 0
        out = run(text)
        assert out.returncode == 78 and "cannot listen" in out.stderr, out
    # a usage error is not the configuration's
    assert subprocess.run([ROSTERD, "-x"], capture_output=True,
                          timeout=60).returncode == 1
