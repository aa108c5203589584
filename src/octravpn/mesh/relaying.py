"""A device's side of relaying: which peers go through a relay, and asking for it.

A peer that brought no handshake for RELAY_AFTER seconds (every direct candidate had its turn) is asked for at
the tailnet's relays, with signed requests, every RELAY_ASK_EVERY seconds until a relay answers that the peer
asked too; from then on the peer's packets go to that relay's port for this device, and the request is renewed
at half its lifetime. A relayed peer that brings no handshake either is tried direct again.

Both ends of a pair rank the tailnet's relays the same way (by a hash of the pair and the relay, so pairs
spread over relays), skip relays that did not answer lately (`RELAY_RESTS` seconds), and ask the first
`RELAY_FANOUT` of the rest; of those that answer ready (both ends asked there), both take the best ranked. A
relay that is down, refuses, or is full for this pair is passed over for the next.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak

from octravpn.mesh.netmap import MeshPeer, NetMap
from octravpn.mesh.relay import request_relay
from octravpn.protocol.announce import format_endpoint, parse_endpoint
from octravpn.protocol.eip712 import Domain, sign
from octravpn.protocol.errors import RemoteProtocolError
from octravpn.protocol.relaywire import RelayRequest, encode_request

RELAY_AFTER = 30.0  # seconds without a handshake (every direct candidate tried) before asking a relay
RELAY_ASK_EVERY = 3.0
RELAY_REQUEST_LIFETIME = 300  # seconds; renewed at half
RELAY_FANOUT = 2  # relays asked at once: a relay one end cannot reach does not strand the pair
RELAY_RESTS = 30.0  # seconds a relay that did not answer is passed over


@dataclass(frozen=True)
class Relayed:
    endpoint: str  # the relay's port for this device's datagrams to the peer
    relay_name: str
    relay_key: str
    renew_at: float


class RelayClient:
    def __init__(self, *, account: LocalAccount, domain: Domain) -> None:
        self.account, self.domain = account, domain
        self.relayed: dict[str, Relayed] = {}  # peer key -> the relay carrying its traffic
        self.unreached: dict[str, float] = {}  # peer key -> since when it has had no handshake
        self.asked: dict[str, float] = {}  # peer key -> when the relays were last asked
        self.errors: dict[str, str] = {}  # peer key -> why it is not relayed (yet)
        self.resting: dict[str, float] = {}  # relay key -> until when it is passed over

    def clear(self) -> None:
        self.relayed.clear()
        self.unreached.clear()
        self.asked.clear()
        self.errors.clear()

    def forget(self, key: str) -> None:
        """The peer goes direct (`mesh.upgrade`): its relay is left to expire."""
        for held in (self.relayed, self.unreached, self.asked, self.errors):
            held.pop(key, None)

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
            self.resting[relayed.relay_key] = now + RELAY_RESTS
            self.unreached[key] = now
            return None
        if relayed is None and now - since >= RELAY_AFTER and now - self.asked.get(key, 0.0) >= RELAY_ASK_EVERY:
            self._ask(netmap, key, now)
        return self.relayed[key].endpoint if key in self.relayed else None

    def errors_by_name(self, netmap: NetMap) -> dict[str, str]:
        return {netmap.peers[k].name or k: e for k, e in self.errors.items() if k in netmap.peers}

    def _ask(self, netmap: NetMap, key: str, now: float) -> None:
        self.asked[key] = now
        me = self.account.address.lower()
        ranked = relays_for(netmap, me, key)
        if not ranked:
            self.errors[key] = "no device of the tailnet offers to relay (`octravpn set --relay` on one)"
            return
        healthy = [relay for relay in ranked if self.resting.get(relay.key, 0.0) <= now] or ranked
        refusals = []
        for relay in healthy[:RELAY_FANOUT]:
            answer = self._ask_one(netmap, relay, key, now)
            if isinstance(answer, Relayed):
                self.errors.pop(key, None)
                self.relayed[key] = answer
                return
            refusals.append(f"relay {relay.name or relay.key}: {answer}")
        self.errors[key] = "; ".join(refusals)

    def _ask_one(self, netmap: NetMap, relay: MeshPeer, key: str, now: float) -> Relayed | str:
        """The relay's port for this pair, or why not."""
        address, port = parse_endpoint(relay.relay)

        def signed(challenge: bytes) -> bytes:
            request = RelayRequest(
                tailnet_id=netmap.tailnet_id,
                device=self.account.address,
                peer=netmap.peers[key].key,
                relay=relay.key,
                expires=int(now) + RELAY_REQUEST_LIFETIME,
                challenge=challenge,
            )
            return encode_request(request, sign(self.domain, request, self.account.key))

        try:
            answer = request_relay((str(address), port), signed)
        except (OSError, RemoteProtocolError) as exc:
            self.resting[relay.key] = now + RELAY_RESTS
            return f"did not answer ({exc})"
        if answer.error:
            if "full" in answer.error or "share" in answer.error:
                self.resting[relay.key] = now + RELAY_RESTS
            return answer.error
        if not (answer.ready and answer.port):
            return "waiting for the peer to ask too"
        return Relayed(
            endpoint=format_endpoint(address, answer.port),
            relay_name=relay.name or relay.key,
            relay_key=relay.key,
            renew_at=now + RELAY_REQUEST_LIFETIME / 2,
        )


def relays_for(netmap: NetMap, me: str, peer: str) -> list[MeshPeer]:
    """The tailnet's relays (not either end of the pair), in the order both ends of the pair rank them."""
    pair = b"".join(bytes.fromhex(k[2:]) for k in sorted((me, peer)))
    offered = [p for k, p in netmap.peers.items() if p.relay and k not in (me, peer)]
    return sorted(offered, key=lambda relay: keccak(pair + bytes.fromhex(relay.key[2:])))
