"""upgrade.lua: the contract key upgraded in place, from the one older
version rosterd knows, and only from it."""
from lua_harness import CONTRACT_UPGRADES_FROM, CONTRACT_VERSION, P

KEY = P + "contract"


def upgrade(w):
    return w.lua.upgrade([KEY], [CONTRACT_UPGRADES_FROM, CONTRACT_VERSION])


def test_upgrade_sets_our_version_over_the_older_one(w):
    assert (CONTRACT_UPGRADES_FROM, CONTRACT_VERSION) == ("1", "2")
    w.r.set(KEY, "1")
    assert upgrade(w) == 1
    assert w.r.get(KEY) == "2"


def test_upgrade_runs_once_when_two_instances_race(w):
    w.r.set(KEY, "1")
    assert [upgrade(w), upgrade(w)] == [1, 0]
    assert w.r.get(KEY) == "2"


def test_upgrade_leaves_any_other_value_as_it_is(w):
    for value in ("3", "0", "2 "):
        w.r.set(KEY, value)
        assert upgrade(w) == 0
        assert w.r.get(KEY) == value
    w.r.delete(KEY)
    assert upgrade(w) == 0
    assert not w.r.exists(KEY), "an absent key is prepare.c's SET NX's"
