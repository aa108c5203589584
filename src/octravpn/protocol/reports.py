"""The commitment a double-sign reporter publishes before revealing its evidence.

`commit_slash_report(commitment)` goes first; `slash_double_sign(...)` reveals in a
later block. The commitment names the reporter, so a copy of the reveal earns a
front-runner nothing.
"""

from __future__ import annotations

from eth_abi import encode
from eth_hash.auto import keccak


def report_commitment(*, reporter: str, operator: str, session_id: int, seq: int, bytes_a: int, bytes_b: int) -> bytes:
    """keccak256(abi.encode(reporter, operator, sessionId, seq, bytesA, bytesB)), as the contract computes it."""
    return keccak(
        encode(
            ["address", "address", "uint256", "uint64", "uint256", "uint256"],
            [reporter, operator, session_id, seq, bytes_a, bytes_b],
        )
    )
