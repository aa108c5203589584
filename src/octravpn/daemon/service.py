"""octravpnd's service: it composes the device's connection through an exit (`exit`), the chain loop
(`chainloop`), the mesh (`mesh`) and the requests about sessions it does not hold (`apps`), over one state
(`record`), one chain client (`chainlink`) and one owner of the host's resolver (`host.dns`).

Three kinds of work, each on its own thread so none waits for another:
- the API's requests (`up`, `down`, `set`, `wg-config`), one at a time;
- the tick (every second): the exit connection's metering, receipts and health, and a rejoin or a failover
  when one is due;
- the chain loop, and the mesh's step.
`status` reads the last snapshot and does no I/O, so it answers at once whatever the chain or the exit are
doing. Everything that matters after a restart is in `DaemonState`, saved after every change; a restarted
daemon picks the session up where it was (the kill switch and routes stood while it was away).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from eth_account.signers.local import LocalAccount

from octravpn.chain.client import OctraVPN
from octravpn.daemon import apps, snapshot
from octravpn.daemon.chainlink import ChainLink
from octravpn.daemon.chainloop import ChainLoop
from octravpn.daemon.connection import Conflict
from octravpn.daemon.dialing import Dialer, NotRegistered
from octravpn.daemon.exit import ExitConnection, connection_interface
from octravpn.daemon.mesh import MeshAgent, MeshSettings
from octravpn.daemon.record import Record
from octravpn.daemon.settings import DaemonSettings
from octravpn.daemon.state import DaemonState
from octravpn.daemon.wire import UpRequest
from octravpn.host.dns import DNSManager
from octravpn.protocol.eip712 import Domain
from octravpn.wireguard.runner import CommandRunner

__all__ = ["Conflict", "Daemon", "DaemonSettings", "NotRegistered"]


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
        self.settings, self.account, self.clock = settings, account, clock
        self.operation = threading.Lock()  # up, down, set, wg-config and the tick: one at a time
        self.record = Record(settings.state_path, clock, self._snapshot)
        self.domain = Domain(chain_id=settings.network.chain_id, verifying_contract=settings.network.contract_address)
        self.link = ChainLink(open_chain, account, clock)
        self.dialer = Dialer(
            self.link, account=account, domain=self.domain, indexer_url=settings.indexer_url, clock=clock
        )
        self.dns = DNSManager(settings.dns_file, settings.state_dir / "dns.json")
        self.counters = {"failovers": 0, "rejoins": 0, "chain_errors": 0, "indexer_errors": 0, "exit_errors": 0}
        self.exit = ExitConnection(
            self.record,
            settings=settings,
            account=account,
            domain=self.domain,
            link=self.link,
            dialer=self.dialer,
            dns=self.dns,
            runner=runner,
            resolve=resolve,
            counters=self.counters,
            clock=clock,
        )
        self.chain_loop = ChainLoop(
            self.record,
            settings=settings,
            link=self.link,
            dialer=self.dialer,
            exit=self.exit,
            counters=self.counters,
            clock=clock,
        )
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
            chain=self.link.client,
            tunnels=self._tunnels,
            on_change=self.publish,
            clock=clock,
        )

    @property
    def state(self) -> DaemonState:
        return self.record.state

    @property
    def version(self) -> int:
        return self.record.version

    @property
    def shown(self) -> dict:
        return self.record.shown

    def start(self) -> None:
        self.mesh.start()
        self.exit.start()

    # ------------------------------------------------------------ requests
    def up(self, request: UpRequest) -> dict:
        with self.operation:
            self.exit.up(request)
        return self.status()

    def down(self, *, settle_wait: float, end: bool = False) -> dict:
        with self.operation:
            return self.exit.down(settle_wait=settle_wait, end=end)

    def end_sessions(self, session_id: int | None, *, settle_wait: float) -> dict:
        """End a session `down` left open (None: every one)."""
        with self.operation:
            return self.exit.end_left_open(session_id, settle_wait=settle_wait)

    def set_preferences(self, changes: dict, mesh_changes: dict | None = None) -> dict:
        """The connection's preferences (in place, and kept for a restarted daemon) and the mesh's (hostname,
        tags, tailnet, on or off; announced at its next step)."""
        if mesh_changes:
            self.mesh.set_prefs(**mesh_changes)
        if changes:
            with self.operation:
                self.exit.set_preferences(changes)
        return self.status()

    def wg_config(self, request: UpRequest, *, dns_line: bool) -> dict:
        with self.operation:
            return apps.wg_config(self.dialer, request, dns_line=dns_line)

    def confirm(self, session_id: int, bytes_used: int) -> dict:
        return apps.confirm(self.link, session_id, bytes_used)

    def consent(self, wallet: str) -> dict:
        return apps.consent(self.domain, self.account, wallet)

    # --------------------------------------------------------------- loops
    def tick(self) -> None:
        if not self.operation.acquire(blocking=False):
            return  # a request is in progress: it owns the connection
        try:
            self.exit.tick()
            self.exit.left_open.expire()
        finally:
            self.operation.release()

    def chain_step(self) -> None:
        self.chain_loop.step()

    # -------------------------------------------------------------- status
    def save(self) -> None:
        self.record.save()

    def publish(self) -> None:
        """Fold the live readings into the snapshot (and the saved figures into the file)."""
        self.record.changed()

    def status(self) -> dict:
        with self.record.lock:
            return {**snapshot.with_handshake_age(self.record.shown, self.clock()), "mesh": self.mesh.shown()}

    def _snapshot(self, state: DaemonState) -> dict:
        session = self.exit.session
        who = snapshot.Identity(
            device=self.account.address,
            member=self.dialer.member,
            network=self.settings.network.name,
            asset=self.link.asset,
        )
        return snapshot.build(
            state,
            who,
            interface=connection_interface(state) if session else None,
            connection=session.connection if session else None,
            live=session.live if session else None,
        )

    def _tunnels(self) -> frozenset[str]:
        """The exit tunnel's interface, if any: its address is no place for a peer to reach this device."""
        host = self.record.state.host
        return frozenset({host.interface}) if host is not None else frozenset()
