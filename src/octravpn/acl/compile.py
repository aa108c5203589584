"""A policy compiled for one device: the filter for what arrives at it, and the peers it needs at all.

Enforcement is at the destination, as Tailscale does it: each device admits, on its mesh interface, only
packets some rule allows to it. A `FilterEntry` admits packets from `sources` to `destinations` (the
device's own addresses the rule names) over `protocols`, on `ports` for TCP, UDP and SCTP. Replies to
connections the device opened are admitted by connection tracking where the filter is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass

from octravpn.acl.evaluate import Resolver
from octravpn.acl.network import Endpoint, IPAddress, IPNetwork
from octravpn.acl.policy import PORT_PROTOCOLS, Alias, PortRange


@dataclass(frozen=True)
class FilterEntry:
    sources: tuple[IPNetwork, ...]
    destinations: tuple[IPAddress, ...]
    protocols: frozenset[int]
    ports: tuple[PortRange, ...]
    rule: int  # the acls index it comes from

    def admits(self, source: IPAddress, destination: IPAddress, protocol: int, port: int | None) -> bool:
        if protocol not in self.protocols or destination not in self.destinations:
            return False
        if protocol in PORT_PROTOCOLS and port is not None and not any(port in r for r in self.ports):
            return False
        return any(source in network for network in self.sources)


@dataclass(frozen=True)
class DeviceFilter:
    device: str
    addresses: tuple[IPAddress, ...]
    entries: tuple[FilterEntry, ...]
    peers: frozenset[str]  # device keys it may reach or be reached by

    def admits(self, source: IPAddress, destination: IPAddress, protocol: int, port: int | None) -> bool:
        return any(entry.admits(source, destination, protocol, port) for entry in self.entries)


def compile_device(resolver: Resolver, key: str) -> DeviceFilter:
    device = resolver.network.device(key)
    endpoint = resolver.endpoints[device.key]
    entries = []
    for rule in resolver.policy.rules:
        for target in rule.destinations:
            if target.alias.kind == "self":
                if endpoint.user is None:
                    continue
                sources = _own_devices(resolver, rule.sources, endpoint)
                destinations = device.addresses
            else:
                destinations = tuple(
                    a for a in device.addresses if resolver.matches_destination(target.alias, endpoint, a, endpoint)
                )
                if not destinations:
                    continue
                sources = _prefixes(resolver, rule.sources)
            if sources and destinations:
                entries.append(
                    FilterEntry(
                        sources=sources,
                        destinations=destinations,
                        protocols=rule.protocols,
                        ports=target.ports,
                        rule=rule.index,
                    )
                )
    return DeviceFilter(
        device=device.key,
        addresses=device.addresses,
        entries=tuple(entries),
        peers=_peers(resolver, device.key, endpoint),
    )


def _prefixes(resolver: Resolver, aliases: tuple[Alias, ...]) -> tuple[IPNetwork, ...]:
    """The source addresses the aliases stand for: the tailnet's ranges for `*`, a host's or a CIDR's prefix,
    the addresses of the devices an identity selects. Kept per resolver: many rules share their sources."""
    cache = resolver.cache.setdefault("prefixes", {})
    if aliases not in cache:
        found: set[IPNetwork] = set()
        for alias in aliases:
            if alias.kind == "any":
                found.update(resolver.network.prefixes)
            elif alias.kind in ("host", "prefix"):
                found.add(alias.network)
            else:
                found.update(network for key in resolver.devices(alias) for network in resolver.host_networks(key))
        cache[aliases] = tuple(sorted(found, key=_order))
    return cache[aliases]


def _order(network: IPNetwork):
    return network.version, int(network.network_address), network.prefixlen


def _own_devices(resolver: Resolver, aliases: tuple[Alias, ...], endpoint: Endpoint) -> tuple[IPNetwork, ...]:
    """For autogroup:self: the untagged devices of this device's user that the rule's sources select."""
    found = {
        network
        for key in resolver.devices_of(endpoint.user)
        for address, network in zip(resolver.endpoints[key].addresses, resolver.host_networks(key), strict=True)
        if any(resolver.matches_source(alias, resolver.endpoints[key], address) for alias in aliases)
    }
    return tuple(sorted(found, key=_order))


def _peers(resolver: Resolver, key: str, endpoint: Endpoint) -> frozenset[str]:
    """Devices this one may reach, or that may reach it, under some rule (ports and protocols aside: the
    peer is needed for any of them)."""
    peers: set[str] = set()
    for rule in resolver.policy.rules:
        sources = frozenset().union(*(resolver.devices(alias) for alias in rule.sources))
        for target in rule.destinations:
            if target.alias.kind == "self":
                same_user = resolver.devices_of(endpoint.user)
                if key in sources:
                    peers |= same_user
                if key in same_user:
                    peers |= sources & same_user
                continue
            targets = resolver.devices(target.alias)
            if key in sources:
                peers |= targets
            if key in targets:
                peers |= sources
    peers.discard(key)
    return frozenset(peers)
