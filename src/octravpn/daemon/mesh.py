"""octravpnd's mesh: this device on its tailnet's WireGuard mesh, kept equal to what the chain and the policy say.

One step a second, on its own thread (the exit's tick and the chain loop never wait for it):
1. the chain, incrementally (`ChainFeed`): membership, device keys, the policy document, tag grants;
2. the policy the chain carries (`PolicyKeeper`): a document that does not parse here leaves the last good one
   for a short grace, then nothing is allowed;
3. this device's announcement (WireGuard key, hostname, endpoints, relay), signed and put to every indexer
   when any of it changes or half its life has gone (`Announcer`);
4. every device's announcement from the indexers (signed reads, in pages), verified against the chain and
   merged into what this device holds (`take_announcements`): what an indexer withholds stays;
5. the map (`build_netmap`), and the filter and peers the policy gives this device (`compile_device`,
   `mesh_config`), applied: filter first, then peers (`MeshHost`).
Whatever the step cannot do it leaves as it was and says so in `status`; the next step tries again.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from eth_account.signers.local import LocalAccount

from octravpn.acl import DeviceFilter
from octravpn.chain.errors import ChainError
from octravpn.daemon.backoff import Backoff
from octravpn.daemon.mesh_names import NameService
from octravpn.daemon.mesh_paths import PeerPaths
from octravpn.daemon.mesh_relay import RelayService
from octravpn.daemon.mesh_view import MapInForce, ping, running_view
from octravpn.host.dns import DNSManager
from octravpn.host.mesh import MeshChanges, MeshHost, local_addresses
from octravpn.host.uplink import MESH_FWMARK
from octravpn.mesh.addresses import V4_NETWORK, V6_PREFIX
from octravpn.mesh.announcer import Announcer
from octravpn.mesh.chainfeed import ChainFeed, Place, place
from octravpn.mesh.interface import mesh_config
from octravpn.mesh.mailbox import Mailbox
from octravpn.mesh.netmap import NetMap, build_netmap, inputs_digest, take_announcements
from octravpn.mesh.observe import Observer
from octravpn.mesh.peerapi import PEER_PORT
from octravpn.mesh.policy_keeper import PolicyKeeper, parsed_or_none
from octravpn.mesh.prefs import MeshPrefs, machine_hostname
from octravpn.mesh.relay import RELAY_PORT
from octravpn.mesh.relaying import RelayClient
from octravpn.mesh.state import MeshState, load_held, load_or_create_key, save_held
from octravpn.protocol.announce import MAX_ENDPOINTS, SignedAnnouncement, format_endpoint, parse_endpoint
from octravpn.protocol.eip712 import Domain, sign
from octravpn.protocol.errors import RemoteProtocolError
from octravpn.wireguard.dump import PeerState
from octravpn.wireguard.keys import encode_key
from octravpn.wireguard.runner import CommandError, CommandRunner

log = logging.getLogger("octravpn.daemon.mesh")
ENDPOINTS_EVERY = 5.0  # seconds between looks at the host's addresses
CHAIN_BACKOFF_MAX = 30.0


@dataclass(frozen=True, kw_only=True)
class MeshSettings:
    state_dir: Path
    indexers: tuple[str, ...]
    interface: str = "ovpn-mesh"
    port: int = 41641
    relay_port: int = RELAY_PORT
    step_seconds: float = 1.0

    @property
    def state_path(self) -> Path:
        return self.state_dir / "mesh.json"

    @property
    def policy_path(self) -> Path:
        return self.state_dir / "policy.hujson"

    @property
    def held_path(self) -> Path:
        return self.state_dir / "netmap.json"


class MeshAgent:
    def __init__(
        self,
        settings: MeshSettings,
        *,
        account: LocalAccount,
        domain: Domain,
        runner: CommandRunner,
        dns: DNSManager,
        chain: Callable[[], object],
        tunnels: Callable[[], frozenset[str]] = frozenset,
        on_change: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.account = account
        self.me = account.address.lower()
        self.domain = domain
        self.host = MeshHost(runner)
        self.dns = dns
        self.runner = runner
        self.chain = chain  # the daemon's one chain client
        self.tunnels = tunnels  # the exit tunnel's interface: not where peers reach this device
        self.on_change = on_change
        self.clock = clock
        self.lock = threading.RLock()
        self.state = MeshState.load(settings.state_path)
        self.keys = load_or_create_key(settings.state_dir / "mesh.key")
        self.mailbox = Mailbox(settings.indexers)
        self.announcer = Announcer(self.state, self.mailbox, device=account.address, sign=self._sign, save=self._save)
        self.feed = ChainFeed()
        self.chain_error: str | None = None
        self.chain_backoff = Backoff(settings.step_seconds, CHAIN_BACKOFF_MAX)
        self.keeper = PolicyKeeper()
        self.parsed: dict[bytes, object] = {}  # policy documents by hash, parsed once (None: does not parse)
        self.held: dict[str, SignedAnnouncement] = {}  # the verified announcements the map is built from
        self.refused: dict[str, str] = {}  # what the indexers served that was refused at the last fetch
        self.netmap: NetMap | None = None  # the last map built (its holders keep their keys and names)
        self.endpoints: list[str] = []
        self.local: list = []  # this host's own addresses (ip_interface), see `local_addresses`
        self.endpoints_at = float("-inf")
        self.relay = RelayService(
            me=self.me, domain=domain, port=settings.relay_port, in_force=lambda: self.built, clock=clock
        )
        self.peer_paths = PeerPaths(  # direct, relayed, or trying direct again
            me=self.me,
            relaying=RelayClient(account=account, domain=domain),
            in_force=lambda: self.built,
            own_endpoints=lambda: self.endpoints,
            read_live=self.read_live,
            clock=clock,
        )
        self.observer = Observer(self.peer_paths.proposed)  # where peers see this device (behind a NAT: its public one)
        self.names = NameService(self.host, dns, me=self.me, in_force=lambda: self.built)
        self.fetch_errors: dict[str, str] = {}
        self.built: MapInForce | None = None
        self.view: dict = {"state": "starting"}

    @property
    def live(self) -> list[PeerState]:
        """WireGuard's per-peer state of the mesh interface, as last read (shared with the peer service)."""
        return self.observer.live

    @live.setter
    def live(self, value: list[PeerState]) -> None:
        self.observer.live = value

    # ------------------------------------------------------------ public
    def start(self) -> None:
        """Take up what the last run kept: the policy in force (the filter must never be looser than the last
        good one, also during a grace), and the verified announcements (checked again as they are read)."""
        document = self.settings.policy_path.read_bytes() if self.settings.policy_path.exists() else None
        self.keeper = PolicyKeeper.from_json(self.state.policy, document)
        for body in load_held(self.settings.held_path):
            try:
                signed = SignedAnnouncement.from_json(body)
                self.held[signed.verify(self.domain).lower()] = signed
            except RemoteProtocolError:
                continue  # damaged: the indexers have it

    def stop(self) -> None:
        """Take the mesh off the host: peers would otherwise keep reaching this device under a policy that
        nobody updates while the daemon is away."""
        with self.lock:
            self._teardown()
        self.mailbox.close()

    def prefs(self) -> MeshPrefs:
        return self.state.prefs

    def set_prefs(self, **changes) -> MeshPrefs:
        with self.lock:
            self.state.prefs = self.state.prefs.changed(**changes)
            self._save()
        return self.state.prefs

    def step(self) -> None:
        with self.lock:
            view = self._step()
            changed, self.view = view != self.view, view
        if changed:
            self.on_change()

    def shown(self) -> dict:
        """The last step's view, at once: `status` never waits for a step (which may wait for an indexer)."""
        return self.view

    def ping(self, target: str, *, count: int, timeout: float = 2.0) -> dict:
        return ping(self, target, count=count, timeout=timeout)

    # -------------------------------------------------------------- step
    def _step(self) -> dict:
        prefs = self.state.prefs
        if not prefs.enabled:
            self._teardown()
            return {"state": "off", "note": "turned off with `octravpn set --no-mesh`"}
        if not self.settings.indexers:
            self._teardown()
            return {"state": "needs-indexer", "error": "the mesh needs an indexer: start the daemon with --indexer URL"}
        self._poll_chain()
        if self.feed.head < 0:
            return {"state": "waiting-for-chain", "error": self.chain_error}
        where = place(self.feed, self.me, prefs.tailnet)
        if not isinstance(where, Place):
            self._teardown()
            return where
        tailnet, wallet, roster = where.tailnet, where.wallet, where.roster
        now = self.clock()
        wanted, document = self.feed.policy(tailnet)
        changed = self.keeper.update(tailnet, wanted, document, now)
        if changed or self.keeper.to_json() != self.state.policy:
            self._keep_policy(document, changed)
        self._announce(tailnet, prefs, now)
        items, self.fetch_errors = self.mailbox.fetch(
            tailnet, sign=self._sign, device=self.account.address, keys=len(roster.keys)
        )
        self.announcer.check_served(items, now)
        built = self._build(tailnet, roster, items, now)
        error = None
        try:
            self._apply(built.netmap, built.device_filter)
        except CommandError as exc:
            error = f"applying the mesh: {exc}"
            log.warning("%s", error)
        return running_view(self, tailnet, wallet, built, error)

    def _poll_chain(self) -> None:
        now = self.clock()
        if not self.chain_backoff.due(now):
            return
        try:
            self.feed.poll(self.chain())
        except ChainError as exc:
            self.chain_error = f"the chain did not answer: {exc}"
            self.chain_backoff.failed(now)
            return
        self.chain_error = None
        self.chain_backoff.succeeded(now)

    # ------------------------------------------------------------ policy
    def _keep_policy(self, document: bytes, changed: bool) -> None:
        """Save the keeper's state (and the document in force, for a restart during a grace)."""
        in_force = self.keeper.in_force
        if changed and in_force is not None and in_force[0] == self.keeper.wanted:
            self.settings.policy_path.write_bytes(document)
            log.info("tailnet %s: policy 0x%s in force", self.keeper.tailnet, in_force[0].hex())
        elif self.keeper.error:
            log.warning("%s", self.keeper.error)
        self.state.policy = self.keeper.to_json()
        self._save()

    def _policy_of(self, document: bytes):
        """A policy document of the chain's history, parsed once (None: it does not parse)."""
        digest = hashlib.sha256(document).digest()
        if digest not in self.parsed:
            self.parsed[digest] = parsed_or_none(document)
        return self.parsed[digest]

    # ------------------------------------------------------ announcement
    def _sign(self, message) -> bytes:
        return sign(self.domain, message, self.account.key)

    def _announce(self, tailnet: int, prefs: MeshPrefs, now: float) -> None:
        if now - self.endpoints_at >= ENDPOINTS_EVERY:
            skip = frozenset({self.settings.interface, *self.tunnels()})
            self.local = local_addresses(self.runner, skip_interfaces=skip)
            self.endpoints_at = now
        local = [format_endpoint(a.ip, self.settings.port) for a in self.local]
        # What peers agree they observe first: that is where peers behind other NATs can reach this device.
        self.endpoints = list(dict.fromkeys([*self.observer.confirmed, *local, *self.observer.unconfirmed]))
        self.endpoints = self.endpoints[:MAX_ENDPOINTS]
        fields = {
            "wg_pubkey": encode_key(self.keys.public),
            "hostname": prefs.hostname or machine_hostname(),
            "endpoints": self.endpoints,
            "relay": self._relay_endpoint() if prefs.relay else "",
        }
        self.announcer.announce(tailnet, fields, now)

    # -------------------------------------------------------------- map
    def _build(self, tailnet: int, roster, items: list, now: float) -> MapInForce:
        held, self.refused = take_announcements(
            self.domain, tailnet, roster, self.held, items, now=now, seen=self.state.seen
        )
        if held != self.held:
            self.held = held
            save_held(self.settings.held_path, [signed.to_json() for signed in held.values()])
            seen = {k: max(s.announcement.seq, self.state.seen.get(k, 0)) for k, s in held.items()}
            if any(self.state.seen.get(k) != v for k, v in seen.items()):
                self.state.seen.update(seen)
                self._save()
        tags, refused_tags = self.feed.tags(tailnet, roster, self._policy_of)
        policy = self.keeper.in_force
        digest = inputs_digest(tailnet, roster, tags, refused_tags, held, policy[0] if policy else None, now)
        if self.built is not None and self.built.digest == digest:
            return self.built
        netmap = build_netmap(tailnet, roster, held, now=now, tags=tags, previous=self.netmap)
        for key, why in refused_tags.items():  # a key may lose a name and a grant: both reasons are shown
            netmap.refused[key] = f"{netmap.refused[key]}; {why}" if key in netmap.refused else why
        self.netmap = netmap
        self.built = MapInForce.of(digest, netmap, policy[1] if policy else None, self.me)
        return self.built

    def _apply(self, netmap: NetMap, device_filter: DeviceFilter) -> None:
        self.read_live()
        config = mesh_config(
            netmap,
            device_filter,
            name=self.settings.interface,
            private_key=self.keys.private,
            listen_port=self.settings.port,
            endpoints=self.peer_paths.choose(netmap, device_filter.peers, self.live, self._networks()),
        )
        config = replace(config, fwmark=MESH_FWMARK)
        if self.state.host is None:
            self.state.host = MeshChanges(interface=self.settings.interface)
            self._save()
        prefix6 = V6_PREFIX.network_address + ((netmap.tailnet_id & 0xFFFF) << 64)
        routes = (V4_NETWORK, ipaddress.ip_network(f"{prefix6}/64"))
        self.host.apply(self.state.host, config, device_filter, routes, self._save, services=(PEER_PORT,))
        self.observer.serve(str(netmap.network.device(self.me).addresses[0]))
        if self.state.prefs.relay:
            self.relay.run(netmap.tailnet_id)
        else:
            self.relay.stop()
        if self.state.prefs.dns:
            self.names.run(self.state.host, self._save)
        else:
            self.names.stop(self.state.host, self._save)
        self.observer.observe(
            netmap,
            own={format_endpoint(a.ip, self.settings.port) for a in self.local},
            relayed=set(self.peer_paths.relaying.relayed),
            now=self.clock(),
            owner=netmap.network.device(self.me).owner,
        )
        self.peer_paths.try_direct(netmap, self.live, self._networks())

    def _networks(self) -> tuple:
        """The networks this host is on (a peer's endpoint on one of them is tried first)."""
        return tuple(a.network for a in self.local)

    def _relay_endpoint(self) -> str:
        """Where this device relays: its first endpoint's address (what peers see), at the relay port."""
        if not self.endpoints:
            return ""
        address, _ = parse_endpoint(self.endpoints[0])
        return format_endpoint(address, self.settings.relay_port)

    def _teardown(self) -> None:
        self.built = None
        self.relay.stop()
        self.names.stop(self.state.host, self._save)
        self.peer_paths.clear()
        self.observer.close()
        if self.state.host is not None:
            try:
                self.host.teardown(self.state.host)
            except CommandError as exc:
                log.warning("taking the mesh down: %s", exc)
                return
            self.state.host = None
            self._save()
            log.info("mesh interface %s removed", self.settings.interface)

    def read_live(self) -> list[PeerState]:
        try:
            self.live = self.host.peers(self.settings.interface)
        except CommandError:
            self.live = []  # not made yet
        return self.live

    def _save(self) -> None:
        self.state.save(self.settings.state_path)
