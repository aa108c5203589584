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

from octravpn.acl import DeviceFilter, Resolver, compile_device
from octravpn.chain.errors import ChainError
from octravpn.errors import StateError, UsageError
from octravpn.host.dns import DNSManager
from octravpn.host.icmp import echo
from octravpn.host.mesh import MeshChanges, MeshHost, local_addresses
from octravpn.host.uplink import MESH_FWMARK
from octravpn.mesh import paths
from octravpn.mesh.addresses import V4_NETWORK, V6_PREFIX
from octravpn.mesh.announcer import Announcer
from octravpn.mesh.chainfeed import ChainFeed
from octravpn.mesh.dns import RESOLVER_ADDRESS, SUFFIX, NameServer
from octravpn.mesh.interface import mesh_config
from octravpn.mesh.mailbox import Mailbox
from octravpn.mesh.netmap import NetMap, build_netmap, take_announcements
from octravpn.mesh.observe import Observer
from octravpn.mesh.paths import Attempt
from octravpn.mesh.peerapi import PEER_PORT
from octravpn.mesh.policy_keeper import PolicyKeeper, parsed_or_none
from octravpn.mesh.prefs import MeshPrefs, machine_hostname
from octravpn.mesh.relay import RELAY_PORT, RelayServer
from octravpn.mesh.relaying import RelayClient
from octravpn.mesh.state import MeshState, load_held, load_or_create_key, save_held
from octravpn.mesh.view import peer_rows, unannounced
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
        open_chain: Callable[[], object],
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
        self.open_chain = open_chain
        self.tunnels = tunnels  # the exit tunnel's interface: not where peers reach this device
        self.on_change = on_change
        self.clock = clock
        self.lock = threading.RLock()
        self.state = MeshState.load(settings.state_path)
        self.keys = load_or_create_key(settings.state_dir / "mesh.key")
        self.mailbox = Mailbox(settings.indexers)
        self.announcer = Announcer(self.state, self.mailbox, device=account.address, sign=self._sign, save=self._save)
        self.feed = ChainFeed()
        self._chain = None
        self.chain_error: str | None = None
        self.chain_next = 0.0
        self.chain_backoff = settings.step_seconds
        self.keeper = PolicyKeeper()
        self.parsed: dict[bytes, object] = {}  # policy documents by hash, parsed once (None: does not parse)
        self.held: dict[str, SignedAnnouncement] = {}  # the verified announcements the map is built from
        self.refused: dict[str, str] = {}  # what the indexers served that was refused at the last fetch
        self.netmap: NetMap | None = None  # the last map built (its holders keep their keys and names)
        self.endpoints: list[str] = []
        self.local: list = []  # this host's own addresses (ip_interface), see `local_addresses`
        self.endpoints_at = float("-inf")
        self.observer = Observer()  # where peers see this device (behind a NAT: its public endpoint)
        self.attempts: dict[str, Attempt] = {}  # peer key -> the endpoint tried for it, since when
        self.relay_server: RelayServer | None = None
        self.relaying = RelayClient(account=account, domain=domain)  # peers reached through a relay
        self.name_server: NameServer | None = None
        self.fetch_errors: dict[str, str] = {}
        self.built: tuple | None = None  # (inputs digest, netmap, filter, policy resolver or None)
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
        """Echo requests to a peer (by hostname, tailnet address or device key) through the mesh."""
        built, interface = self.built, self.settings.interface  # read whole: no need to wait for a step
        if built is None:
            raise MeshUnavailable(f"the mesh is not running ({self.view.get('state')}): {self.view.get('error', '')}")
        _, netmap, device_filter, _ = built
        peer = _find_peer(netmap, target)
        if peer is None:
            raise UsageError(f"no device {target!r} in tailnet {netmap.tailnet_id}: see `octravpn status` for names")
        if peer.key not in device_filter.peers:
            raise UsageError(
                f"{peer.name or peer.key} is not a peer of this device: the tailnet's policy lets neither reach the other"
            )
        address = str(peer.addresses[0])
        try:
            rtts = echo(address, interface, count=count, timeout=timeout)
            live = {p.public_key: p for p in self.host.peers(interface)}.get(peer.wg_pubkey)
        except (OSError, CommandError) as exc:
            raise MeshUnavailable(f"cannot ping through {interface}: {exc}") from exc
        relayed = self.relaying.relayed.get(peer.key)
        return {
            "name": peer.name or peer.key,
            "address": address,
            "path": f"relayed by {relayed.relay_name}" if relayed else ("direct" if live and live.endpoint else "none"),
            "endpoint": live.endpoint if live else None,
            "rtt_ms": [round(r, 3) if r is not None else None for r in rtts],
            "answered": sum(r is not None for r in rtts),
            "sent": count,
        }

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
        wallet = self.feed.wallet_of(self.me) or (self.me if self.feed.tailnets_of(self.me) else None)
        if wallet is None:
            self._teardown()
            return {"state": "not-registered", "error": f"this device ({self.account.address}) acts for no member"}
        tailnets = self.feed.tailnets_of(wallet)
        tailnet = prefs.tailnet if prefs.tailnet is not None else (tailnets[0] if len(tailnets) == 1 else None)
        if tailnet is None or tailnet not in tailnets:
            self._teardown()
            if not tailnets:
                return {"state": "no-tailnet", "error": f"member {wallet} is in no tailnet"}
            if tailnet is None:
                return {
                    "state": "choose-tailnet",
                    "error": f"member {wallet} is in tailnets {', '.join(map(str, tailnets))}: choose one with "
                    "`octravpn set --tailnet ID`",
                }
            return {"state": "no-tailnet", "error": f"member {wallet} is not in tailnet {tailnet} (set --tailnet)"}
        roster = self.feed.roster(tailnet)
        if self.me not in dict(roster.keys):
            self._teardown()
            reason = roster.refused.get(self.me, "")
            return {"state": "not-registered", "error": f"this device is not on tailnet {tailnet}'s roster {reason}"}
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
        netmap, device_filter = self._build(tailnet, roster, items, now)
        error = None
        try:
            self._apply(netmap, device_filter)
        except CommandError as exc:
            error = f"applying the mesh: {exc}"
            log.warning("%s", error)
        return self._running_view(tailnet, wallet, netmap, device_filter, error)

    def _poll_chain(self) -> None:
        now = self.clock()
        if now < self.chain_next:
            return
        try:
            if self._chain is None:
                self._chain = self.open_chain()
            self.feed.poll(self._chain)
        except ChainError as exc:
            self.chain_error = f"the chain did not answer: {exc}"
            self.chain_next = now + self.chain_backoff
            self.chain_backoff = min(self.chain_backoff * 2, CHAIN_BACKOFF_MAX)
            return
        self.chain_error = None
        self.chain_backoff = self.settings.step_seconds
        self.chain_next = now

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
    def _build(self, tailnet: int, roster, items: list, now: float) -> tuple[NetMap, DeviceFilter]:
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
        digest = hashlib.sha256(
            repr(
                (
                    tailnet,
                    roster,
                    sorted(tags.items()),
                    sorted(refused_tags.items()),
                    sorted((k, s.announcement.seq) for k, s in held.items() if not s.announcement.expired(now)),
                    policy[0] if policy else None,
                )
            ).encode()
        ).hexdigest()
        if self.built is not None and self.built[0] == digest:
            return self.built[1], self.built[2]
        netmap = build_netmap(tailnet, roster, held, now=now, tags=tags, previous=self.netmap)
        for key, why in refused_tags.items():  # a key may lose a name and a grant: both reasons are shown
            netmap.refused[key] = f"{netmap.refused[key]}; {why}" if key in netmap.refused else why
        self.netmap = netmap
        resolver = Resolver(policy[1], netmap.network) if policy is not None else None
        if resolver is None:
            device = netmap.network.device(self.me)
            device_filter = DeviceFilter(device=self.me, addresses=device.addresses, entries=(), peers=frozenset())
        else:
            device_filter = compile_device(resolver, self.me)
        self.built = (digest, netmap, device_filter, resolver)
        return netmap, device_filter

    def _apply(self, netmap: NetMap, device_filter: DeviceFilter) -> None:
        try:
            self.live = self.host.peers(self.settings.interface)
        except CommandError:
            self.live = []  # not made yet
        config = mesh_config(
            netmap,
            device_filter,
            name=self.settings.interface,
            private_key=self.keys.private,
            listen_port=self.settings.port,
            endpoints=self._paths(netmap, device_filter),
        )
        config = replace(config, fwmark=MESH_FWMARK)
        if self.state.host is None:
            self.state.host = MeshChanges(interface=self.settings.interface)
            self._save()
        prefix6 = V6_PREFIX.network_address + ((netmap.tailnet_id & 0xFFFF) << 64)
        routes = (V4_NETWORK, ipaddress.ip_network(f"{prefix6}/64"))
        self.host.apply(self.state.host, config, device_filter, routes, self._save, services=(PEER_PORT,))
        self.observer.serve(str(netmap.network.device(self.me).addresses[0]))
        self._run_relay(netmap.tailnet_id)
        self._answer_names()
        self.observer.observe(
            netmap,
            own={format_endpoint(a.ip, self.settings.port) for a in self.local},
            relayed=set(self.relaying.relayed),
            now=self.clock(),
            owner=netmap.network.device(self.me).owner,
        )

    def _paths(self, netmap: NetMap, device_filter: DeviceFilter) -> dict[str, str | None]:
        """The endpoint to send to for each peer (see `mesh.paths`)."""
        live = {p.public_key: p for p in self.live}
        networks = tuple(a.network for a in self.local)
        now, chosen = self.clock(), {}
        for key in device_filter.peers:
            peer = netmap.peers.get(key)
            if peer is None:
                continue
            state = live.get(peer.wg_pubkey)
            attempt = paths.choose(
                peer.endpoints,
                networks,
                attempt=self.attempts.get(key),
                live_endpoint=state.endpoint if state else None,
                last_handshake=state.latest_handshake if state else 0,
                now=now,
            )
            if attempt is None:
                self.attempts.pop(key, None)
            else:
                self.attempts[key] = attempt
            chosen[key] = attempt.endpoint if attempt else None
            fresh = state is not None and state.latest_handshake and now - state.latest_handshake < paths.FRESH_SECONDS
            relayed = self.relaying.path(netmap, key, fresh=bool(fresh), now=now)
            if relayed is not None:
                chosen[key] = relayed
        return chosen

    def _relay_endpoint(self) -> str:
        """Where this device relays: its first endpoint's address (what peers see), at the relay port."""
        if not self.endpoints:
            return ""
        address, _ = parse_endpoint(self.endpoints[0])
        return format_endpoint(address, self.settings.relay_port)

    def _relay_allowed(self, device: str, peer: str) -> str | None:
        """The relay's check of a pair: both on the roster and the policy lets them talk (its own view)."""
        built = self.built
        if built is None or built[3] is None:
            return "this relay has no policy in force: it relays for nobody"
        _, netmap, _, resolver = built
        keys = {d.key for d in netmap.network.devices}
        if device not in keys or peer not in keys:
            return "both devices must be on the tailnet's roster"
        if peer not in compile_device(resolver, device).peers:
            return "the tailnet's policy does not let these two devices talk"
        return None

    def _owner_of(self, device: str) -> str | None:
        built = self.built
        if built is None:
            return None
        return next((d.owner for d in built[1].network.devices if d.key == device), None)

    def _run_relay(self, tailnet: int) -> None:
        if not self.state.prefs.relay:
            self._stop_relay()
            return
        if self.relay_server is not None and self.relay_server.tailnet_id == tailnet:
            return
        self._stop_relay()
        try:
            self.relay_server = RelayServer(
                relay=self.me,
                tailnet_id=tailnet,
                domain=self.domain,
                allowed=self._relay_allowed,
                owner_of=self._owner_of,
                members=lambda: len(self.built[1].network.members) if self.built else 1,
                port=self.settings.relay_port,
                clock=self.clock,
            )
        except OSError as exc:
            log.warning("cannot relay: %s", exc)

    # -------------------------------------------------------------- names
    @property
    def resolving(self) -> bool:
        """Whether the mesh answers this host's DNS now (an exit session then leaves resolv.conf to it)."""
        return self.name_server is not None

    def _answer_names(self) -> None:
        if not self.state.prefs.dns:
            self._stop_names()
            return
        if self.name_server is None:
            try:
                self.host.add_resolver_address(self.state.host, RESOLVER_ADDRESS, self._save)
                self.name_server = NameServer(self._names_now, self.dns.upstream)
            except (OSError, CommandError) as exc:
                log.warning("cannot answer names: %s", exc)
                return
        self.dns.update(resolver=RESOLVER_ADDRESS, search=(SUFFIX,))  # again: a DHCP client may have rewritten it

    def _stop_names(self) -> None:
        if self.name_server is not None:
            self.name_server.close()
            self.name_server = None
        if self.dns.config.resolver is not None:
            self.dns.update(resolver=None, search=())
        if self.state.host is not None and self.state.host.resolver_address:
            self.host.remove_resolver_address(self.state.host)
            self._save()

    def _names_now(self) -> dict[str, tuple]:
        """hostname -> (IPv4, IPv6): this device and its peers (the devices it may talk to)."""
        built = self.built
        if built is None:
            return {}
        _, netmap, device_filter, _ = built
        return {
            peer.hostname: peer.addresses
            for key, peer in netmap.peers.items()
            if peer.named and (key in device_filter.peers or key == self.me)
        }

    def _stop_relay(self) -> None:
        if self.relay_server is not None:
            self.relay_server.close()
            self.relay_server = None

    def _teardown(self) -> None:
        self.built = None
        self._stop_relay()
        self._stop_names()
        self.relaying.clear()
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

    # ------------------------------------------------------------- view
    def _running_view(self, tailnet, wallet, netmap: NetMap, device_filter: DeviceFilter, error) -> dict:
        try:
            live = self.host.peers(self.settings.interface)
        except CommandError:
            live = []
        self.live = live
        me = netmap.network.device(self.me)
        refusals = dict(self.refused)
        for key, why in netmap.refused.items():
            refusals[key] = f"{refusals[key]}; {why}" if key in refusals else why
        refused = {k: v for k, v in refusals.items() if k != self.me}
        return {
            "state": "running",
            "tailnet": tailnet,
            "member": wallet,
            "interface": self.settings.interface,
            "hostname": self.state.announced["hostname"] if self.state.announced else None,
            "refused_self": refusals.get(self.me),  # why this device's name, tags or announcement did not hold
            "addresses": [str(a) for a in me.addresses],
            "tags": sorted(me.tags),
            "wg_pubkey": encode_key(self.keys.public),
            "listen_port": self.settings.port,
            "endpoints": list(self.endpoints),
            "observed": {"confirmed": self.observer.confirmed, "unconfirmed": self.observer.unconfirmed},
            "policy": self.keeper.view(self.clock()),
            "peers": peer_rows(
                netmap, device_filter, live, self.clock(), {k: r.relay_name for k, r in self.relaying.relayed.items()}
            ),
            "relay": self.relay_server.shown() if self.relay_server else None,
            "dns": {"resolver": RESOLVER_ADDRESS, "suffix": SUFFIX, "upstream": self.dns.upstream()}
            if self.name_server
            else None,
            "relay_errors": self.relaying.errors_by_name(netmap),
            "waiting_for": unannounced(netmap, device_filter),
            "refused": refused,
            "indexers": {
                url: self.announcer.errors.get(url) or self.fetch_errors.get(url) or "ok" for url in self.mailbox.urls
            },
            "chain_error": self.chain_error,
            "error": error,
        }

    def _save(self) -> None:
        self.state.save(self.settings.state_path)


class MeshUnavailable(StateError):
    """The mesh is not running, or cannot send through its interface."""

    code = "mesh-not-running"


def _find_peer(netmap: NetMap, target: str):
    target = target.lower().rstrip(".")
    for peer in netmap.peers.values():
        names = (peer.name, f"{peer.name}.{SUFFIX}") if peer.name else ()
        if target in (*names, peer.key, *(str(a) for a in peer.addresses)):
            return peer
    return None
