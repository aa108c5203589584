"""The device's connection through an exit: `up`, `down`, the preferences, and the tick that keeps it alive
(metering, receipts, the exit's health, a rejoin or a failover when due).

Its status moves only by the table of `daemon.connection`; every connect is `Dialer.dial` (the session's terms,
the exit's handshake, the host), so `up`, a failover and a rejoin differ only in how they get their session and
what they do to the host. The tick talks to WireGuard and the exit, never to the chain except to open a
failover's session, so a stalled chain never delays a receipt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from eth_account.signers.local import LocalAccount

from octravpn.chain.errors import ChainError
from octravpn.client.connect import Located, Terms, leave_request
from octravpn.client.discovery import IndexerUnavailable
from octravpn.client.exit_api import ExitAPI, ExitAPIError
from octravpn.client.state import Connection, Ending
from octravpn.daemon import settling, snapshot
from octravpn.daemon.backoff import Backoff
from octravpn.daemon.chainlink import ChainLink
from octravpn.daemon.connection import LIVE, Conflict, Event, Status, allowed
from octravpn.daemon.dialing import Dialer, failover_request, held
from octravpn.daemon.left_open import LeftOpen, ending_of
from octravpn.daemon.record import Record
from octravpn.daemon.session import Session
from octravpn.daemon.settings import DaemonSettings
from octravpn.daemon.state import DaemonState
from octravpn.daemon.wire import UpRequest
from octravpn.errors import OctraVPNError
from octravpn.host.dns import DNSManager
from octravpn.host.icmp import send_echo
from octravpn.host.tunnel import HostChanges, TunnelHost, TunnelOptions, control_bypass, restore
from octravpn.protocol.eip712 import Domain
from octravpn.protocol.errors import ProtocolError
from octravpn.protocol.exitwire import LeaveAnswer
from octravpn.protocol.metering import BYTES_PER_MB
from octravpn.wireguard.runner import CommandError, CommandRunner

log = logging.getLogger("octravpn.daemon")
FAILED_EXIT_MEMORY = 120.0  # seconds a failover passes over an exit found unreachable
OPEN_WAIT = 60.0  # seconds a `down` right after `up` waits for the session's open to be mined, to leave it open


def failure_counter(exc: Exception) -> str:
    """Which counter a failed step counts in: whose failure it was."""
    if isinstance(exc, ChainError):
        return "chain_errors"
    if isinstance(exc, IndexerUnavailable):
        return "indexer_errors"
    return "exit_errors"


class ExitConnection:
    def __init__(
        self,
        record: Record,
        *,
        settings: DaemonSettings,
        account: LocalAccount,
        domain: Domain,
        link: ChainLink,
        dialer: Dialer,
        dns: DNSManager,
        runner: CommandRunner,
        resolve: Callable[[str], str],
        counters: dict[str, int],
        clock: Callable[[], float],
    ) -> None:
        self.record, self.settings, self.account, self.domain = record, settings, account, domain
        self.link, self.dialer, self.dns, self.runner, self.resolve = link, dialer, dns, runner, resolve
        self.counters, self.clock = counters, clock
        self.session: Session | None = None
        self.host: TunnelHost | None = None
        self.failover_backoff = Backoff(settings.failover_retry_seconds, settings.chain_backoff_max)
        self.failed_exits: dict[str, float] = {}  # exit -> when it was found unreachable
        self.stamps = dialer.stamps  # the joins' and the leaves' timestamps: one strictly increasing sequence
        self.left_open = LeftOpen(record, link=link, account=account, domain=domain, clock=clock, stamps=self.stamps)

    def start(self) -> None:
        """Pick up where the last run stopped: a held session is resumed (its kill switch and routes stood while
        the daemon was away); a `down` it stopped in the middle of is finished; an `up` held nothing yet."""
        with self.record.lock:
            state = self.record.state
            if state.status is Status.DISCONNECTING and state.connection is not None:
                # Whether that `down` meant to leave the session open, it did not get there: end it at the exit.
                self.left_open.end(state.connection, "down")
                state.connection = state.prefs = None
            if state.connection is not None and state.prefs is not None:
                self.host = self._tunnel_host(self._prefs())
                self.session = self._session_for(state.connection, self._prefs())
                log.info("resuming session %d through %s", state.connection.session_id, state.connection.exit)
            else:
                if state.host is not None:
                    restore(self.runner, state.host)
                    self.dns.update(servers=())
                state.host, state.status = None, Status.DOWN  # recovery, outside the table: nothing is held
            self.record.changed()

    # --------------------------------------------------------- connecting
    def up(self, request: UpRequest) -> None:
        if not allowed(self.record.state.status, Event.UP):
            connection = self.record.state.connection
            where = f" through {connection.exit} (session {connection.session_id})" if connection else ""
            raise Conflict(f"already up ({self.record.state.status}){where}: run `octravpn down` first")
        located, session, resumed = self._target(request)
        host = self.host = self._tunnel_host(request)
        changes = HostChanges(interface=request.interface)
        opened: list[Terms] = []
        # From here on, whatever is done to the host can be undone.
        self.record.event(Event.UP, last_error=None, prefs=request.to_json(), host=changes)
        try:
            connection = self.dialer.dial(
                located,
                _noting(session, opened),
                request.interface,
                lambda config, joined: host.bring_up(changes, config, located.endpoint, joined.dns, self.record.save),
                prepare=lambda key: host.prepare(request.interface, key),
            )
        except BaseException as exc:
            host.restore(changes)
            if resumed is not None:
                self.left_open.give_back(resumed, exc)
            error = f"could not connect: {exc}{self._abandon(opened, located, 'up failed')}"
            self.record.event(Event.FAILED, prefs=None, host=None, last_error=error)
            raise
        self._joined(_carried(resumed, connection), request)
        how = "rejoined the session left open" if resumed else "connected"
        log.info("%s through %s, session %d", how, connection.exit, connection.session_id)

    def _target(
        self, request: UpRequest, *, exclude: frozenset[str] = frozenset()
    ) -> tuple[Located, Callable[[], Terms], Connection | None]:
        """The exit, how to get its session, and the session left open being rejoined (None: a new one or the
        one `--session` names). A session left open with the exit asked for, or with one `--exit auto` would
        take, is preferred: no transaction."""
        left = self.left_open.candidates(request, exclude) if request.session is None else {}
        resumed = left.get(request.exit)
        if resumed is None:
            located, session = self.dialer.target(request, exclude=exclude, prefer=frozenset(left))
            resumed = left.get(located.address)
            if resumed is None:
                return located, session, None
        self.left_open.take(resumed)
        return (*held(resumed), resumed)

    def _abandon(self, opened: list[Terms], located: Located, reason: str) -> str:
        """A connect failed after it sent a new session's open (the exit did not answer, say): end that session
        like one left behind, so its deposit comes back (the exit is told when it answers; with nothing carried
        it settles at nothing, or after the grace the daemon takes the deposit back). What to tell the user."""
        if not opened or opened[0].opening is None:  # no new session (one left open, or one named)
            return ""
        terms = opened[0]
        ending = Ending(
            session_id=terms.session_id,
            exit=located.address,
            deposit=terms.deposit,
            figure=0,
            left_at=self.clock(),
            reason=reason,
            exit_endpoint=located.endpoint,
            exit_told=False,
            open_tx=terms.open_tx,
        )
        with self.record.lock:
            self.record.state.ending.append(ending)
            self.record.changed()
        log.warning("session %d was opened for a connect that failed: ending it", terms.session_id)
        return f"; session {terms.session_id} was opened for it and is being ended (`octravpn status` shows it)"

    def _live(self) -> tuple[TunnelHost, HostChanges, Connection]:
        """What a live connection has: the host's owner, what it changed and the connection (all three are in
        place before the status is live, and stay until it is not)."""
        state = self.record.state
        if self.host is None or state.host is None or state.connection is None:
            raise AssertionError(f"{state.status} without its host changes or connection")
        return self.host, state.host, state.connection

    def _joined(self, connection: Connection, request: UpRequest) -> None:
        connection.connected_at = self.clock()
        self.session = self._session_for(connection, request)
        self.record.event(Event.JOINED, connection=connection, last_error=None, exit_unreachable_since=None)

    def _failover(self, session: Session, down_since: float) -> None:
        """Move to the next best exit under the standing kill switch; the old session is left to settle."""
        old, request, now = session.connection, self._prefs(), self.clock()
        self.failed_exits[old.exit] = now
        exclude = {e for e, when in self.failed_exits.items() if now - when < FAILED_EXIT_MEMORY}
        host, changes, _ = self._live()
        try:
            located, terms, resumed = self._target(
                failover_request(request, old.tailnet_id), exclude=frozenset(exclude)
            )
            host.allow(changes, old.exit_endpoint, located.endpoint)
            opened: list[Terms] = []
            try:
                connection = _carried(
                    resumed,
                    self.dialer.dial(
                        located,
                        _noting(terms, opened),
                        request.interface,
                        lambda config, joined: host.switch(changes, config, located.endpoint, joined.dns),
                    ),
                )
            except (OctraVPNError, CommandError) as exc:
                if resumed is not None:
                    self.left_open.give_back(resumed, exc)
                self._abandon(opened, located, "failover failed")
                raise
        except (OctraVPNError, CommandError) as exc:
            self.failover_backoff.failed(now)
            self.counters[failure_counter(exc)] += 1
            self.record.event(None, last_error=f"the exit is unreachable and no failover worked yet: {exc}")
            log.warning("failover from %s failed: %s", old.exit, exc)
            return
        now = self.clock()
        self.failover_backoff.succeeded(now)
        self.counters["failovers"] += 1
        with self.record.lock:
            state = self.record.state
            state.ending.append(ending_of(old, now, "failover", exit_told=False))  # it is unreachable
            state.failovers += 1
            state.last_failover = {
                "from": old.exit,
                "to": connection.exit,
                "at": now,
                "seconds_without_exit": round(now - down_since, 3),
                "old_session": old.session_id,
                "new_session": connection.session_id,
            }
            self._joined(connection, request)
        log.warning(
            "failover: %s unreachable since %s; now through %s (session %d)",
            old.exit,
            _clock_text(down_since),
            connection.exit,
            connection.session_id,
        )

    def _rejoin(self, session: Session) -> None:
        """The interface vanished under a live session: join the same session again with a new key (the exit
        takes a new key for a session it serves) and put the interface and its routes back."""
        connection = session.connection
        located, terms = held(connection)
        host, changes, _ = self._live()
        try:
            rejoined = self.dialer.dial(
                located,
                terms,
                connection_interface(self.record.state),
                lambda config, _: host.reattach(changes, config, located.endpoint),
            )
        except (OctraVPNError, CommandError) as exc:
            since = self.record.state.exit_unreachable_since or self.clock()
            self.record.event(Event.EXIT_SILENT, last_error=f"rejoining the exit: {exc}", exit_unreachable_since=since)
            return
        connection.counter_base = connection.measured_bytes  # the new interface counts from zero
        session.desk.meter.observe(connection.counter_base)
        connection.client_address = rejoined.client_address
        session.restart_health(self.clock())
        self.counters["rejoins"] += 1
        self.record.event(Event.JOINED, last_error=None, exit_unreachable_since=None)
        log.info("the interface was gone: rejoined session %d", connection.session_id)

    def _join_again(self, session: Session) -> None:
        """The exit left the session open without this device (it was idle: asleep, say) and took its key away:
        join again with the key the interface has, so nothing on the host changes and the counters go on."""
        connection = session.connection
        located, _ = held(connection)
        host, _, _ = self._live()
        try:
            key = host.engine.public_key(connection_interface(self.record.state))
            self.dialer.join(located, connection.session_id, key)
        except (OctraVPNError, CommandError) as exc:
            log.warning("joining session %d again: %s", connection.session_id, exc)
            return
        self.counters["rejoins"] += 1
        log.info("the exit had left session %d open without this device: joined it again", connection.session_id)

    # ------------------------------------------------------------ leaving
    def down(self, *, settle_wait: float, end: bool = False) -> dict:
        """Disconnect, leaving the session open for the next `up` (its keep-alive) unless `end` or the keep-alive
        is 0; `end` while down ends the sessions left open."""
        state, connection = self.record.state, self.record.state.connection
        if not allowed(state.status, Event.DOWN) or connection is None:
            if state.host is not None:
                self._restore_host()
            if end and state.left_open:
                return self.end_left_open(None, settle_wait=settle_wait)
            raise Conflict(f"not connected ({state.status}): nothing to take down")
        self.record.event(Event.DOWN)
        keep_alive = self._prefs().keep_alive
        if not end and keep_alive > 0:  # a session is left open once the chain holds it: wait for its block
            settling.await_open(self.link, self.record, connection, OPEN_WAIT)
        left_open = not end and keep_alive > 0 and connection.chain_status == "open"
        leave_error = self._leave_exit(park=left_open)
        if left_open and leave_error is not None:  # the exit did not keep it: end it there
            left_open, leave_error = False, self._leave_exit()
        self._restore_host()
        if left_open:
            with self.record.lock:
                self.session = None
                self.left_open.leave(connection, keep_alive)
                self.record.event(Event.LEFT, connection=None, prefs=None, exit_unreachable_since=None, last_error=None)
            return {
                "session": connection.session_id,
                "exit": connection.exit,
                "measured_bytes": connection.measured_bytes,
                "signed_bytes": connection.signed_bytes,
                "receipts_signed": connection.receipts_signed,
                "left_open": {
                    "keep_until": connection.keep_until,
                    "keep_alive": keep_alive,
                    "note": "`octravpn up` to this exit rejoins it with no transaction; `octravpn session end` ends "
                    "it, and so does the keep-alive passing without a connection",
                },
            }
        ending = ending_of(connection, self.clock(), "down", exit_told=leave_error is None)
        summary = {
            "session": connection.session_id,
            "exit": connection.exit,
            "measured_bytes": connection.measured_bytes,
            "signed_bytes": connection.signed_bytes,
            "receipts_signed": connection.receipts_signed,
            "last_error": leave_error,
        }
        with self.record.lock:
            self.session = None
            state.ending.append(ending)
            self.record.event(
                Event.LEFT, connection=None, prefs=None, exit_unreachable_since=None, last_error=leave_error
            )
        outcome = settling.await_outcome(
            self.link, ending, settle_wait, clock=self.clock, done=lambda e: settling.record_outcome(self.record, e)
        )
        if outcome is None:
            return {
                **summary,
                "settlement": {
                    "status": "open",
                    "confirmed_bytes": ending.confirmed,
                    "signed_bytes": ending.figure,
                    "note": settling.OPEN_NOTE,
                },
            }
        return {**summary, "settlement": snapshot.shown_outcome(outcome, self.link.asset)}

    def end_left_open(self, session_id: int | None, *, settle_wait: float) -> dict:
        """End the session left open with that id (None: every one) and wait up to `settle_wait` for each
        settlement."""
        chosen = [c for c in self.record.state.left_open if session_id is None or c.session_id == session_id]
        if not chosen:
            left = ", ".join(str(c.session_id) for c in self.record.state.left_open) or "none"
            which = "" if session_id is None else f" {session_id}"
            raise Conflict(f"no session{which} left open (left open: {left}): `octravpn status` lists them")
        ended = []
        for connection in chosen:
            ending = self.left_open.end(connection, "ended by the user")
            outcome = settling.await_outcome(
                self.link,
                ending,
                settle_wait / len(chosen),
                clock=self.clock,
                done=lambda e: settling.record_outcome(self.record, e),
            )
            shown = snapshot.shown_outcome(outcome, self.link.asset) if outcome else {"status": "open"}
            ended.append({"session": connection.session_id, "exit": connection.exit, "settlement": shown})
        return {"ended": ended}

    def _leave_exit(self, *, park: bool = False) -> str | None:
        """Tell the exit the session ends (or, `park`, that this device leaves it open) and sign the last receipt
        it asks for (best effort: it may be gone); what went wrong, if anything."""
        session = self.session
        if session is None:
            return None  # never joined: there is no session at the exit to leave
        connection = session.connection
        try:
            session.desk.observe(sum(p.rx_bytes + p.tx_bytes for p in self._peers() or []))
            body = leave_request(self.domain, self.account, connection.session_id, clock=self.stamps, park=park)
            with ExitAPI(connection.api_url, timeout=5.0) as api:
                last = LeaveAnswer.from_json(api.leave(connection.session_id, body, park=park))
            if last.receipt_request is not None:
                session.desk.sign(last.receipt_request)
        except (ExitAPIError, ProtocolError, CommandError) as exc:
            log.warning("the exit did not take the leave or the last receipt: %s", exc)
            return f"leaving: {exc}"
        return None

    def _restore_host(self) -> None:
        changes = self.record.state.host
        if changes is not None:
            restore(self.runner, changes)
            self.dns.update(servers=())
            self.record.event(None, host=None)

    # -------------------------------------------------------- preferences
    def set_preferences(self, changes: dict) -> None:
        """Change the connection's preferences in place: the kill switch and DNS at once, the receipt allowances
        from the next request on. They stay in force for a restarted daemon."""
        if self.record.state.status not in LIVE or self.session is None:
            raise Conflict("not connected: `octravpn up` takes these preferences as options")
        before, after = self._prefs(), replace(self._prefs(), **changes)
        _, made, connection = self._live()
        host = self.host = self._tunnel_host(after)
        if after.kill_switch != before.kill_switch:
            if after.kill_switch:
                host.kill_switch_on(made, connection.exit_endpoint)
            else:
                host.kill_switch_off(made)
        if after.accept_dns != before.accept_dns:
            host.use_exit_dns(tuple(connection.dns))
        meter = self.session.desk.meter
        meter.leeway, meter.loss_percent = int(after.leeway_mb * BYTES_PER_MB), after.loss_percent
        self.record.event(None, prefs=after.to_json())

    # ---------------------------------------------------------------- tick
    def tick(self) -> None:
        """Meter, answer the exit, watch its health; rejoin or fail over when due."""
        session = self.session
        if session is not None:
            self._tick(session, self.clock())

    def _tick(self, session: Session, now: float) -> None:
        peers = self._peers()
        if peers is None:
            self._rejoin(session)
            return
        session.observe(peers, now)
        if (sequence := session.probe_due(now)) is not None:
            try:
                send_echo(
                    session.connection.exit_address.split("/")[0], connection_interface(self.record.state), sequence
                )
            except OSError as exc:
                log.debug("probe not sent: %s", exc)
        answered = session.answer_exit(now)
        if answered.left_open:
            self._join_again(session)
            return
        if not answered.ok:
            self.counters["exit_errors"] += 1
        session.settle_live(now)
        down_since = session.health.unreachable_since(now)
        with self.record.lock:
            was, connection = self.record.state.status, session.connection
            if down_since is None:
                cleared = was is Status.EXIT_UNREACHABLE or (was is Status.CONNECTED and answered.ok)
                error = answered.refusal or (None if cleared else self.record.state.last_error)
                self.record.event(Event.EXIT_BACK, last_error=error, exit_unreachable_since=None)
            else:
                error = self.record.state.last_error
                if was is Status.CONNECTED:
                    error = (
                        f"the exit has not answered since {_clock_text(down_since)} (API: "
                        f"{session.health.api_error or 'no answer'}; nothing received through the tunnel)"
                    )
                self.record.event(Event.EXIT_SILENT, last_error=error, exit_unreachable_since=down_since)
            if connection.chain_status not in ("open", "opening") and self.record.state.status is not Status.ENDED:
                ended = f"session {connection.session_id} is {connection.chain_status} on chain"
                self.record.event(Event.SESSION_ENDED, last_error=f"{ended}: run `octravpn down`, then `up` again")
        if down_since is not None and self._prefs().exit == "auto" and self.failover_backoff.due(now):
            self._failover(session, down_since)

    def _peers(self):
        """The tunnel interface's peers, or None if the interface is gone."""
        if self.host is None:
            return None
        try:
            return self.host.engine.peers(connection_interface(self.record.state))
        except CommandError:
            return None

    def _prefs(self) -> UpRequest:
        return UpRequest.from_json(self.record.state.prefs)

    def _tunnel_host(self, request: UpRequest) -> TunnelHost:
        urls = [*self.settings.network.rpc_urls, *(u for u in (request.indexer, *self.settings.indexers) if u)]
        control = tuple(b for b in (control_bypass(u, self.resolve) for u in urls) if b is not None)
        options = TunnelOptions(
            interface=request.interface,
            kill_switch=request.kill_switch,
            accept_dns=request.accept_dns,
            mesh_interface=self.settings.mesh_interface,
        )
        return TunnelHost(self.runner, options, control, self.dns)

    def _session_for(self, connection: Connection, request: UpRequest) -> Session:
        return Session.of(
            connection, request, account=self.account, domain=self.domain, settings=self.settings, now=self.clock()
        )


def _noting(session: Callable[[], Terms], opened: list[Terms]) -> Callable[[], Terms]:
    """`session`, keeping what it returned in `opened`."""

    def noted() -> Terms:
        terms = session()
        opened.append(terms)
        return terms

    return noted


def _carried(resumed: Connection | None, connection: Connection) -> Connection:
    """A rejoined session goes on from what it had: its figures, its receipts' numbering; the new interface
    counts from zero."""
    if resumed is not None:
        for name in ("measured_bytes", "signed_seq", "signed_bytes", "receipts_signed", "requests_refused"):
            setattr(connection, name, getattr(resumed, name))
        connection.counter_base = resumed.measured_bytes
    return connection


def connection_interface(state: DaemonState) -> str:
    return state.host.interface if state.host else UpRequest.from_json(state.prefs).interface


def _clock_text(when: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when))
