"""The local chain for tests that need one: an anvil node per module (the tests that use it are marked `anvil`)."""

from __future__ import annotations

import pytest

from octravpn.chain.devnet import Anvil


@pytest.fixture(scope="module")
def anvil():
    with Anvil() as node:
        yield node
