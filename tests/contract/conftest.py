"""Fixtures of the scripts' tests; the harness is lua_harness.py (a name
of its own: the integration tests import their conftest by name)."""
from lua_harness import events, w  # noqa: F401  (pytest fixtures)
