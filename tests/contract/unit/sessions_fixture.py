"""A shared open session: operator `op`, opener alice, deposit 0.01."""

from dataclasses import dataclass

import pytest

from tests.contract.harness import Harness, Operator

DEPOSIT = 10**16
MB = 10**6


@dataclass
class OpenSession:
    h: Harness
    op: Operator
    tailnet_id: int
    session_id: int


@pytest.fixture
def open_session(h, alice) -> OpenSession:
    op = h.operator("op")
    tid = h.tailnet_with_exit(alice, op)
    return OpenSession(h, op, tid, h.session(tid, alice, op, DEPOSIT))
