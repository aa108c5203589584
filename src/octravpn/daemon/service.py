"""octravpnd's service: the device's connection through an exit, kept alive across failures.

Three kinds of work, each on its own thread so none waits for another:
- the API's requests (`up`, `down`, `wg-config`), one at a time;
- the tick (every second): WireGuard's counters, the exit's receipt requests,
  the exit's health, and a failover or a rejoin when one is due; it talks only
  to WireGuard and the exit, never to the chain, so a stalled chain never
  delays a receipt;
- the chain loop: the session's status on chain, and the sessions this device
  left, until each has settled or been refunded; it backs off while the RPC
  is unreachable.
`status` reads the last snapshot and does no I/O, so it answers at once
whatever the chain or the exit are doing. Everything that matters after a
restart is in `DaemonState`, saved after every change; a restarted daemon
picks the session up where it was (the kill switch and routes stood while it
was away).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from eth_account.signers.local import LocalAccount

from octravpn.chain.client import OctraVPN
from octravpn.chain.errors import ChainError
from octravpn.client import settlement
from octravpn.client.connect import Connector, Joined, Located, Terms, join, leave_request
from octravpn.client.discovery import IndexerClient, IndexerUnavailable, choose_exit
from octravpn.client.exit_api import ExitAPI, ExitAPIError
from octravpn.client.health import ExitHealth
from octravpn.client.receipts import ReceiptDesk
from octravpn.client.state import Connection, DaemonState, Ending
from octravpn.config import Network
from octravpn.daemon import snapshot
from octravpn.daemon.mesh import MeshAgent, MeshSettings
from octravpn.daemon.wire import UpRequest
from octravpn.errors import OctraVPNError, StateError, UsageError
from octravpn.host.dns import DNSManager
from octravpn.host.icmp import send_echo
from octravpn.host.tunnel import HostChanges, TunnelHost, TunnelOptions, control_bypass, interface_config, restore
from octravpn.protocol import Device, sign
from octravpn.protocol.eip712 import Domain
from octravpn.protocol.errors import ProtocolError
from octravpn.protocol.exitwire import LeaveAnswer
from octravpn.protocol.metering import BYTES_PER_MB
from octravpn.protocol.sessions import STATUS_NAMES
from octravpn.units import parse_amount
from octravpn.wireguard.keys import Keypair, decode_key, encode_key
from octravpn.wireguard.runner import CommandError, CommandRunner

log = logging.getLogger("octravpn.daemon")
SETTLED_KEPT = 20  # outcomes of left sessions kept in the state, newest last
FAILED_EXIT_MEMORY = 120.0  # seconds a failover passes over an exit found unreachable


def _failure_counter(exc: Exception) -> str:
    """Which counter a failed step counts in: whose failure it was."""
    if isinstance(exc, ChainError):
        return "chain_errors"
    if isinstance(exc, IndexerUnavailable):
        return "indexer_errors"
    return "exit_errors"


class Conflict(StateError):
    """The request does not fit the daemon's state (already up, already down)."""

    code = "conflict"


class NotRegistered(StateError):
    """This device's key acts for no member yet."""

    code = "device-not-registered"

    def __init__(self, message: str, device: str) -> None:
        super().__init__(message)
        self.detail = {"device": device}


@dataclass(frozen=True, kw_only=True)
class DaemonSettings:
    state_dir: Path
    network: Network
    indexers: tuple[str, ...] = ()  # the first for `--exit auto` when the request names none; all for the mesh
    tick_seconds: float = 1.0
    chain_poll_seconds: float = 5.0
    chain_backoff_max: float = 30.0
    dead_after: float = 6.0
    failover_retry_seconds: float = 5.0
    dns_file: Path = Path("/etc/resolv.conf")

    mesh_interface: str = "ovpn-mesh"
    mesh_port: int = 41641

    @property
    def state_path(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def indexer_url(self) -> str | None:
        return self.indexers[0] if self.indexers else None


@dataclass
class Session:
    """The in-memory companions of the saved `Connection`."""

    connection: Connection
    desk: ReceiptDesk
    health: ExitHealth
    live: snapshot.Live = field(default_factory=snapshot.Live)
    probes: int = 0


class Daemon:
    def __init__(
        self,
        settings: DaemonSettings,
        *,
        account: LocalAccount,
        runner: CommandRunner,
        open_chain: Callable[[], OctraVPN],
        resolve: Callable[[str], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.account = account
        self.runner = runner
        self.open_chain = open_chain
        self.resolve = resolve
        self.clock = clock
        self.state = DaemonState.load(settings.state_path)
        self.lock = threading.RLock()  # the state and the snapshot
        self.operation = threading.Lock()  # up, down, wg-config and the tick's repairs: one at a time
        self.chain_lock = threading.Lock()  # transactions from one key: one at a time (nonces)
        self.version = 0
        self.shown: dict = {}  # the last snapshot, served by `status`
        self.session: Session | None = None
        self.host: TunnelHost | None = None
        self.dns = DNSManager(settings.dns_file, settings.state_dir / "dns.json")
        self._chain: OctraVPN | None = None
        self._connector: Connector | None = None
        self.asset: tuple[int, str] | None = None  # (decimals, symbol) once the chain answered
        self.member: str | None = None
        self.failed_exits: dict[str, float] = {}  # exit -> when it was found unreachable
        self.next_failover = 0.0
        self.chain_next_poll = 0.0
        self.chain_backoff = settings.chain_poll_seconds
        self.domain = Domain(chain_id=settings.network.chain_id, verifying_contract=settings.network.contract)
        self.counters = {"failovers": 0, "rejoins": 0, "chain_errors": 0, "indexer_errors": 0, "exit_errors": 0}
        self.mesh = MeshAgent(
            MeshSettings(
                state_dir=settings.state_dir,
                indexers=settings.indexers,
                interface=settings.mesh_interface,
                port=settings.mesh_port,
            ),
            account=account,
            domain=self.domain,
            runner=runner,
            dns=self.dns,
            open_chain=open_chain,
            tunnels=self._tunnels,
            on_change=self.publish,
            clock=clock,
        )

    # ------------------------------------------------------------ start
    def start(self) -> None:
        """Pick up a saved session (its kill switch and routes stood while the daemon was away)."""
        self.mesh.start()
        with self.lock:
            state = self.state
            if state.connection is not None and state.prefs is not None:
                self.host = self._host_network(UpRequest.from_json(state.prefs))
                self.session = self._session_for(state.connection, UpRequest.from_json(state.prefs))
                log.info("resuming session %d through %s", state.connection.session_id, state.connection.exit)
            elif state.host is not None:  # a connection that was being taken down when the daemon stopped
                restore(self.runner, state.host)
                self.dns.update(servers=())
                state.host, state.status = None, "down"
            self._changed()

    # ------------------------------------------------------------ chain
    def chain(self) -> OctraVPN:
        if self._chain is None:
            self._chain = self.open_chain()
        if self.asset is None:
            self.asset = (self._chain.asset_decimals(), self._chain.asset_symbol())
        return self._chain

    def connector(self) -> Connector:
        if self._connector is None:
            self._connector = Connector(client=self.chain(), account=self.account, clock=self.clock)
        return self._connector

    def amount(self, text: str | None, what: str) -> int | None:
        if text is None:
            return None
        self.chain()
        return parse_amount(text, self.asset[0], what=what)

    # --------------------------------------------------------------- up
    def up(self, request: UpRequest) -> dict:
        with self.operation:
            if self.state.connection is not None:
                raise Conflict(
                    f"already up through {self.state.connection.exit} (session "
                    f"{self.state.connection.session_id}): run `octravpn down` first"
                )
            connector = self.connector()
            self._check_registered(connector)
            self.failed_exits.clear()  # a new connection gives every exit a new chance
            located, open_session = self._target(connector, request)
            keys = Keypair.generate()
            self.host = self._host_network(request)
            changes = HostChanges(interface=request.interface)
            with self.lock:
                self.state.status, self.state.last_error, self.state.prefs = "connecting", None, request.to_json()
                self.state.host = changes  # from here on, whatever is done to the host can be undone
                self._changed()
            # The interface is created (its own process, a TUN device) while the session opens and the exit
            # answers: neither needs the other, and both take tens of milliseconds.
            with ThreadPoolExecutor(max_workers=1) as pool:
                prepared = pool.submit(self.host.prepare, request.interface, keys.private)
                try:
                    try:
                        terms = open_session()
                        joined = connector.join(located, terms.session_id, keys)
                    finally:
                        prepared.result()
                    connection = self._connection(terms, located, joined)
                    self.host.bring_up(
                        changes,
                        interface_config(
                            request.interface,
                            keys.private,
                            joined.client_address,
                            joined.exit_public_key,
                            located.endpoint,
                        ),
                        located.endpoint,
                        joined.dns,
                        self._save,
                    )
                except BaseException as exc:
                    self.host.restore(changes)
                    with self.lock:
                        self.state.status, self.state.prefs, self.state.host = "down", None, None
                        self.state.last_error = f"could not connect: {exc}"
                        self._changed()
                    raise
            with self.lock:
                connection.connected_at = self.clock()
                self.state.connection, self.state.status = connection, "connected"
                self.state.exit_unreachable_since = None
                self.session = self._session_for(connection, request)
                self._changed()
            log.info("connected through %s, session %d", connection.exit, connection.session_id)
            return self.status()

    def _target(self, connector: Connector, request: UpRequest) -> tuple[Located, Callable[[], Terms]]:
        """The exit a request names (or `auto` chooses), and how to get its session: the one `--session` names,
        checked to be this device's and open there, or a new one at the price the exit was chosen at."""
        exit_addr, tailnet_id, price = self._choose_exit(connector, request, exclude=())
        located = connector.locate(exit_addr)
        price = located.registered.price_per_mb if price is None else price
        max_pay = self.amount(request.max_pay, "max pay")

        def open_session() -> Terms:
            if request.session is not None:
                connector.reusable(located.address, request.session, required=True)
                return connector.terms(request.session)
            with self.chain_lock:
                return connector.open_session(located.address, tailnet_id, max_pay, price)

        return located, open_session

    def _check_registered(self, connector: Connector) -> None:
        if self.member is None:
            self.member = connector.member()
        if self.member is None:
            raise NotRegistered(
                f"this device ({self.account.address}) acts for no member yet: on a machine with the member's wallet run "
                f"`octravpn -w WALLET device add {self.account.address} --fund 0.01` (or give `up` that wallet with -w)",
                self.account.address,
            )

    def _choose_exit(self, connector: Connector, request: UpRequest, *, exclude) -> tuple[str, int | None, int | None]:
        """The exit's address, the tailnet that pays (None: the one tailnet that allows it) and the price it was
        chosen at (None: as listed now)."""
        if request.exit != "auto":
            return request.exit, request.tailnet, None
        url = request.indexer or self.settings.indexer_url
        if url is None:
            raise UsageError("--exit auto needs an indexer: pass --indexer URL (or start the daemon with --indexer)")
        api = IndexerClient(url, timeout=5.0)
        try:
            chosen = choose_exit(
                api,
                self.member,
                tailnet=request.tailnet,
                region=request.region,
                max_price=self.amount(request.max_price, "max price"),
                exclude=frozenset(exclude),
            )
        finally:
            api.close()
        log.info("--exit auto: %s for tailnet %d (price %d per MB)", *chosen)
        return chosen

    @staticmethod
    def _connection(terms: Terms, located: Located, joined: Joined) -> Connection:
        return Connection(
            session_id=terms.session_id,
            exit=located.address,
            tailnet_id=terms.tailnet_id,
            deposit=terms.deposit,
            price_per_mb=terms.price_per_mb,
            exit_endpoint=located.endpoint,
            receipt_signer=located.receipt_signer,
            exit_wg_pubkey=encode_key(located.registered.wg_pubkey),
            client_address=joined.client_address,
            exit_address=joined.exit_address,
            dns=list(joined.dns),
        )

    def _host_network(self, request: UpRequest) -> TunnelHost:
        urls = list(self.settings.network.rpc_urls)
        urls += [u for u in (request.indexer, *self.settings.indexers) if u]
        control = tuple(b for b in (control_bypass(u, self.resolve) for u in urls) if b is not None)
        options = TunnelOptions(
            interface=request.interface,
            kill_switch=request.kill_switch,
            accept_dns=request.accept_dns,
            mesh_interface=self.settings.mesh_interface,
        )
        return TunnelHost(self.runner, options, control, self.dns)

    def _session_for(self, connection: Connection, request: UpRequest) -> Session:
        desk = ReceiptDesk(
            connection=connection,
            account=self.account,
            domain=self.domain,
            leeway=int(request.leeway_mb * BYTES_PER_MB),
            loss_percent=request.loss_percent,
            evidence_dir=self.settings.state_dir,
        )
        return Session(
            connection=connection, desk=desk, health=ExitHealth(since=self.clock(), dead_after=self.settings.dead_after)
        )

    # ------------------------------------------------------------- down
    def down(self, *, settle_wait: float) -> dict:
        with self.operation:
            state = self.state
            connection = state.connection
            if connection is None:
                if state.host is not None:
                    self._restore_host()
                raise Conflict("not connected: nothing to take down")
            with self.lock:
                state.status = "disconnecting"
                self._changed()
            leave_error = self._leave_exit()
            self._restore_host()
            ending = Ending(
                session_id=connection.session_id,
                exit=connection.exit,
                deposit=connection.deposit,
                figure=connection.figure,
                left_at=self.clock(),
                reason="down",
            )
            with self.lock:
                summary = {
                    "session": connection.session_id,
                    "exit": connection.exit,
                    "measured_bytes": connection.measured_bytes,
                    "signed_bytes": connection.signed_bytes,
                    "receipts_signed": connection.receipts_signed,
                    "last_error": leave_error,
                }
                state.connection, state.prefs, self.session = None, None, None
                state.status, state.exit_unreachable_since, state.last_error = "down", None, leave_error
                state.ending.append(ending)
                self._changed()
        return {**summary, "settlement": self._await_settlement(ending, settle_wait)}

    def _leave_exit(self) -> str | None:
        """Tell the exit the session ends and sign the last receipt it asks for (best effort: it may be gone);
        what went wrong, if anything."""
        session = self.session
        connection = session.connection
        try:
            session.desk.observe(self._interface_bytes(connection))
            api = ExitAPI(connection.api_url, timeout=5.0)
            answer = api.leave(
                connection.session_id, leave_request(self.domain, self.account, connection.session_id, clock=self.clock)
            )
            last = LeaveAnswer.from_json(answer).receipt_request
            if last is not None:
                session.desk.sign(last)
        except (ExitAPIError, ProtocolError, CommandError) as exc:
            log.warning("the exit did not take the leave or the last receipt: %s", exc)
            return f"leaving: {exc}"
        return None

    def _restore_host(self) -> None:
        with self.lock:
            changes = self.state.host
        if changes is not None:
            restore(self.runner, changes)
            self.dns.update(servers=())
            with self.lock:
                self.state.host = None
                self._changed()

    def _await_settlement(self, ending: Ending, wait: float) -> dict:
        """Drive the left session's settlement for up to `wait` seconds; the chain loop goes on after."""
        deadline = self.clock() + wait
        while True:
            try:
                with self.chain_lock:
                    done = settlement.step(self.chain(), ending)
            except ChainError as exc:
                done = False
                log.info("waiting for the settlement: %s", exc)
            if done:
                self._record_outcome(ending)
                return self._shown_outcome(ending.outcome)
            if self.clock() >= deadline:
                return {
                    "status": "open",
                    "confirmed_bytes": ending.confirmed,
                    "signed_bytes": ending.figure,
                    "note": "not settled yet: the exit can settle with your last receipt until the session grace "
                    "ends; the daemon confirms its claim, or takes the deposit back after the grace",
                }
            time.sleep(0.5)

    def _record_outcome(self, ending: Ending) -> None:
        with self.lock:
            if ending in self.state.ending:
                self.state.ending.remove(ending)
            self.state.settled = [*self.state.settled, {**ending.outcome, "reason": ending.reason}][-SETTLED_KEPT:]
            self._changed()

    def _shown_outcome(self, outcome: dict) -> dict:
        return snapshot.shown_outcome(outcome, self.asset)

    # ------------------------------------------------------------- set
    def set_preferences(self, changes: dict, mesh_changes: dict | None = None) -> dict:
        """Change the connection's preferences in place: the kill switch and DNS at once, the receipt allowances
        from the next request on; and the mesh's (hostname, tags, tailnet, on or off), announced at its next
        step. They stay in force for a restarted daemon."""
        if mesh_changes:
            self.mesh.set_prefs(**mesh_changes)
            if not changes:
                return self.status()
        with self.operation:
            if self.state.connection is None or self.session is None:
                raise Conflict("not connected: `octravpn up` takes these preferences as options")
            before, after = self._prefs(), replace(self._prefs(), **changes)
            connection, host = self.state.connection, self.state.host
            self.host = self._host_network(after)
            if after.kill_switch != before.kill_switch:
                if after.kill_switch:
                    self.host.kill_switch_on(host, connection.exit_endpoint)
                else:
                    self.host.kill_switch_off(host)
            if after.accept_dns != before.accept_dns:
                self.host.use_exit_dns(tuple(connection.dns))
            meter = self.session.desk.meter
            meter.leeway, meter.loss_percent = int(after.leeway_mb * BYTES_PER_MB), after.loss_percent
            with self.lock:
                self.state.prefs = after.to_json()
                self._changed()
            return self.status()

    # -------------------------------------------------------- wg-config
    def wg_config(self, request: UpRequest, *, dns_line: bool) -> dict:
        """A session for a standard WireGuard app: it signs no receipts, so the exit settles by claim."""
        with self.operation:
            connector = self.connector()
            self._check_registered(connector)
            located, open_session = self._target(connector, request)
            sid = open_session().session_id
            keys = Keypair.generate()
            joined = connector.join(located, sid, keys, signs_receipts=False)
        # A WireGuard app routes IPv6 into the tunnel too (the exit drops it): nothing leaks around it.
        config = interface_config(
            "octravpn",
            keys.private,
            joined.client_address,
            joined.exit_public_key,
            located.endpoint,
            allowed_ips=("0.0.0.0/0", "::/0"),
        )
        text = f"# OctraVPN session {sid} through {located.address}\n" + config.wg_quick(
            dns=joined.dns, dns_line=dns_line
        )
        return {"session": sid, "exit": located.address, "config": text}

    def confirm(self, session_id: int, bytes_used: int) -> dict:
        """Confirm an exit's claim on a session this device opened (a wg-config session): `session confirm`."""
        with self.chain_lock:
            result = self.chain().settle_confirm(session_id, bytes_used)
        settled = [e for e in result.events if e.name == "SessionSettled"]
        answer = {
            "tx": result.tx_hash,
            "block": result.block_number,
            "gas_used": result.gas_used,
            "outcome": "settled" if settled else "disputed",
        }
        if settled:
            answer.update(total_paid=settled[0].args["total_paid"], refund=settled[0].args["refund"])
        return answer

    # ---------------------------------------------------------- consent
    def consent(self, wallet: str) -> dict:
        """This device key's consent to act for `wallet` (what `device add` sends with the registration)."""
        signature = sign(self.domain, Device(wallet=wallet), self.account.key)
        return {"device": self.account.address, "wallet": wallet, "signature": "0x" + signature.hex()}

    # ------------------------------------------------------------- tick
    def tick(self) -> None:
        """Meter, answer the exit, watch its health; rejoin or fail over when due. Never touches the chain
        except to open a failover's session."""
        if not self.operation.acquire(blocking=False):
            return  # an up/down is in progress: it owns the connection
        try:
            session = self.session
            if session is None:
                return
            now = self.clock()
            connection = session.connection
            peers = self._peers(connection)
            if peers is None:
                self._rejoin(session)
                return
            live = session.live
            if peers:
                peer = peers[0]
                live.latest_handshake, live.rx_bytes, live.tx_bytes = (
                    peer.latest_handshake,
                    peer.rx_bytes,
                    peer.tx_bytes,
                )
                try:
                    session.desk.observe(peer.rx_bytes + peer.tx_bytes)
                except ProtocolError as exc:
                    log.warning("counters: %s", exc)
                session.health.received(peer.rx_bytes, now)
            if session.health.should_probe(now):
                session.probes += 1
                try:
                    send_echo(connection.exit_address.split("/")[0], connection_interface(self.state), session.probes)
                except OSError as exc:
                    log.debug("probe not sent: %s", exc)
            try:
                session.desk.answer()
                session.health.api_answered(now)
                if self.state.status == "connected" and self.state.last_error is not None:
                    with self.lock:
                        self.state.last_error = None  # the exit answers as it should again
            except (ExitAPIError, ProtocolError) as exc:
                self.counters["exit_errors"] += 1
                if isinstance(exc, ExitAPIError) and exc.status is not None:
                    session.health.api_answered(now)  # it refused (say, a session it ended): but it is there
                    with self.lock:
                        self.state.last_error = str(exc)
                else:
                    session.health.api_failed(str(exc))
            live.receiving = (
                session.health.last_received is not None
                and now - session.health.last_received < self.settings.dead_after
            )
            down_since = session.health.unreachable_since(now)
            with self.lock:
                state = self.state
                if down_since is None:
                    state.exit_unreachable_since = None
                    if state.status in ("exit-unreachable", "connecting"):
                        state.status, state.last_error = "connected", None
                else:
                    state.exit_unreachable_since = down_since
                    if state.status == "connected":
                        state.status = "exit-unreachable"
                        state.last_error = (
                            f"the exit has not answered since {_clock_text(down_since)} (API: "
                            f"{session.health.api_error or 'no answer'}; nothing received through the tunnel)"
                        )
                if connection.chain_status != "open" and state.status != "ended":
                    state.status = "ended"
                    state.last_error = (
                        f"session {connection.session_id} is {connection.chain_status} on chain: run "
                        "`octravpn down`, then `up` again"
                    )
                self._changed()
            if down_since is not None and self._prefs().exit == "auto" and now >= self.next_failover:
                self._failover(session, down_since)
        finally:
            self.operation.release()

    def _prefs(self) -> UpRequest:
        return UpRequest.from_json(self.state.prefs)

    def _peers(self, connection: Connection):
        """The interface's peers, or None if the interface is gone."""
        try:
            return self.host.engine.peers(connection_interface(self.state))
        except CommandError:
            return None

    def _interface_bytes(self, connection: Connection) -> int:
        peers = self._peers(connection) or []
        return sum(p.rx_bytes + p.tx_bytes for p in peers)

    def _rejoin(self, session: Session) -> None:
        """The interface vanished under a live session: join the same session again with a new key (the exit
        takes a new key for a session it serves) and put the interface and its routes back."""
        connection = session.connection
        keys = Keypair.generate()
        try:
            joined = join(
                self.domain,
                self.account,
                connection.api_url,
                decode_key(connection.exit_wg_pubkey),
                connection.session_id,
                keys,
                clock=self.clock,
            )
            connection.counter_base = connection.measured_bytes
            session.desk.meter.observe(connection.counter_base)
            self.host.reattach(
                self.state.host,
                interface_config(
                    connection_interface(self.state),
                    keys.private,
                    joined.client_address,
                    joined.exit_public_key,
                    connection.exit_endpoint,
                ),
                connection.exit_endpoint,
            )
        except (OctraVPNError, CommandError) as exc:
            with self.lock:
                self.state.status, self.state.last_error = "exit-unreachable", f"rejoining the exit: {exc}"
                if self.state.exit_unreachable_since is None:
                    self.state.exit_unreachable_since = self.clock()
                self._changed()
            return
        self.counters["rejoins"] += 1
        with self.lock:
            connection.client_address = joined.client_address
            session.health = ExitHealth(since=self.clock(), dead_after=self.settings.dead_after)
            self.state.status, self.state.last_error = "connected", None
            self._changed()
        log.info("the interface was gone: rejoined session %d", connection.session_id)

    def _failover(self, session: Session, down_since: float) -> None:
        """Move to the next best exit under the standing kill switch; the old session is left to settle."""
        old = session.connection
        request = self._prefs()
        now = self.clock()
        self.failed_exits[old.exit] = now
        self.next_failover = now + self.settings.failover_retry_seconds
        try:
            connector = self.connector()
            exclude = {e for e, when in self.failed_exits.items() if now - when < FAILED_EXIT_MEMORY}
            exit_addr, _, price = self._choose_exit(connector, request.with_tailnet(old.tailnet_id), exclude=exclude)
            located = connector.locate(exit_addr)
            self.host.allow(self.state.host, old.exit_endpoint, located.endpoint)
            with self.chain_lock:
                terms = connector.open_session(
                    located.address, old.tailnet_id, self.amount(request.max_pay, "max pay"), price
                )
            keys = Keypair.generate()
            joined = connector.join(located, terms.session_id, keys)
            connection = self._connection(terms, located, joined)
            self.host.switch(
                self.state.host,
                interface_config(
                    request.interface, keys.private, joined.client_address, joined.exit_public_key, located.endpoint
                ),
                located.endpoint,
                joined.dns,
            )
        except (OctraVPNError, CommandError) as exc:
            self.counters[_failure_counter(exc)] += 1
            with self.lock:
                self.state.last_error = f"the exit is unreachable and no failover worked yet: {exc}"
                self._changed()
            log.warning("failover from %s failed: %s", old.exit, exc)
            return
        now = self.clock()
        self.counters["failovers"] += 1
        with self.lock:
            connection.connected_at = now
            state = self.state
            state.ending.append(
                Ending(
                    session_id=old.session_id,
                    exit=old.exit,
                    deposit=old.deposit,
                    figure=old.figure,
                    left_at=now,
                    reason="failover",
                )
            )
            state.connection, state.status, state.last_error, state.exit_unreachable_since = (
                connection,
                "connected",
                None,
                None,
            )
            state.failovers += 1
            state.last_failover = {
                "from": old.exit,
                "to": connection.exit,
                "at": now,
                "seconds_without_exit": round(now - down_since, 3),
                "old_session": old.session_id,
                "new_session": connection.session_id,
            }
            self.session = self._session_for(connection, request)
            self._changed()
        log.warning(
            "failover: %s unreachable since %s; now through %s (session %d)",
            old.exit,
            _clock_text(down_since),
            connection.exit,
            connection.session_id,
        )

    # ------------------------------------------------------------ chain
    def chain_step(self) -> None:
        """The session's status on chain and the left sessions' settlement; backs off while the RPC is down."""
        now = self.clock()
        if now < self.chain_next_poll:
            return
        try:
            client = self.chain()
            member = self.connector().member()
            if member != self.member:
                with self.lock:
                    self.member = member
                    self._changed()
            session = self.session
            if session is not None:
                status = client.session(session.connection.session_id).status
                with self.lock:
                    session.connection.chain_status = STATUS_NAMES[status]
            for ending in list(self.state.ending):
                with self.chain_lock:
                    done = settlement.step(client, ending)
                if done:
                    self._record_outcome(ending)
                else:
                    self.publish()  # a confirmation was sent: show it
        except ChainError as exc:
            self.counters["chain_errors"] += 1
            with self.lock:
                if self.state.chain_unreachable_since is None:
                    self.state.chain_unreachable_since = now
                self.state.chain_error = str(exc)
                self._changed()
            self.chain_next_poll = now + self.chain_backoff
            self.chain_backoff = min(self.chain_backoff * 2, self.settings.chain_backoff_max)
            return
        with self.lock:
            if self.state.chain_error is not None:
                self.state.chain_error = self.state.chain_unreachable_since = None
                self._changed()
        self.chain_backoff = self.settings.chain_poll_seconds
        self.chain_next_poll = now + self.settings.chain_poll_seconds

    # ---------------------------------------------------------- status
    def save(self) -> None:
        with self.lock:
            self._save()

    def _save(self) -> None:
        self.state.updated_at = self.clock()
        self.state.save(self.settings.state_path)

    def _changed(self) -> None:
        """Save, and rebuild the snapshot `status` serves (a new version wakes the change feed). Called with `lock`
        held."""
        self._save()
        session = self.session
        built = snapshot.build(
            self.state,
            snapshot.Identity(
                device=self.account.address, member=self.member, network=self.settings.network.name, asset=self.asset
            ),
            interface=connection_interface(self.state) if session else None,
            connection=session.connection if session else None,
            live=session.live if session else None,
        )
        if {**built, "updated_at": None} != {**self.shown, "updated_at": None}:
            self.version += 1
        self.shown = built

    def publish(self) -> None:
        """After a tick: fold the live readings into the snapshot (and the saved figures into the file)."""
        with self.lock:
            self._changed()

    def status(self) -> dict:
        with self.lock:
            return {**snapshot.with_handshake_age(self.shown, self.clock()), "mesh": self.mesh.shown()}

    def _tunnels(self) -> frozenset[str]:
        """The exit tunnel's interface, if any: its address is no place for a peer to reach this device."""
        host = self.state.host
        return frozenset({host.interface}) if host is not None else frozenset()


def connection_interface(state: DaemonState) -> str:
    return state.host.interface if state.host else UpRequest.from_json(state.prefs).interface


def _clock_text(when: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when))
