"""A tailnet's network map, built by each device from what the chain says and what indexers relay. No I/O.

The chain says who is in the tailnet (`mesh.roster`: members, and the live device keys acting for them, in
chain order) and so every key's addresses (`mesh.addresses`). Indexers relay the devices' signed
announcements, which say where each device is (WireGuard key, hostname, endpoints, the tags it asks for).
An announcement counts only if it is for this tailnet, verifies as signed by the key it names, that key is on
the chain's roster, and its `seq` is not older than one this device already took for that key: an indexer can
withhold or replay an old announcement, never forge one or bring a removed key back. Every refusal is kept
with its reason, for `status`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from octravpn.acl.network import Device, Network
from octravpn.mesh.addresses import assign_addresses
from octravpn.mesh.roster import Roster
from octravpn.protocol.announce import SignedAnnouncement
from octravpn.protocol.eip712 import Domain
from octravpn.protocol.errors import RemoteProtocolError


@dataclass(frozen=True, kw_only=True)
class MeshPeer:
    """One device of the tailnet, as its announcement and the chain describe it."""

    key: str  # lower-case
    owner: str  # the member wallet it acts for, lower-case
    wg_pubkey: bytes
    hostname: str
    endpoints: tuple[str, ...]
    tags: frozenset[str]
    seq: int
    addresses: tuple  # (IPv4, IPv6), derived from chain order
    relay: str = ""  # ADDRESS:PORT where it relays for the tailnet ("": it does not)


@dataclass(frozen=True)
class NetMap:
    tailnet_id: int
    network: Network  # every key on the roster, announced or not, for the policy
    peers: dict[str, MeshPeer]  # announced, verified devices by key
    refused: dict[str, str] = field(default_factory=dict)  # what was refused (a key or a position) -> why

    def by_name(self, hostname: str) -> MeshPeer | None:
        """The device answering to `hostname` (the one that announced it first in chain order wins a clash)."""
        for peer in self.peers.values():
            if peer.hostname == hostname:
                return peer
        return None


def build_netmap(
    domain: Domain,
    tailnet_id: int,
    roster: Roster,
    announcements: Iterable[dict],
    *,
    seen: dict[str, int] | None = None,
) -> NetMap:
    """The map from the roster and the announcements an indexer served (raw JSON objects). `seen`: the highest
    `seq` this device already took per key; an older one is a replay."""
    owners = dict(roster.keys)
    order = [key for key, _ in roster.keys]
    addresses = assign_addresses(tailnet_id, order)
    chosen: dict[str, SignedAnnouncement] = {}
    refused: dict[str, str] = {}
    for position, body in enumerate(announcements):
        try:
            signed = SignedAnnouncement.from_json(body)
            signer = signed.verify(domain).lower()
        except RemoteProtocolError as exc:
            refused[f"#{position}"] = str(exc)
            continue
        announcement = signed.announcement
        if announcement.tailnet_id != tailnet_id:
            refused[signer] = f"an announcement for tailnet {announcement.tailnet_id}, not {tailnet_id}"
        elif signer not in owners:
            refused[signer] = "not a member's key on chain (never one, removed, or a revoked device)"
        elif seen is not None and announcement.seq < seen.get(signer, 0):
            refused[signer] = f"seq {announcement.seq} is older than the {seen[signer]} already taken: a replay"
        elif signer not in chosen or announcement.seq > chosen[signer].announcement.seq:
            chosen[signer] = signed
    peers = {}
    for key in order:  # chain order: an earlier key keeps a contested hostname
        signed = chosen.get(key)
        if signed is None:
            continue
        a = signed.announcement
        if any(p.hostname == a.hostname for p in peers.values()):
            refused[key] = f"hostname {a.hostname!r} is taken by a device that joined before"
            continue
        peers[key] = MeshPeer(
            key=key,
            owner=owners[key],
            wg_pubkey=a.wg_pubkey,
            hostname=a.hostname,
            endpoints=a.endpoints,
            tags=frozenset(a.tags),
            seq=a.seq,
            addresses=addresses[key],
            relay=a.relay,
        )
    devices = tuple(
        Device(
            key=key,
            owner=owners[key],
            addresses=addresses[key],
            requested_tags=peers[key].tags if key in peers else frozenset(),
            name=peers[key].hostname if key in peers else "",
        )
        for key in order
    )
    return NetMap(
        tailnet_id=tailnet_id, network=Network(members=roster.members, devices=devices), peers=peers, refused=refused
    )
