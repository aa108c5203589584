"""Facts about sessions that the contract, the agents and the indexer must agree on: one home for each.

The status codes are the contract's `Session.status`; `pay` is its pay formula
(see DESIGN.md): bytes times the price per MB, divided by 1,000,000, rounded
down in the client's favour.
"""

from __future__ import annotations

import secrets

from eth_abi import encode
from eth_utils import keccak

from octravpn.protocol.metering import BYTES_PER_MB

STATUS_OPEN, STATUS_SETTLED, STATUS_REFUNDED = 0, 1, 2
STATUS_NAMES = {STATUS_OPEN: "open", STATUS_SETTLED: "settled", STATUS_REFUNDED: "refunded"}


# A session's id is the hash of its opener and a salt the opener chose (the contract's `session_id`), cut to 53 bits
# so that every JSON reader and database holds it exactly: the opener knows it before the open is mined.
SESSION_ID_BITS = 53
SALT_BITS = 64


def session_id_for(opener: str, salt: int) -> int:
    """The id of the session `opener` opens with `salt`."""
    if not 0 <= salt < 2**SALT_BITS:
        raise ValueError(f"salt must fit in uint{SALT_BITS}, got {salt}")
    return int.from_bytes(keccak(encode(["address", "uint64"], [opener, salt])), "big") >> (256 - SESSION_ID_BITS)


def new_salt() -> int:
    """A salt for a new session: random, so two devices (or two tries) never pick the same id."""
    return secrets.randbits(SALT_BITS)


def pay(bytes_used: int, price_per_mb: int) -> int:
    """What `bytes_used` costs at `price_per_mb` (asset base units per 1,000,000 bytes)."""
    return bytes_used * price_per_mb // BYTES_PER_MB


# The most items one `settle_batch` takes (the contract's MAX_BATCH).
MAX_BATCH = 64

# A checkpoint's gas (`make gas` measures 49,843), rounded up: what collecting a payment while a session stays open
# costs the exit.
CHECKPOINT_GAS = 60_000


def checkpoint_threshold(*, gas_price: int, multiple: float) -> int:
    """The least an exit should be owed (in wei: the chain's native coin) before a checkpoint is worth its fee:
    `multiple` times the checkpoint's cost at `gas_price`."""
    return int(multiple * CHECKPOINT_GAS * gas_price)
