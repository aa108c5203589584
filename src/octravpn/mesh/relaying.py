"""A device's side of relaying: which peers go through a relay, and asking for it.

A peer that brought no handshake for RELAY_AFTER seconds (every direct candidate had its turn) is asked for
at the tailnet's relay, with a signed request, every RELAY_ASK_EVERY seconds until the relay answers that
the peer asked too; from then on the peer's packets go to the relay's port for this device, and the request
is renewed at half its lifetime. Both ends pick the same relay (the first by key that offers one). A relayed
peer that brings no handshake either is tried direct again.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from octravpn.mesh.netmap import MeshPeer, NetMap
from octravpn.mesh.relay import request_relay
from octravpn.protocol.announce import format_endpoint, parse_endpoint
from octravpn.protocol.eip712 import Domain, sign
from octravpn.protocol.errors import RemoteProtocolError
from octravpn.protocol.relaywire import RelayRequest, encode_request

RELAY_AFTER = 30.0  # seconds without a handshake (every direct candidate tried) before asking a relay
RELAY_ASK_EVERY = 3.0
RELAY_REQUEST_LIFETIME = 300  # seconds; renewed at half


@dataclass(frozen=True)
class Relayed:
    endpoint: str  # the relay's port for this device's datagrams to the peer
    relay_name: str
    renew_at: float


class RelayClient:
    def __init__(self, *, account: LocalAccount, domain: Domain) -> None:
        self.account, self.domain = account, domain
        self.relayed: dict[str, Relayed] = {}  # peer key -> the relay carrying its traffic
        self.unreached: dict[str, float] = {}  # peer key -> since when it has had no handshake
        self.asked: dict[str, float] = {}  # peer key -> when the relay was last asked
        self.errors: dict[str, str] = {}  # peer key -> why it is not relayed (yet)

    def clear(self) -> None:
        self.relayed.clear()
        self.unreached.clear()
        self.asked.clear()
        self.errors.clear()

    def path(self, netmap: NetMap, key: str, *, fresh: bool, now: float) -> str | None:
        """The relay endpoint to send the peer's packets to (None: go direct). `fresh`: a recent handshake."""
        relayed = self.relayed.get(key)
        if fresh:
            self.unreached.pop(key, None)
            self.errors.pop(key, None)
            if relayed is not None and now >= relayed.renew_at:
                self._ask(netmap, key, now)
            return self.relayed[key].endpoint if key in self.relayed else None
        since = self.unreached.setdefault(key, now)
        if relayed is not None and now - since >= 2 * RELAY_AFTER:
            del self.relayed[key]  # the relay did not bring a handshake either: start over, direct first
            self.unreached[key] = now
            return None
        if relayed is None and now - since >= RELAY_AFTER and now - self.asked.get(key, 0.0) >= RELAY_ASK_EVERY:
            self._ask(netmap, key, now)
        return self.relayed[key].endpoint if key in self.relayed else None

    def errors_by_name(self, netmap: NetMap) -> dict[str, str]:
        return {netmap.peers[k].hostname: e for k, e in self.errors.items() if k in netmap.peers}

    def _ask(self, netmap: NetMap, key: str, now: float) -> None:
        self.asked[key] = now
        relay = relay_of(netmap, self.account.address.lower())
        if relay is None:
            self.errors[key] = "no device of the tailnet offers to relay (`octravpn set --relay` on one)"
            return
        request = RelayRequest(
            tailnet_id=netmap.tailnet_id,
            device=self.account.address,
            peer=netmap.peers[key].key,
            relay=relay.key,
            expires=int(now) + RELAY_REQUEST_LIFETIME,
        )
        address, port = parse_endpoint(relay.relay)
        datagram = encode_request(request, sign(self.domain, request, self.account.key))
        try:
            answer = request_relay((str(address), port), datagram)
        except (OSError, RemoteProtocolError) as exc:
            self.errors[key] = f"relay {relay.hostname}: {exc}"
            return
        if answer.error:
            self.errors[key] = f"relay {relay.hostname}: {answer.error}"
        elif answer.ready and answer.port:
            self.errors.pop(key, None)
            self.relayed[key] = Relayed(
                endpoint=format_endpoint(address, answer.port),
                relay_name=relay.hostname,
                renew_at=now + RELAY_REQUEST_LIFETIME / 2,
            )
        else:
            self.errors[key] = f"relay {relay.hostname}: waiting for the peer to ask too"


def relay_of(netmap: NetMap, me: str) -> MeshPeer | None:
    """The tailnet's relay both ends of a pair pick: the first device by key that offers one (not this one)."""
    for key in sorted(netmap.peers):
        peer = netmap.peers[key]
        if peer.relay and key != me:
            return peer
    return None
