"""probe.lua: what the ACL allows, without doing it."""
from lua_harness import P


def test_probe_names_the_denied_checks_and_touches_nothing(w):
    import redis as redislib
    w.r.acl_setuser("u", enabled=True, passwords=["+pw"],
                    commands=["+@all", "-xadd"], keys=["rosterd:*"],
                    channels=["rosterd:events"])
    u = redislib.Redis(host="127.0.0.1", port=w.r.connection_pool
                       .connection_kwargs["port"], username="u",
                       password="pw", decode_responses=True)
    probe = u.register_script(w.lua._s["probe"].script)
    checks = [["GET", P + "token:T"],			# 1 allowed
              ["XADD", P + "diffs", "*", "f", "v"],	# 2 command denied
              ["GET", "other:key"],			# 3 key denied
              ["PUBLISH", P + "events", "m"],		# 4 allowed
              ["PUBLISH", "other", "m"]]			# 5 channel denied
    args = [len(checks)]
    for c in checks:
        args += [len(c)] + c
    assert probe(keys=[], args=args) == [2, 3, 5]
    assert w.r.dbsize() == 1, "only the stream of the fixture exists"
    assert probe(keys=[], args=[1, 1, "TIME"]) == []
