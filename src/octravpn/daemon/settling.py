"""The sessions this device left, until each has settled or been refunded (`client.settlement` takes one step;
this drives them and keeps their outcomes)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from octravpn.chain.errors import ChainError
from octravpn.client import settlement
from octravpn.client.state import Connection, Ending
from octravpn.daemon.chainlink import ChainLink
from octravpn.daemon.record import Record

log = logging.getLogger("octravpn.daemon")
SETTLED_KEPT = 20  # outcomes of left sessions kept in the state, newest last
OPEN_NOTE = (
    "not settled yet: the exit can settle with your last receipt until the session grace ends; the daemon confirms "
    "its claim, or takes the deposit back after the grace"
)


def step(link: ChainLink, ending: Ending) -> bool:
    """One chain step for a left session; True once it has an outcome. Raises `ChainError`."""
    with link.transactions:
        return settlement.step(link.client(), ending)


def follow_open(link: ChainLink, record: Record, connection: Connection) -> None:
    """A held session joined while its open was mined: once it is, its terms as the chain set them (or, if it
    failed, why: its open transaction stays with it, for the ending to find the same). Raises `ChainError`."""
    if connection.open_tx is None or connection.chain_status != "opening":
        return
    opened = settlement.open_outcome(link.client(), connection.open_tx)
    with record.lock:
        if opened.state == "mined":
            event = next(e for e in opened.events if e.name == "SessionOpened")
            connection.deposit, connection.price_per_mb = event.args["deposit"], event.args["price_per_mb"]
            connection.open_tx, connection.chain_status = None, "open"
            record.changed()
        elif opened.state == "reverted":
            connection.chain_status = f"not opened ({opened.reason})"
            record.changed()


def await_open(link: ChainLink, record: Record, connection: Connection, wait: float) -> None:
    """`follow_open` until the open is mined or failed, for up to `wait` seconds; a chain that does not answer is
    not waited for (the session may still be opening after)."""
    deadline = time.monotonic() + wait
    while connection.chain_status == "opening":
        try:
            follow_open(link, record, connection)
        except ChainError as exc:
            log.info("whether session %d's open was mined is not known: %s", connection.session_id, exc)
            return
        if connection.chain_status != "opening" or time.monotonic() >= deadline:
            return
        time.sleep(0.5)


def record_outcome(record: Record, ending: Ending) -> None:
    """`ending` has its outcome: it leaves the sessions being settled and joins the newest SETTLED_KEPT."""
    if ending.outcome is None:
        raise AssertionError(f"session {ending.session_id} has no outcome to record")
    with record.lock:
        if ending in record.state.ending:
            record.state.ending.remove(ending)
        settled = [*record.state.settled, {**ending.outcome, "reason": ending.reason}][-SETTLED_KEPT:]
        record.event(None, settled=settled)


def await_outcome(
    link: ChainLink, ending: Ending, wait: float, *, clock: Callable[[], float], done: Callable[[Ending], None]
) -> dict | None:
    """Drive `ending` for up to `wait` seconds (`down --settle-wait`); its outcome, or None if it has none yet
    (the chain loop goes on after). `done(ending)` is called once it has one."""
    deadline = clock() + wait
    while True:
        try:
            finished = step(link, ending)
        except ChainError as exc:
            finished = False
            log.info("waiting for the settlement: %s", exc)
        if finished:
            done(ending)
            return ending.outcome
        if clock() >= deadline:
            return None
        time.sleep(0.5)
