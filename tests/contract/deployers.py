"""Compiled contracts for the tests (compiled once per test process)."""

from functools import cache
from pathlib import Path

import boa

REPO = Path(__file__).resolve().parents[2]
HELPERS = Path(__file__).with_name("helpers")


@cache
def vpn_deployer():
    return boa.load_partial(str(REPO / "contracts" / "OctraVPN.vy"))


@cache
def token_deployer():
    return boa.load_partial(str(HELPERS / "MockERC20.vy"))


@cache
def reentrant_deployer():
    return boa.load_partial(str(HELPERS / "Reentrant.vy"))
