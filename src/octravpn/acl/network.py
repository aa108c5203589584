"""The tailnet a policy is applied to, as the chain and the devices' announcements describe it."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Where tailnet devices' addresses live: `*` as a source means these. The mesh derives each device's
# addresses inside them.
TAILNET_PREFIXES: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("100.64.0.0/10"),
    ipaddress.ip_network("fd7a:7670:6e00::/48"),
)


@dataclass(frozen=True, kw_only=True)
class Device:
    key: str  # the device key's address, lower-case (or the member's wallet, for a wallet acting as its own device)
    owner: str  # the member wallet it acts for, lower-case
    addresses: tuple[IPAddress, ...]
    tags: frozenset[str] = frozenset()  # the tags it carries: granted by a tag owner (`acl.tags`), never asked for
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", self.key.lower())
        object.__setattr__(self, "owner", self.owner.lower())


@dataclass(frozen=True, kw_only=True)
class Network:
    members: frozenset[str]  # member wallets, lower-case
    devices: tuple[Device, ...] = ()
    prefixes: tuple[IPNetwork, ...] = TAILNET_PREFIXES

    def __post_init__(self) -> None:
        object.__setattr__(self, "members", frozenset(m.lower() for m in self.members))
        seen: dict[IPAddress, str] = {}
        for device in self.devices:
            for address in device.addresses:
                if address in seen:
                    raise ValueError(f"address {address} is both {seen[address]}'s and {device.key}'s")
                seen[address] = device.key

    def device(self, key: str) -> Device:
        for device in self.devices:
            if device.key == key.lower():
                return device
        raise KeyError(f"no device {key} in this tailnet")


EMPTY = Network(members=frozenset())


@dataclass(frozen=True)
class Endpoint:
    """Who is at one end of a packet, as the policy sees it: a member's untagged device (`user`), a tagged
    device (`tags`, and no user: a tagged device belongs to nobody), or an address that is no device."""

    user: str | None = None
    tags: frozenset[str] = frozenset()
    device: Device | None = None
    addresses: tuple[IPAddress, ...] = field(default=())

    @property
    def is_device(self) -> bool:
        return self.device is not None or self.user is not None or bool(self.tags)
