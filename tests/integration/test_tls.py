"""rosterd reaches Clever over TLS, verifying it with the configured CA."""
import os
import subprocess

from conftest import teacher_with_sections


def make_ca(tmp):
    """A throwaway CA and a certificate for 127.0.0.1 signed by it."""
    def ossl(*args):
        subprocess.run(["openssl"] + list(args), check=True, cwd=tmp,
                       capture_output=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ossl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem",
         "-days", "1", "-subj", "/CN=rosterd test CA")
    ossl("req", *ec, "-keyout", "srv.key", "-out", "srv.csr",
         "-subj", "/CN=127.0.0.1")
    with open(os.path.join(tmp, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "srv.pem", "-days", "1",
         "-extfile", "san.ext")
    return [os.path.join(tmp, n) for n in ("ca.pem", "srv.pem", "srv.key")]


def test_sync_over_tls_with_the_configured_ca(env):
    ca, cert, key = make_ca(env.tmp)
    sbx = env.start_sandbox("--teachers", 3, "--tls-cert", cert, "--tls-key", key)
    assert sbx.api.startswith("https://")
    env.start_rosterd(clever__ca_file=ca)
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    _, st = env.run(t["id"])
    assert st["state"] == "done" and st["result"] == "changed", st


def test_tls_without_the_ca_is_refused(env):
    ca, cert, key = make_ca(env.tmp)
    sbx = env.start_sandbox("--teachers", 3, "--tls-cert", cert, "--tls-key", key)
    # the system store does not know the test CA: verification must fail
    env.start_rosterd(clever__request_retries=0, sync__max_attempts=1)
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    _, st = env.run(t["id"])
    assert st["state"] == "dead" and st["error"] == "clever_unavailable", st
    assert sbx.get("/stats")["requests"] == 0
