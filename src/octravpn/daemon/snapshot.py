"""What `status` shows, built from the daemon's state and its last WireGuard reading. Pure: no I/O, no locks.

The snapshot is rebuilt after every change and served as is, so `status` answers from memory whatever the
chain or the exit are doing. Amounts are shown in the asset's one shape once the chain has told the daemon
its decimals and symbol (before that, in base units).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from octravpn.client.state import Connection
from octravpn.daemon.state import DaemonState
from octravpn.units import amount_record


@dataclass
class Live:
    """What the tick last read from WireGuard; not saved (it is read again)."""

    latest_handshake: int = 0
    rx_bytes: int = 0
    tx_bytes: int = 0
    receiving: bool = False


@dataclass(frozen=True, kw_only=True)
class Identity:
    device: str
    member: str | None
    network: str
    asset: tuple[int, str] | None  # (decimals, symbol)


def amount(base_units: int, asset: tuple[int, str] | None) -> dict:
    return {"base_units": base_units} if asset is None else amount_record(base_units, *asset)


def shown_outcome(outcome: dict, asset: tuple[int, str] | None) -> dict:
    """How a left session ended, its amounts in the one shape."""
    return {k: amount(v, asset) if k in ("paid", "refund") else v for k, v in outcome.items()}


def build(
    state: DaemonState, who: Identity, *, interface: str | None, connection: Connection | None, live: Live | None
) -> dict:
    row: dict[str, Any] = {
        "status": state.status.value,
        "device": who.device,
        "member": who.member,
        "network": who.network,
        "last_error": state.last_error,
        "exit_unreachable_since": state.exit_unreachable_since,
        "chain": {
            "reachable": state.chain_error is None,
            "error": state.chain_error,
            "unreachable_since": state.chain_unreachable_since,
        },
        "failovers": state.failovers,
        "last_failover": state.last_failover,
        "ending": [
            {
                "session": e.session_id,
                "exit": e.exit,
                "reason": e.reason,
                "figure": e.figure,
                "confirmed": e.confirmed,
                "exit_told": e.exit_told,
            }
            for e in state.ending
        ],
        "settled": [shown_outcome(o, who.asset) for o in state.settled[-5:]],
        "left_open": [
            {
                "session": c.session_id,
                "exit": c.exit,
                "tailnet": c.tailnet_id,
                "signed_bytes": c.signed_bytes,
                "deposit_left": amount(c.deposit_left, who.asset),
                "keep_until": c.keep_until,
            }
            for c in state.left_open
        ],
        "kill_switch": bool(state.host and state.host.kill_switch_table),
        "updated_at": state.updated_at,
    }
    if connection is None or live is None:
        return row
    c = connection
    row.update(
        {
            "interface": interface,
            "exit": c.exit,
            "exit_endpoint": c.exit_endpoint,
            "session": c.session_id,
            "tailnet": c.tailnet_id,
            "address": c.client_address,
            "dns": c.dns,
            "measured_bytes": c.measured_bytes,
            "signed_bytes": c.signed_bytes,
            "receipts_signed": c.receipts_signed,
            "requests_refused": c.requests_refused,
            "deposit": amount(c.deposit, who.asset),
            "paid_so_far": amount(c.paid_so_far, who.asset),
            "deposit_left": amount(c.deposit_left, who.asset),
            "session_status": c.chain_status,
            "keep_alive": (state.prefs or {}).get("keep_alive"),  # what `down` leaves the session open for
            "connected_at": c.connected_at,
            "tunnel": {
                "latest_handshake": live.latest_handshake or None,
                "rx_bytes": live.rx_bytes,
                "tx_bytes": live.tx_bytes,
                "receiving": live.receiving,
            },
        }
    )
    return row


def with_handshake_age(snapshot: dict, now: float) -> dict:
    """The snapshot with the handshake's age as of `now` (kept out of the snapshot itself: it would change it
    every second and wake every watcher)."""
    tunnel = snapshot.get("tunnel")
    if not tunnel or not tunnel.get("latest_handshake"):
        return snapshot
    return {**snapshot, "tunnel": {**tunnel, "handshake_age_s": max(0.0, round(now - tunnel["latest_handshake"], 1))}}
