"""A session's record, read back from its events. No I/O.

The contract keeps one slot per session, the hash of its record; `SessionOpened` carries the whole record and
each later event what it changed. `fold` replays them in chain order; the caller checks the result against
`get_session_hash`, so a node that left an event out (or a reorganisation between the two reads) is caught
instead of acted on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from octravpn.chain.records import Session
from octravpn.protocol.sessions import STATUS_OPEN, STATUS_REFUNDED, STATUS_SETTLED


class Event(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def args(self) -> Mapping[str, Any]: ...


def fold(session_id: int, events: Iterable[Event], record: Session | None = None) -> Session | None:
    """The record the session's events (in chain order) leave behind, from `record` (what earlier events left);
    None before its `SessionOpened`."""
    for event in events:
        args = event.args
        if args.get("session_id") != session_id:
            continue
        if event.name == "SessionOpened":
            record = Session(
                tailnet_id=args["tailnet_id"],
                exit=args["exit"],
                opener=args["opener"],
                deposit=args["deposit"],
                price_per_mb=args["price_per_mb"],
                protocol_fee_bps=args["protocol_fee_bps"],
                sweep_bounty_bps=args["sweep_bounty_bps"],
                settle_by=args["settle_by"],
                sweep_after=args["sweep_after"],
                bytes_paid=0,
                status=STATUS_OPEN,
                opened_at=args["opened_at"],
            )
        elif record is None:
            continue
        elif event.name == "SessionToppedUp":
            record = replace(
                record, deposit=args["deposit"], settle_by=args["settle_by"], sweep_after=args["sweep_after"]
            )
        elif event.name == "SessionCheckpointed":
            record = replace(record, bytes_paid=args["bytes_used"])
        elif event.name == "SessionSettled":
            record = replace(record, bytes_paid=args["bytes_used"], status=STATUS_SETTLED)
        elif event.name in ("SessionRefunded", "SessionSwept"):
            record = replace(record, status=STATUS_REFUNDED)
    return record
