"""Learning where this device is seen from (its NAT's public endpoint), and telling peers where they are.

Runs the peer service (`mesh.peerapi`) on the device's tailnet address, answering from WireGuard's live state,
and every OBSERVE_EVERY seconds asks the peers it has a live, direct session with where they see it. What
they answer, other than its own addresses, is what it announces first.
"""

from __future__ import annotations

import ipaddress
import logging

from octravpn.mesh.netmap import NetMap
from octravpn.mesh.paths import FRESH_SECONDS
from octravpn.mesh.peerapi import PeerService, ask
from octravpn.protocol.announce import parse_endpoint
from octravpn.wireguard.dump import PeerState

log = logging.getLogger("octravpn.daemon.mesh")
OBSERVE_EVERY = 10.0  # seconds between asking peers where they see this device
MAX_OBSERVED = 4


class Observer:
    def __init__(self) -> None:
        self.service: PeerService | None = None
        self.live: list[PeerState] = []  # WireGuard's per-peer state, as last read
        self.observed: list[str] = []  # this device's endpoints as its peers see them
        self.asked_at = float("-inf")

    def serve(self, address: str) -> None:
        """The peer service on `address` (started once the address is on the interface)."""
        if self.service is not None and self.service.address == address:
            return
        self.close()
        try:
            self.service = PeerService(address, self.observed_for)
        except OSError as exc:  # the address is not on the interface yet: next step
            log.debug("peer service not started: %s", exc)

    def observed_for(self, peer_address: str) -> str | None:
        """Where this device sees the peer with that tailnet address come from (WireGuard's live endpoint)."""
        address = ipaddress.ip_address(peer_address)
        for state in self.live:
            if any(address in network for network in state.allowed_ips):
                return state.endpoint
        return None

    def observe(self, netmap: NetMap, *, own: set[str], relayed: set[str], now: float) -> None:
        """Every OBSERVE_EVERY: ask the peers with a live direct session (not through a relay: a relayed peer
        sees the relay) where they see this device. `own`: this host's own endpoints."""
        if now - self.asked_at < OBSERVE_EVERY:
            return
        self.asked_at = now
        by_key = {p.wg_pubkey: p for p in netmap.peers.values()}
        fresh = [
            str(by_key[state.public_key].addresses[0])
            for state in self.live
            if state.public_key in by_key
            and by_key[state.public_key].key not in relayed
            and state.latest_handshake
            and now - state.latest_handshake < FRESH_SECONDS
        ]
        if not fresh:
            return
        answers = ask(fresh[:8], timeout=0.5)
        if answers:
            seen = sorted(e for e in set(answers.values()) if e not in own and _is_endpoint(e))
            self.observed = seen[:MAX_OBSERVED]

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
