"""[redis] wait_replicas: a write-back is done only once that many
replicas have it (WAIT on the connection that wrote).  With the replica
frozen (SIGSTOP) WAIT sees none: the job is not reported done; rosterd
waits again, and the job is done once the replica is back."""
import signal

import conftest as it


def test_a_job_is_done_only_once_a_replica_has_its_write(env):
    pki = env.pki if env.redis.tls else None
    tls = ["--tls-replication", "yes"] if pki else []
    replica = it.Redis(env.tmp, ["--replicaof", env.redis.host,
                                 str(env.redis.port)] + tls, pki=pki)
    try:
        it.wait_for(lambda: replica.client.info("replication")[
            "master_link_status"] == "up", 20, "the replica in sync")
        sbx = env.start_sandbox("--teachers", 3)
        t, u = sbx.teachers()[:2]
        for x in (t, u):
            env.store_token(x["id"], x["token"])
        d = env.start_rosterd(redis__wait_replicas=1,
                              redis__wait_timeout_ms=300)
        _, st = env.run(t["id"])
        assert st["state"] == "done" and st["result"] == "changed", st
        assert replica.client.hget("rosterd:snapshot:{%s}" % t["id"],
                                   "version") == "1"
        # the replica frozen: the write-back reaches no replica in time
        replica.proc.p.send_signal(signal.SIGSTOP)
        try:
            mark = d.proc.mark()
            ps = env.subscribe()
            jid = env.enqueue(u["id"])
            d.proc.wait_line(r"event=not_replicated.*reached 0 of 1 "
                             r"replicas", start=mark, timeout=20)
            st = env.r.hgetall("rosterd:job:" + jid)
            assert st["state"] == "running", st
            assert st["note"] == "replicating", st
        finally:
            replica.proc.p.send_signal(signal.SIGCONT)
        st = env.wait_jobs(ps, [jid], timeout=30)[jid]
        ps.close()
        assert st["state"] == "done" and st["result"] == "changed", st
        assert "note" not in st, st
        # one diff for u, version 1, written once
        diffs = env.diffs(u["id"])
        assert [(d_["base_version"], d_["version"]) for d_ in diffs] == \
            [("0", "1")], diffs
    finally:
        replica.stop()
