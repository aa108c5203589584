"""The suite's tiers and what every test shares.

Markers, given here from what a test uses, so `make test-fast` can leave out what needs more than Python:
- `e2e`: root, network namespaces, WireGuard interfaces, nftables (everything under tests/e2e, and tests that
  start the real daemon); skipped with the reason when not root;
- `anvil`: a local chain (a test that uses the `anvil` fixture, directly or through another, or says so);
- `postgres`: a throwaway PostgreSQL cluster (the indexer's tests run on SQLite and PostgreSQL).
"""

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.support.chain"]
# Fixtures that start a local chain: a test using one (directly or through another fixture) is `anvil`.
CHAIN_FIXTURES = frozenset({"anvil", "devnet_home", "fresh", "walk"})
E2E = Path(__file__).with_name("e2e")
ROOT_REASON = "needs root: network namespaces, WireGuard interfaces and nftables (run it through `make test`)"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if E2E in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)
        if CHAIN_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.anvil)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "postgresql" in callspec.params.values():
            item.add_marker(pytest.mark.postgres)
        if item.get_closest_marker("e2e") and os.geteuid() != 0:
            item.add_marker(pytest.mark.skip(reason=ROOT_REASON))


# `make test` in CI runs the stateful fuzzer long enough for >= 2,000 steps.
settings.register_profile(
    "dev",
    max_examples=8,
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "ci",
    max_examples=30,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("OCTRAVPN_FUZZ_PROFILE", "dev"))
