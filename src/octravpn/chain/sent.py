"""The transactions this process has signed and handed to a node, so that an interrupted command can
say what may already be on its way (and not be run again blindly). Kept apart from `transactions` so
the command line can read it without loading web3."""

from __future__ import annotations

_sent: list[str] = []


def record_sent(tx_hash: str) -> None:
    _sent.append(tx_hash)


def sent_transactions() -> list[str]:
    return list(_sent)
