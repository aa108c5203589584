"""`octravpn tx HASH [--wait]`: what became of a transaction, for the one a command left pending."""

from __future__ import annotations

import re
import time

import typer

from octravpn.chain.errors import ChainError, ContractRevert, TransactionPending
from octravpn.cli.context import get
from octravpn.errors import UsageError

_TX_HASH = re.compile(r"0x[0-9a-fA-F]{64}")


def tx(
    ctx: typer.Context,
    tx_hash: str = typer.Argument(..., metavar="HASH", help="The transaction hash a command printed."),
    wait: bool = typer.Option(False, "--wait", help="Wait (up to --timeout) until it is mined or dropped."),
) -> None:
    """What became of a transaction: mined (block, gas), reverted (and why), pending, or unknown to the node
    (dropped, or never sent: then it is safe to send again)."""
    if not _TX_HASH.fullmatch(tx_hash):
        raise UsageError(f"{tx_hash!r} is not a transaction hash: write 0x and 64 hex digits")
    app_ctx = get(ctx)
    client = app_ctx.client(signer=False)
    deadline = time.monotonic() + (app_ctx.timeout if wait else 0)
    while True:
        outcome = client.transaction_outcome(tx_hash)
        if outcome.state != "pending" or time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    if outcome.state == "pending":
        raise TransactionPending(
            tx_hash, "is in the node's mempool, not mined yet" + (f" after {app_ctx.timeout:.0f}s" if wait else "")
        )
    if outcome.state == "unknown":
        raise ChainError(
            f"transaction {tx_hash} is not known to the node at {client.network_url}: it was dropped "
            "or never reached it, so it was not mined and it is safe to send again"
        )
    if outcome.state == "reverted":
        raise ContractRevert(outcome.function, f"{outcome.reason} (mined in block {outcome.block})")
    app_ctx.out.record(
        {
            "tx": tx_hash,
            "status": "mined",
            "block": outcome.block,
            "gas_used": outcome.gas_used,
            "function": outcome.function,
            "events": [event.name for event in outcome.events],
        },
        title="transaction mined",
    )
