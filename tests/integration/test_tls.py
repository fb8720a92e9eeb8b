"""rosterd reaches Clever over TLS, verifying it with the configured CA."""
import os
import re
import subprocess

import pytest

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


def bad_certificate(tmp, ca, kind):
    """A server certificate and key that a client trusting ca must refuse:
    signed by an unknown CA, self-signed, for another host name, or
    expired."""
    def ossl(*args):
        subprocess.run(["openssl"] + list(args), check=True, cwd=tmp,
                       capture_output=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    key, cert = kind + ".key", kind + ".pem"
    if kind == "self_signed":
        with open(os.path.join(tmp, "ss.ext"), "w") as f:
            f.write("[req]\ndistinguished_name=dn\n[dn]\n"
                    "[v3]\nsubjectAltName=IP:127.0.0.1\n")
        ossl("req", "-x509", *ec, "-keyout", key, "-out", cert, "-days", "1",
             "-subj", "/CN=127.0.0.1", "-config", "ss.ext", "-extensions", "v3")
        return os.path.join(tmp, cert), os.path.join(tmp, key)
    ossl("req", *ec, "-keyout", key, "-out", kind + ".csr",
         "-subj", "/CN=127.0.0.1")
    san = "DNS:clever.example" if kind == "wrong_host" else "IP:127.0.0.1"
    if kind == "expired":
        # openssl ca can date a certificate in the past
        os.makedirs(os.path.join(tmp, "newcerts"), exist_ok=True)
        open(os.path.join(tmp, "index.txt"), "w").close()
        with open(os.path.join(tmp, "ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca=d\n[d]\ndir=.\ndatabase=index.txt\n"
                    "new_certs_dir=newcerts\ncertificate=ca.pem\n"
                    "private_key=ca.key\nserial=serial.txt\n"
                    "default_md=sha256\npolicy=p\ncopy_extensions=none\n"
                    "[p]\ncommonName=supplied\n[ext]\n"
                    "subjectAltName=%s\n" % san)
        with open(os.path.join(tmp, "serial.txt"), "w") as f:
            f.write("1000\n")
        ossl("ca", "-batch", "-config", "ca.cnf", "-in", kind + ".csr",
             "-out", cert, "-startdate", "20200101000000Z",
             "-enddate", "20200102000000Z", "-extensions", "ext", "-notext")
        return os.path.join(tmp, cert), os.path.join(tmp, key)
    signer = ca
    if kind == "unknown_ca":	# a CA the client does not trust
        ossl("req", "-x509", *ec, "-keyout", "other.key", "-out", "other.pem",
             "-days", "1", "-subj", "/CN=another CA")
        signer = os.path.join(tmp, "other.pem")
    with open(os.path.join(tmp, kind + ".ext"), "w") as f:
        f.write("subjectAltName=%s\n" % san)
    ossl("x509", "-req", "-in", kind + ".csr", "-CA", signer,
         "-CAkey", signer[:-4] + ".key", "-CAcreateserial", "-out", cert,
         "-days", "1", "-extfile", kind + ".ext")
    return os.path.join(tmp, cert), os.path.join(tmp, key)


CURL_SAYS = {"unknown_ca": "unable to get local issuer certificate",
             "self_signed": "self-signed certificate",
             "wrong_host": "no alternative certificate subject name matches",
             "expired": "certificate has expired"}


@pytest.mark.parametrize("kind", sorted(CURL_SAYS))
def test_an_untrustworthy_server_fails_the_job_at_once_with_tls_failed(env, kind):
    ca, _, _ = make_ca(env.tmp)
    cert, key = bad_certificate(env.tmp, ca, kind)
    sbx = env.start_sandbox("--teachers", 3, "--tls-cert", cert, "--tls-key", key)
    # retries configured as in production: none may be spent on this
    d = env.start_rosterd(clever__ca_file=ca, clever__request_retries=3,
                          sync__max_attempts=5)
    t = teacher_with_sections(sbx, 1)
    env.store_token(t["id"], t["token"])
    jid, st = env.run(t["id"])
    assert st["state"] == "failed" and st["error"] == "tls_failed", st
    assert st["attempts"] == "1", st
    assert "refused before sending" in st["message"], st
    assert CURL_SAYS[kind] in st["message"], st
    assert sbx.get("/stats")["requests"] == 0
    # one failure for the job: one dead letter, one log line
    assert [f["job"] for _, f in env.r.xrange("rosterd:dead")] == [jid]
    d.proc.wait_line(r"event=failed job=%s" % jid)
    assert len(re.findall(r"event=failed job=%s" % jid, d.proc.text())) == 1
