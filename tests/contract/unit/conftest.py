from dataclasses import dataclass

import pytest

from tests.contract.harness import SESSION_DEPOSIT, Harness, Operator


@dataclass
class OpenSession:
    h: Harness
    op: Operator
    tailnet_id: int
    session_id: int


@pytest.fixture
def open_session(h, alice) -> OpenSession:
    """An open session through exit `op`, opened by alice with SESSION_DEPOSIT."""
    op = h.operator("op")
    tid = h.tailnet_with_exit(alice, op)
    return OpenSession(h, op, tid, h.session(tid, alice, op, SESSION_DEPOSIT))
