"""How a session this device left ends on chain, driven one step at a time by the daemon.

The exit settles alone with the last receipt this side signed (the usual
case). If instead it claims a figure, this side confirms with its own: the
same figure settles, a different one records a dispute (and the exit can still
settle with the receipt). If the exit never settles (it died), the contract
returns the deposit to the tailnet once the session's grace has passed
(`claim_no_show`), which this side calls itself. Every step reads the chain
first, so a step repeated after a restart or an RPC outage does no harm.
"""

from __future__ import annotations

import logging

from eth_utils import keccak

from octravpn.chain.client import OctraVPN, TxOutcome
from octravpn.chain.errors import ContractRevert
from octravpn.client.state import Ending
from octravpn.protocol.sessions import STATUS_OPEN, STATUS_SETTLED

log = logging.getLogger("octravpn.client")


def open_outcome(client: OctraVPN, open_tx: str) -> TxOutcome:
    """What became of a session's open transaction (`open_tx`, signed, as hex); one the node no longer knows (its
    mempool dropped it) is sent again, and is pending."""
    raw = bytes.fromhex(open_tx.removeprefix("0x"))
    opened = client.transaction_outcome("0x" + keccak(raw).hex())
    if opened.state == "unknown":
        client.send_raw(raw)
        return TxOutcome("pending", function="open_session")
    return opened


def outcome(client: OctraVPN, session_id: int, status: int, deposit: int) -> dict:
    """How an ended session ended, from its events."""
    if status != STATUS_SETTLED:
        return {"session": session_id, "status": "refunded", "paid": 0, "refund": deposit}
    for event in client.session_events(session_id):
        if event.name == "SessionSettled":
            return {
                "session": session_id,
                "status": "settled",
                "bytes_used": event.args["bytes_used"],
                "paid": event.args["total_paid"],
                "refund": deposit - event.args["total_paid"],
                "tx": event.tx_hash,
            }
    return {"session": session_id, "status": "settled"}


def step(client: OctraVPN, ending: Ending) -> bool:
    """Move `ending` on by one chain step; True once it has an outcome. Raises `ChainError` when the chain
    cannot be read or written (the caller retries later)."""
    if ending.open_tx is not None:
        opened = open_outcome(client, ending.open_tx)
        if opened.state == "reverted":
            ending.outcome = {"session": ending.session_id, "status": "not opened", "reason": opened.reason}
            return True
        if opened.state != "mined":
            return False
        ending.open_tx = None
    session = client.session(ending.session_id)
    if session.status != STATUS_OPEN:
        ending.outcome = outcome(client, ending.session_id, session.status, ending.deposit)
        return True
    claim = client.operator_claim(ending.session_id)
    if claim.is_set and ending.confirmed is None:
        result = client.settle_confirm(ending.session_id, ending.figure)
        ending.confirmed = ending.figure
        if "SessionSettled" in [e.name for e in result.events]:
            ending.outcome = outcome(client, ending.session_id, STATUS_SETTLED, ending.deposit)
            return True
        log.warning(
            "session %d: the exit claims %d bytes, this side %d: dispute recorded on chain",
            ending.session_id,
            claim.bytes_used,
            ending.figure,
        )
        return False
    if client.clock() >= session.settle_by:
        try:
            client.claim_no_show(ending.session_id)
        except ContractRevert as exc:
            log.info("session %d: taking the deposit back was refused (%s); reading it again", ending.session_id, exc)
            return False
        ending.outcome = outcome(client, ending.session_id, client.session(ending.session_id).status, ending.deposit)
        return True
    return False
