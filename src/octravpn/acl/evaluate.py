"""Deciding a packet with a policy, the way Tailscale does: the union of all rules, everything else denied.

`Resolver` ties a policy to a network: who each device is (a tagged device belongs to no user; which tags it
carries was decided where they were granted, see `acl.tags`), and which devices each alias selects.
`decide` answers for one packet and names the rule that allows it; `run_tests` runs a policy's `tests`.
"""

from __future__ import annotations

import bisect
import ipaddress
from dataclasses import dataclass
from typing import cast

from octravpn.acl.network import EMPTY, Device, Endpoint, IPAddress, Network
from octravpn.acl.policy import PORT_PROTOCOLS, Alias, Policy, Rule, TestCase


class Resolver:
    def __init__(self, policy: Policy, network: Network = EMPTY) -> None:
        self.policy, self.network = policy, network
        self.endpoints = {device.key: self._endpoint(device) for device in network.devices}
        self.by_address = {address: endpoint for endpoint in self.endpoints.values() for address in endpoint.addresses}
        self._selected: dict[Alias, frozenset[str]] = {}
        self._by_user: dict[str, set[str]] = {}
        self._by_tag: dict[str, set[str]] = {}
        for device_key, endpoint in self.endpoints.items():
            if endpoint.user is not None:
                self._by_user.setdefault(endpoint.user, set()).add(device_key)
            for tag in endpoint.tags:
                self._by_tag.setdefault(tag, set()).add(device_key)
        self._host_networks: dict[str, tuple] = {}
        # (version, address as an integer, device key), sorted: the devices in a prefix are one bisected range
        self._sorted_addresses = sorted(
            (a.version, int(a), device_key)
            for device_key, endpoint in self.endpoints.items()
            for a in endpoint.addresses
        )
        self.cache: dict[str, dict] = {}  # what compiling devices computes once per policy and network

    # ----------------------------------------------------------- identities
    def _endpoint(self, device: Device) -> Endpoint:
        tags = device.tags
        return Endpoint(user=None if tags else device.owner, tags=tags, device=device, addresses=device.addresses)

    def endpoint_at(self, address: IPAddress) -> Endpoint:
        """Who sends from (or receives at) `address`: the device that has it, or no device."""
        return self.by_address.get(address) or Endpoint(addresses=(address,))

    # ------------------------------------------------------------ matching
    def matches(self, alias: Alias, endpoint: Endpoint, address: IPAddress | None) -> bool:
        """Whether `alias` selects the endpoint, seen at `address` (None: any of its addresses, or an identity
        with no address, as in a policy's tests)."""
        kind = alias.kind
        if kind == "user":
            return endpoint.user == alias.name
        if kind == "group":
            return endpoint.user is not None and endpoint.user in self.policy.groups[alias.named]
        if kind == "tag":
            return alias.name in endpoint.tags
        if kind == "member":
            return endpoint.user is not None and (not self.network.members or endpoint.user in self.network.members)
        if kind == "tagged":
            return bool(endpoint.tags)
        if kind in ("host", "prefix"):
            return any(a in alias.network for a in self._addresses(endpoint, address))
        raise AssertionError(f"{kind} is matched by its caller")

    @staticmethod
    def _addresses(endpoint: Endpoint, address: IPAddress | None):
        return (address,) if address is not None else endpoint.addresses

    def matches_source(self, alias: Alias, endpoint: Endpoint, address: IPAddress | None) -> bool:
        if alias.kind == "any":  # the tailnet's own: its devices and its address ranges
            return endpoint.is_device or any(
                a in p for a in self._addresses(endpoint, address) for p in self.network.prefixes
            )
        return self.matches(alias, endpoint, address)

    def matches_destination(
        self, alias: Alias, endpoint: Endpoint, address: IPAddress | None, source: Endpoint
    ) -> bool:
        if alias.kind == "any":
            return True
        if alias.kind == "self":  # the source user's own untagged devices
            return source.user is not None and endpoint.user == source.user
        return self.matches(alias, endpoint, address)

    # ------------------------------------------------------------ devices
    def devices(self, alias: Alias) -> frozenset[str]:
        """The keys of the devices `alias` selects (`self` is relative to a source: the caller handles it).
        Identities are looked up in indexes, so a large tailnet costs what the answer costs."""
        if alias not in self._selected:
            self._selected[alias] = frozenset(self._select(alias))
        return self._selected[alias]

    def _select(self, alias: Alias):
        kind = alias.kind
        if kind == "any":
            return self.endpoints.keys()
        if kind == "user":
            return self._by_user.get(alias.named, ())
        if kind == "group":
            return {key for user in self.policy.groups[alias.named] for key in self._by_user.get(user, ())}
        if kind == "tag":
            return self._by_tag.get(alias.named, ())
        if kind == "member":
            return {
                key
                for user, keys in self._by_user.items()
                if not self.network.members or user in self.network.members
                for key in keys
            }
        if kind == "tagged":
            return {key for keys in self._by_tag.values() for key in keys}
        if kind == "self":
            return ()
        prefix = alias.network  # host or prefix
        low = bisect.bisect_left(self._sorted_addresses, (prefix.version, int(prefix.network_address), ""))
        high = bisect.bisect_right(self._sorted_addresses, (prefix.version, int(prefix.broadcast_address), "\uffff"))
        return {device_key for _, _, device_key in self._sorted_addresses[low:high]}

    def devices_of(self, user: str | None) -> frozenset[str]:
        """The keys of a user's untagged devices (none for no user)."""
        return frozenset(self._by_user.get(user, ())) if user is not None else frozenset()

    def host_networks(self, key: str) -> tuple:
        """A device's addresses as /32 and /128 networks (built from integers: parsing text is the slow way)."""
        if key not in self._host_networks:
            self._host_networks[key] = tuple(
                ipaddress.IPv4Network((int(a), 32)) if a.version == 4 else ipaddress.IPv6Network((int(a), 128))
                for a in self.endpoints[key].addresses
            )
        return self._host_networks[key]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: Rule | None = None

    def describe(self) -> str:
        return f"allowed by {self.rule.describe()}" if self.rule is not None else "denied: no rule allows it"


def decide(
    resolver: Resolver,
    source: Endpoint,
    source_address: IPAddress | None,
    destination: Endpoint,
    destination_address: IPAddress | None,
    protocol: int,
    port: int | None,
) -> Decision:
    """Whether the policy lets `source` reach `destination` over `protocol` (and `port`, for TCP, UDP and
    SCTP; other protocols are matched by address alone, as Tailscale does)."""
    if protocol not in PORT_PROTOCOLS:
        port = None
    for rule in resolver.policy.rules:
        if protocol not in rule.protocols:
            continue
        if not any(resolver.matches_source(alias, source, source_address) for alias in rule.sources):
            continue
        for target in rule.destinations:
            if target.allows_port(port) and resolver.matches_destination(
                target.alias, destination, destination_address, source
            ):
                return Decision(True, rule)
    return Decision(False)


def decide_packet(
    resolver: Resolver, source_address: IPAddress, destination_address: IPAddress, protocol: int, port: int | None
) -> Decision:
    """A packet as a device's filter sees it: addresses in, the devices they belong to looked up."""
    return decide(
        resolver,
        resolver.endpoint_at(source_address),
        source_address,
        resolver.endpoint_at(destination_address),
        destination_address,
        protocol,
        port,
    )


# ------------------------------------------------------------------ tests


@dataclass(frozen=True)
class TestFailure:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def identity(resolver: Resolver, alias: Alias) -> list[tuple[Endpoint, IPAddress | None]]:
    """What a test's source or destination stands for: a user's untagged device, a tagged device, an address
    (and the device there, if any); each member of a group; with the address to match prefixes against."""
    if alias.kind == "user":
        return [(Endpoint(user=alias.name), None)]
    if alias.kind == "group":
        return [(Endpoint(user=user), None) for user in sorted(resolver.policy.groups[alias.named])]
    if alias.kind == "tag":
        return [(Endpoint(tags=frozenset({alias.named})), None)]
    if alias.kind in ("host", "prefix"):
        network = alias.network
        address: IPAddress = (
            network.network_address if network.num_addresses == 1 else cast(IPAddress, next(network.hosts()))
        )
        return [(resolver.endpoint_at(address), address)]
    if alias.kind == "member":  # each member; with no tailnet given, a member who is in no group
        members = sorted(resolver.network.members) or ["0x" + "00" * 20]
        return [(Endpoint(user=user), None) for user in members]
    if alias.kind == "tagged":
        return [(Endpoint(tags=frozenset({tag})), None) for tag in sorted(resolver.policy.tag_owners)[:1]]
    raise AssertionError(alias.kind)


def run_tests(resolver: Resolver) -> list[TestFailure]:
    """Every assertion of the policy's `tests` that does not hold."""
    return [failure for test in resolver.policy.tests for failure in _run(resolver, test)]


def _run(resolver: Resolver, test: TestCase) -> list[TestFailure]:
    failures = []
    for source, source_address in identity(resolver, test.source):
        who = f"{test.source.text} ({source.user})" if test.source.kind == "group" else test.source.text
        for expected, cases in ((True, test.accept), (False, test.deny)):
            for alias, port, text in cases:
                for destination, destination_address in identity(resolver, alias):
                    decision = decide(
                        resolver, source, source_address, destination, destination_address, test.protocol, port
                    )
                    if decision.allowed != expected:
                        verdict = "is " + decision.describe().removesuffix(": no rule allows it")
                        failures.append(
                            TestFailure(
                                test.line,
                                f"{who} -> {text} {verdict}, but the test expects "
                                f"it {'allowed' if expected else 'denied'}",
                            )
                        )
    return failures
