"""A tailnet's network map, built by each device from what the chain says and what indexers relay. No I/O.

The chain says who is in the tailnet (`mesh.roster`: members, and the live device keys acting for them, in
chain order), so every key's addresses (`mesh.addresses`), and which tags each key carries (`mesh.tagging`).
Indexers relay the devices' signed announcements, which say where each device is (WireGuard key, hostname,
endpoints, relay).

`take_announcements` decides what this device holds: an announcement counts only if it is for this tailnet,
verifies as signed by the key it names, that key is on the chain's roster, it has not expired, and its `seq`
is newer than what this device holds for that key (and than any it took before: a replay is refused). What
an indexer does not serve this time stays held: only the chain (a removal, a revocation), a newer signed
announcement, or the announcement's own expiry takes a device away. An indexer can withhold, delay or replay,
never forge, and never empty the map.

`build_netmap` then settles what two devices may not share. A WireGuard key belongs to one device: the one
that held it in the last map keeps it, else the first on the roster. A hostname belongs to the device that
announced it first: the one that held it in the last map, else the one whose announcement says it has used
the name the longest (`hostname_since`), then chain order; the other device stays a peer, without the name.
Every refusal is kept with its reason, for `status`. Nothing here raises on what the chain or an indexer can
put in front of it.
"""

from __future__ import annotations

import hashlib
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
    hostname: str  # as announced; it answers to it only if `named`
    named: bool
    endpoints: tuple[str, ...]
    tags: frozenset[str]  # granted on chain
    seq: int
    expires: int
    addresses: tuple  # (IPv4, IPv6), derived from chain order
    relay: str = ""  # ADDRESS:PORT where it relays for the tailnet ("": it does not)

    @property
    def name(self) -> str:
        """What status and DNS call it: its hostname if it holds it, else nothing."""
        return self.hostname if self.named else ""


@dataclass(frozen=True)
class NetMap:
    tailnet_id: int
    network: Network  # every key on the roster, announced or not, for the policy
    peers: dict[str, MeshPeer]  # announced, verified devices by key
    refused: dict[str, str] = field(default_factory=dict)  # what was refused (a key) -> why

    def by_name(self, hostname: str) -> MeshPeer | None:
        """The device holding `hostname`."""
        for peer in self.peers.values():
            if peer.named and peer.hostname == hostname:
                return peer
        return None


def take_announcements(
    domain: Domain,
    tailnet_id: int,
    roster: Roster,
    held: dict[str, SignedAnnouncement],
    served: Iterable[object],
    *,
    now: float,
    seen: dict[str, int],
) -> tuple[dict[str, SignedAnnouncement], dict[str, str]]:
    """What this device holds after the indexers served `served` (raw JSON): per roster key, the newest verified,
    unexpired announcement; and what was refused, by key, with why. `seen`: the newest `seq` taken per key
    before (a replay of an older one is refused, also after the one held expired)."""
    owners = dict(roster.keys)
    refused: dict[str, str] = {}
    kept = {
        key: signed
        for key, signed in held.items()
        if key in owners and signed.announcement.tailnet_id == tailnet_id and not signed.announcement.expired(now)
    }
    for body in served:
        try:
            signed = SignedAnnouncement.from_json(body)
            signer = signed.verify(domain).lower()
        except RemoteProtocolError as exc:
            device = body.get("device") if isinstance(body, dict) else None
            _refuse(refused, str(device).lower() if isinstance(device, str) else "(unreadable)", str(exc))
            continue
        announcement = signed.announcement
        current = kept.get(signer)
        if current is not None and announcement.seq <= current.announcement.seq:
            if announcement.seq < current.announcement.seq:
                _refuse(
                    refused,
                    signer,
                    f"seq {announcement.seq} is older than the {current.announcement.seq} held: a replay",
                )
            continue  # what it holds already, or older
        try:
            announcement.check_fresh(now)
        except RemoteProtocolError as exc:
            _refuse(refused, signer, str(exc))
            continue
        if announcement.tailnet_id != tailnet_id:
            _refuse(refused, signer, f"an announcement for tailnet {announcement.tailnet_id}, not {tailnet_id}")
        elif signer not in owners:
            why = roster.refused.get(signer, "not a member's key on chain (never one, removed, or a revoked device)")
            _refuse(refused, signer, why)
        elif announcement.seq < seen.get(signer, 0):
            _refuse(refused, signer, f"seq {announcement.seq} is older than the {seen[signer]} already taken: a replay")
        else:
            kept[signer] = signed
    return kept, refused


def _refuse(refused: dict[str, str], key: str, why: str) -> None:
    """Note why something about `key` was refused; several reasons are all kept."""
    if why not in refused.get(key, "").split("; "):
        refused[key] = f"{refused[key]}; {why}" if key in refused else why


def build_netmap(
    tailnet_id: int,
    roster: Roster,
    held: dict[str, SignedAnnouncement],
    *,
    now: float,
    tags: dict[str, frozenset[str]] | None = None,
    previous: NetMap | None = None,
) -> NetMap:
    """The map from the roster, the held announcements (verified by `take_announcements`), the tags granted on
    chain, and the previous map (whose holders of WireGuard keys and hostnames keep them)."""
    tags = tags or {}
    owners = dict(roster.keys)
    order = [key for key, _ in roster.keys]
    rank = {key: index for index, key in enumerate(order)}
    addresses = assign_addresses(tailnet_id, order)
    live = {
        key: held[key].announcement
        for key in order
        if key in held and not held[key].announcement.expired(now) and held[key].announcement.tailnet_id == tailnet_id
    }
    refused: dict[str, str] = dict(roster.refused)
    before = previous.peers if previous is not None and previous.tailnet_id == tailnet_id else {}

    # A WireGuard key is one device's: its holder in the last map, else the first on the roster.
    by_key: dict[bytes, list[str]] = {}
    for key, announcement in live.items():
        by_key.setdefault(announcement.wg_pubkey, []).append(key)
    for claimants in by_key.values():
        if len(claimants) < 2:
            continue
        holder = _holder(claimants, before, lambda peer, wg=live[claimants[0]].wg_pubkey: peer.wg_pubkey == wg, rank)
        for key in claimants:
            if key != holder:
                _refuse(refused, key, f"announces the WireGuard key of {holder}, which announced it first")
                del live[key]

    # A hostname is one device's: its holder in the last map, else who has used it the longest.
    by_name: dict[str, list[str]] = {}
    for key, announcement in live.items():
        by_name.setdefault(announcement.hostname, []).append(key)
    named: set[str] = set()
    for hostname, claimants in by_name.items():
        if len(claimants) == 1:
            named.add(claimants[0])
            continue
        holder = _holder(
            claimants,
            before,
            lambda peer, name=hostname: peer.named and peer.hostname == name,
            {key: (live[key].hostname_since, rank[key]) for key in claimants},
        )
        named.add(holder)
        for key in claimants:
            if key != holder:
                _refuse(refused, key, f"hostname {hostname!r} is held by {holder}, which announced it first")

    peers = {
        key: MeshPeer(
            key=key,
            owner=owners[key],
            wg_pubkey=a.wg_pubkey,
            hostname=a.hostname,
            named=key in named,
            endpoints=a.endpoints,
            tags=tags.get(key, frozenset()),
            seq=a.seq,
            expires=a.expires,
            addresses=addresses[key],
            relay=a.relay,
        )
        for key, a in live.items()
    }
    devices = tuple(
        Device(
            key=key,
            owner=owners[key],
            addresses=addresses[key],
            tags=tags.get(key, frozenset()),
            name=peers[key].name if key in peers else "",
        )
        for key in order
    )
    return NetMap(
        tailnet_id=tailnet_id, network=Network(members=roster.members, devices=devices), peers=peers, refused=refused
    )


def _holder(claimants: list[str], before: dict[str, MeshPeer], held_it, order: dict) -> str:
    """The claimant that held the thing in the last map, else the first by `order`."""
    for key in claimants:
        if key in before and held_it(before[key]):
            return key
    return min(claimants, key=lambda key: order[key])


def inputs_digest(tailnet: int, roster, tags: dict, refused_tags: dict, held: dict, policy: bytes | None, now: float):
    """What a map and its filter are built from, as one digest: the same inputs give the same map, so a step
    that finds them unchanged builds nothing (and an announcement that expired since counts as a change)."""
    live = sorted((k, s.announcement.seq) for k, s in held.items() if not s.announcement.expired(now))
    inputs = (tailnet, roster, sorted(tags.items()), sorted(refused_tags.items()), live, policy)
    return hashlib.sha256(repr(inputs).encode()).hexdigest()
