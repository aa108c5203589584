"""Facts about sessions that the contract, the agents and the indexer must agree on: one home for each.

The status codes are the contract's `Session.status`; `pay` is its pay formula
(see DESIGN.md): bytes times the price per MB, divided by 1,000,000, rounded
down in the client's favour.
"""

from __future__ import annotations

from octravpn.protocol.metering import BYTES_PER_MB

STATUS_OPEN, STATUS_SETTLED, STATUS_REFUNDED = 0, 1, 2
STATUS_NAMES = {STATUS_OPEN: "open", STATUS_SETTLED: "settled", STATUS_REFUNDED: "refunded"}


def pay(bytes_used: int, price_per_mb: int) -> int:
    """What `bytes_used` costs at `price_per_mb` (asset base units per 1,000,000 bytes)."""
    return bytes_used * price_per_mb // BYTES_PER_MB


# The most items one `settle_batch` takes (the contract's MAX_BATCH).
MAX_BATCH = 64

# A checkpoint's gas (`make gas` measures 55,570), rounded up: what collecting a payment while a session stays open
# costs the exit.
CHECKPOINT_GAS = 60_000


def checkpoint_threshold(*, gas_price: int, multiple: float) -> int:
    """The least an exit should be owed (in wei: the chain's native coin) before a checkpoint is worth its fee:
    `multiple` times the checkpoint's cost at `gas_price`."""
    return int(multiple * CHECKPOINT_GAS * gas_price)
