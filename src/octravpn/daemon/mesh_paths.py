"""Where each peer's packets go: a direct candidate (`mesh.paths`), a relay (`mesh.relaying`), or, while a
relayed pair tries direct paths again (`mesh.upgrade`), the trial's slot. This device proposes trials to relayed
peers, takes the trials they propose, and judges each slot by asking the peer where it sees this device."""

from __future__ import annotations

import logging
from collections.abc import Callable

from octravpn.daemon.mesh_view import MapInForce
from octravpn.mesh import paths, upgrade
from octravpn.mesh.netmap import MeshPeer, NetMap
from octravpn.mesh.paths import Attempt
from octravpn.mesh.peerapi import ask, propose
from octravpn.mesh.relaying import RelayClient
from octravpn.mesh.upgrade import Slot, Trial, Upgrades
from octravpn.protocol.announce import parse_endpoint
from octravpn.wireguard.dump import PeerState

log = logging.getLogger("octravpn.daemon.mesh")


class PeerPaths:
    def __init__(
        self,
        *,
        me: str,
        relaying: RelayClient,
        in_force: Callable[[], MapInForce | None],
        own_endpoints: Callable[[], list[str]],
        read_live: Callable[[], list[PeerState]],
        clock: Callable[[], float],
    ) -> None:
        self.me, self.relaying, self.in_force, self.clock = me, relaying, in_force, clock
        self.own_endpoints = own_endpoints  # what this device announces
        self.read_live = read_live  # WireGuard's per-peer state, read now
        self.attempts: dict[str, Attempt] = {}  # peer key -> the direct endpoint tried for it, since when
        self.upgrades = Upgrades()

    def choose(
        self, netmap: NetMap, peers: frozenset[str], live: list[PeerState], networks: tuple
    ) -> dict[str, str | None]:
        """The endpoint to send to for each of `peers` now (None: it announced none)."""
        by_wg_key = {state.public_key: state for state in live}
        now = self.clock()
        chosen: dict[str, str | None] = {}
        for key in peers:
            peer = netmap.peers.get(key)
            if peer is None:
                continue
            trying = self.sends_to(key, now)
            if trying is not None:
                chosen[key] = trying
                continue
            state = by_wg_key.get(peer.wg_pubkey)
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
            relayed = self.relaying.path(netmap, key, fresh=_fresh(state, now), now=now)
            if relayed is not None:
                chosen[key] = relayed
        return chosen

    def clear(self) -> None:
        self.relaying.clear()
        self.upgrades.forget(set())

    def sends_to(self, key: str, now: float) -> str | None:
        """Where to send a peer's packets while a trial with it runs (None: no trial)."""
        trial = self.upgrades.running(key, now)
        return trial.sends_to(now) if trial else None

    def proposed(self, address: str, slots: tuple[Slot, ...]) -> tuple[Slot, ...] | str:
        """A peer's proposal (on the peer service's thread): the slots taken, or why none."""
        built = self.in_force()
        if built is None:
            return "this device has no map in force yet"
        peer = next((p for p in built.netmap.peers.values() if str(p.addresses[0]) == address), None)
        if peer is None or peer.key not in built.device_filter.peers:
            return "not a peer of this device"
        if peer.key not in self.relaying.relayed:
            return "this device does not reach you through a relay"
        if peer.key > self.me:
            return "the end of the pair with the lower key proposes"
        taken = upgrade.accepted(slots, peer.endpoints)
        view = (peer.endpoints, tuple(self.own_endpoints()))
        if not self.upgrades.begin(peer.key, taken, proposer=False, view=view, now=self.clock()):
            return "these endpoints were tried already, or a trial is running, or none of them is announced here"
        log.info("trying direct paths to %s (%d slots, proposed by it)", peer.name or peer.key, len(taken))
        return taken

    def try_direct(self, netmap: NetMap, live: list[PeerState], networks: tuple) -> None:
        """Judge the trials running; propose one to each relayed peer whose endpoints changed since the last."""
        relayed = set(self.relaying.relayed)
        self.upgrades.forget(relayed)
        by_wg_key = {state.public_key: state for state in live}
        for key in sorted(relayed):
            peer = netmap.peers.get(key)
            if peer is None:
                continue
            now = self.clock()
            trial = self.upgrades.running(key, now)
            if trial is not None:
                self._judge(netmap, peer, trial, networks, now)
                continue
            if key < self.me or not _fresh(by_wg_key.get(peer.wg_pubkey), now):
                continue  # the peer proposes; or the relayed tunnel is not up to carry a proposal
            view = (peer.endpoints, tuple(self.own_endpoints()))
            if not self.upgrades.due(key, view, now):
                continue
            slots = upgrade.plan(paths.candidates(peer.endpoints, networks), list(view[1]))
            taken = propose(str(peer.addresses[0]), slots) if slots else "no endpoints to try"
            if isinstance(taken, str):
                self.upgrades.unanswered(key, taken, self.clock())
            elif self.upgrades.begin(key, taken, proposer=True, view=view, now=self.clock()):
                log.info("trying direct paths to %s (%d slots)", peer.name or key, len(taken))

    def _judge(self, netmap: NetMap, peer: MeshPeer, trial: Trial, networks: tuple, now: float) -> None:
        """A slot holds when the peer says it sees this device at no relay while WireGuard here still sends to
        the slot's endpoint (an answer that came through a relay would have moved it there)."""
        endpoint = trial.sends_to(now)
        address = str(peer.addresses[0])
        seen = ask([address], timeout=0.5).get(address)
        if endpoint is None or seen is None:
            return
        relays = {_host(p.relay) for p in netmap.peers.values() if p.relay}
        if _host(seen) in relays:
            return
        live = {state.public_key: state for state in self.read_live()}.get(peer.wg_pubkey)
        if live is None or live.endpoint != endpoint:
            return
        self.upgrades.succeeded(peer.key, endpoint)
        self.relaying.forget(peer.key)
        self.attempts[peer.key] = Attempt(endpoint, self.clock(), tuple(paths.candidates(peer.endpoints, networks)))
        log.info("%s: direct at %s, the relay left", peer.name or peer.key, endpoint)


def _fresh(state: PeerState | None, now: float) -> bool:
    """A recent handshake: WireGuard has a path to the peer."""
    return state is not None and paths.is_fresh(state.latest_handshake, now)


def _host(endpoint: str) -> object:
    try:
        return parse_endpoint(endpoint)[0]
    except ValueError:
        return None
