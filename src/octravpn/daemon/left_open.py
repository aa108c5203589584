"""Sessions `down` left open: paid once, connected many times. The next `up` to the same exit (or to the exit
`--exit auto` chooses, which prefers one) rejoins such a session with a new key and no transaction; its deposit
stays locked and its receipts go on numbering. Each ends when its keep-alive passes, when the chain says it
ended (its deposit or term ran out, the exit settled it), or when the user says so (`down --end`, `session
end`); it is then settled like any session this device left (`daemon.settling`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from eth_account.signers.local import LocalAccount

from octravpn.chain.errors import ChainError
from octravpn.client.connect import leave_request
from octravpn.client.exit_api import ExitAPI, ExitAPIError
from octravpn.client.state import Connection, Ending
from octravpn.daemon.chainlink import ChainLink
from octravpn.daemon.record import Record
from octravpn.daemon.wire import UpRequest
from octravpn.protocol.eip712 import Domain
from octravpn.protocol.errors import ProtocolError
from octravpn.protocol.sessions import STATUS_NAMES, STATUS_OPEN
from octravpn.wireguard.runner import CommandError

log = logging.getLogger("octravpn.daemon")
TERM_NEEDED = 900  # seconds of its term a session needs to be rejoined: the exit stops serving 10 min before
TELL_AGAIN = 30.0  # seconds between tries to tell an exit that did not hear a session end


def ending_of(connection: Connection, now: float, reason: str, *, exit_told: bool = True) -> Ending:
    return Ending(
        session_id=connection.session_id,
        exit=connection.exit,
        deposit=connection.deposit,
        figure=connection.figure,
        left_at=now,
        reason=reason,
        exit_endpoint=connection.exit_endpoint,
        exit_told=exit_told,
        open_tx=connection.open_tx,
    )


class LeftOpen:
    def __init__(
        self,
        record: Record,
        *,
        link: ChainLink,
        account: LocalAccount,
        domain: Domain,
        clock: Callable[[], float],
        stamps: Callable[[], float],
    ) -> None:
        self.record, self.link, self.account, self.domain, self.clock = record, link, account, domain, clock
        self.stamps = stamps  # the signed requests' timestamps (`client.connect.Timestamps`)
        self.told_at: dict[int, float] = {}  # session -> when its exit was last told it ends

    @property
    def sessions(self) -> list[Connection]:
        return self.record.state.left_open

    def leave(self, connection: Connection, keep_alive: int) -> None:
        """`down` left `connection` open (the exit took its key away and keeps the session)."""
        connection.keep_until = self.clock() + keep_alive
        connection.connected_at = None
        self.sessions.append(connection)

    def candidates(self, request: UpRequest, exclude: frozenset[str] = frozenset()) -> dict[str, Connection]:
        """Exit -> the session left open with it that `request` may rejoin (the newest per exit, checked on chain)."""
        found: dict[str, Connection] = {}
        now = self.clock()
        for connection in sorted(self.sessions, key=lambda c: -(c.keep_until or 0)):
            if connection.exit in exclude or connection.exit in found or (connection.keep_until or 0) <= now:
                continue
            if request.tailnet is not None and connection.tailnet_id != request.tailnet:
                continue
            if request.exit != "auto" and connection.exit != request.exit:
                continue
            if self._usable(connection):
                found[connection.exit] = connection
        return found

    def _usable(self, connection: Connection) -> bool:
        """Still open on chain for this device at that exit, with deposit and term left (a chain that does not
        answer leaves it to the exit, which checks the session on chain when it takes the key)."""
        if not connection.deposit_left:
            return False
        try:
            client = self.link.client()
            session = client.session(connection.session_id)
            now = client.clock()
        except ChainError as exc:
            log.info("session %d not checked on chain (%s): the exit checks it", connection.session_id, exc)
            return True
        return (
            session.status == STATUS_OPEN
            and session.exit.lower() == connection.exit.lower()
            and session.opener.lower() == self.account.address.lower()
            and session.settle_by - now > TERM_NEEDED
        )

    def take(self, connection: Connection) -> None:
        """`up` rejoins it: no longer left open (the connection it makes is a new record)."""
        with self.record.lock:
            if connection in self.sessions:
                self.sessions.remove(connection)

    def give_back(self, connection: Connection, why: BaseException) -> None:
        """Rejoining it failed. An exit that did not answer, or a failure on this host, leaves it open for a later
        `up`; an exit that refused it (it ended the session) or answered wrongly has it settled."""
        if (isinstance(why, ExitAPIError) and why.status is None) or isinstance(why, (CommandError, KeyboardInterrupt)):
            with self.record.lock:
                self.sessions.append(connection)
                self.record.changed()
            return
        self.end(connection, f"rejoining it failed: {why}")

    def end(self, connection: Connection, reason: str) -> Ending:
        """Tell its exit the session ends (told again later if it does not hear it), and settle it like any
        session this device left."""
        ending = self._ending(connection, reason)
        self._tell(ending, timeout=5.0)
        return ending

    def tell_exits(self) -> None:
        """Tell again each exit that did not hear a session end (it was gone during a failover or a `down`), so
        it settles now rather than after its own keep-alive."""
        now = self.clock()
        for ending in [e for e in self.record.state.ending if not e.exit_told and e.exit_endpoint]:
            if now - self.told_at.get(ending.session_id, float("-inf")) >= TELL_AGAIN:
                self._tell(ending, timeout=2.0)

    def _tell(self, ending: Ending, *, timeout: float) -> None:
        self.told_at[ending.session_id] = self.clock()
        try:
            body = leave_request(self.domain, self.account, ending.session_id, clock=self.stamps)
            with ExitAPI(f"http://{ending.exit_endpoint}", timeout=timeout) as api:
                api.leave(ending.session_id, body)
        except ExitAPIError as exc:
            if exc.status is None or exc.status >= 500:  # not reached, or it could not take it now: again later
                log.info("session %d: its exit did not take the end (%s); telling it again", ending.session_id, exc)
                self._told(ending, False)
                return
        except ProtocolError as exc:
            log.warning("session %d: the exit's answer to the end: %s", ending.session_id, exc)
        self._told(ending, True)  # it took it, or answered that it serves the session no more

    def _told(self, ending: Ending, told: bool) -> None:
        with self.record.lock:
            changed, ending.exit_told = ending.exit_told != told, told
            if changed:
                self.record.changed()

    def expire(self) -> None:
        """End every session whose keep-alive passed."""
        now = self.clock()
        for connection in [c for c in self.sessions if (c.keep_until or 0) <= now]:
            log.info("session %d: its keep-alive passed without a connection: ending it", connection.session_id)
            self.end(connection, "keep-alive")

    def follow_chain(self) -> None:
        """Each session's status on chain (raises `ChainError`); one that is no longer open is settled as left."""
        client = self.link.client()
        for connection in list(self.sessions):
            status = client.session(connection.session_id).status
            if status != STATUS_OPEN:
                connection.chain_status = STATUS_NAMES[status]
                self._ending(connection, f"{connection.chain_status} on chain")

    def _ending(self, connection: Connection, reason: str) -> Ending:
        ending = ending_of(connection, self.clock(), reason)
        with self.record.lock:
            if connection in self.sessions:
                self.sessions.remove(connection)
            self.record.state.ending.append(ending)
            self.record.changed()
        return ending
