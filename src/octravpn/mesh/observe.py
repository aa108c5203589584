"""Learning where this device is seen from (its NAT's public endpoint), and telling peers where they are.

Runs the peer service (`mesh.peerapi`) on the device's tailnet address, answering from WireGuard's live state,
and every OBSERVE_EVERY seconds asks the peers it has a live, direct session with where they see it. One peer
alone does not choose where other devices send first: an endpoint is `confirmed` when peers of two members
report it (or a device of this device's own member does), and only a confirmed one is announced before the
host's own addresses; one peer's report alone is announced after them (`unconfirmed`), so a lying peer costs
other devices one try of a few seconds at most, never the path.
"""

from __future__ import annotations

import ipaddress
import logging

from octravpn.mesh.netmap import NetMap
from octravpn.mesh.paths import is_fresh
from octravpn.mesh.peerapi import PeerService, Proposed, ask
from octravpn.protocol.announce import parse_endpoint
from octravpn.wireguard.dump import PeerState

log = logging.getLogger("octravpn.daemon.mesh")
OBSERVE_EVERY = 10.0  # seconds between asking peers where they see this device
MAX_OBSERVED = 4


class Observer:
    def __init__(self, proposed: Proposed = lambda _a, _s: "no trials") -> None:
        self.proposed = proposed  # takes a peer's proposal of a trial of direct paths (`mesh.upgrade`)
        self.service: PeerService | None = None
        self.live: list[PeerState] = []  # WireGuard's per-peer state, as last read
        self.confirmed: list[str] = []  # this device's endpoints as peers of two members (or its own) see them
        self.unconfirmed: list[str] = []  # as one other member's peer alone sees them
        self.asked_at = float("-inf")

    def serve(self, address: str) -> None:
        """The peer service on `address` (started once the address is on the interface)."""
        if self.service is not None and self.service.address == address:
            return
        self.close()
        try:
            self.service = PeerService(address, self.observed_for, self.proposed)
        except OSError as exc:  # the address is not on the interface yet: next step
            log.debug("peer service not started: %s", exc)

    def observed_for(self, peer_address: str) -> str | None:
        """Where this device sees the peer with that tailnet address come from (WireGuard's live endpoint)."""
        address = ipaddress.ip_address(peer_address)
        for state in self.live:
            if any(address in network for network in state.allowed_ips):
                return state.endpoint
        return None

    def observe(self, netmap: NetMap, *, own: set[str], relayed: set[str], now: float, owner: str) -> None:
        """Every OBSERVE_EVERY: ask the peers with a live direct session (not through a relay: a relayed peer
        sees the relay) where they see this device. `own`: this host's own endpoints; `owner`: the member this
        device acts for."""
        if now - self.asked_at < OBSERVE_EVERY:
            return
        self.asked_at = now
        by_key = {p.wg_pubkey: p for p in netmap.peers.values()}
        fresh = {
            str(by_key[state.public_key].addresses[0]): by_key[state.public_key].owner
            for state in self.live
            if state.public_key in by_key
            and by_key[state.public_key].key not in relayed
            and is_fresh(state.latest_handshake, now)
        }
        if not fresh:
            return
        answers = ask(list(fresh)[:8], timeout=0.5)
        if not answers:
            return
        reported: dict[str, set[str]] = {}  # endpoint -> the members whose devices report it
        for address, endpoint in answers.items():
            if endpoint not in own and _is_endpoint(endpoint):
                reported.setdefault(endpoint, set()).add(fresh[address])
        confirmed = [e for e, owners in reported.items() if len(owners) >= 2 or owner in owners]
        ranked = sorted(confirmed, key=lambda e: (-len(reported[e]), e))
        self.confirmed = ranked[:MAX_OBSERVED]
        self.unconfirmed = sorted(e for e in reported if e not in confirmed)[:MAX_OBSERVED]

    def close(self) -> None:
        if self.service is not None:
            self.service.close()
            self.service = None


def _is_endpoint(text: str) -> bool:
    try:
        parse_endpoint(text)
    except ValueError:
        return False
    return True
