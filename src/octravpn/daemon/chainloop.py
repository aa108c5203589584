"""The daemon's chain loop: the member this device acts for, the held session's status on chain, the sessions
`down` left open (until one ends on chain), and the sessions this device left, until each has settled or been
refunded. It backs off while the RPC is unreachable and says
since when; the tunnel never waits for it."""

from __future__ import annotations

from collections.abc import Callable

from octravpn.chain.errors import ChainError
from octravpn.daemon import settling
from octravpn.daemon.backoff import Backoff
from octravpn.daemon.chainlink import ChainLink
from octravpn.daemon.dialing import Dialer
from octravpn.daemon.exit import ExitConnection
from octravpn.daemon.record import Record
from octravpn.daemon.settings import DaemonSettings
from octravpn.protocol.sessions import STATUS_NAMES


class ChainLoop:
    def __init__(
        self,
        record: Record,
        *,
        settings: DaemonSettings,
        link: ChainLink,
        dialer: Dialer,
        exit: ExitConnection,
        counters: dict[str, int],
        clock: Callable[[], float],
    ) -> None:
        self.record, self.link, self.dialer, self.exit, self.counters, self.clock = (
            record,
            link,
            dialer,
            exit,
            counters,
            clock,
        )
        self.backoff = Backoff(
            settings.chain_poll_seconds, settings.chain_backoff_max, interval=settings.chain_poll_seconds
        )

    def step(self) -> None:
        now = self.clock()
        if not self.backoff.due(now):
            return
        record = self.record
        try:
            if self.dialer.refresh_member():
                record.changed()
            session = self.exit.session
            if session is not None and session.connection.open_tx is not None:
                settling.follow_open(self.link, record, session.connection)  # on chain once it is mined
            elif session is not None:
                status = self.link.client().session(session.connection.session_id).status
                with record.lock:
                    session.connection.chain_status = STATUS_NAMES[status]
            self.exit.left_open.follow_chain()
            self.exit.left_open.tell_exits()
            for ending in list(record.state.ending):
                if settling.step(self.link, ending):
                    settling.record_outcome(record, ending)
                else:
                    record.changed()  # a confirmation was sent: show it
        except ChainError as exc:
            self.counters["chain_errors"] += 1
            self.backoff.failed(now)
            record.event(
                None, chain_error=str(exc), chain_unreachable_since=record.state.chain_unreachable_since or now
            )
            return
        self.backoff.succeeded(now)
        if record.state.chain_error is not None:
            record.event(None, chain_error=None, chain_unreachable_since=None)
