"""Every device's tailnet addresses, derived from chain facts alone, so that every device computes the same
ones with no coordinator.

A tailnet's keys (its member wallets, each acting as a device, and the device keys registered to them) are
taken in chain order: the order of the event that made each one part of the tailnet (a member's joining; for
a device key, the later of its registration and its wallet's joining). Each key's IPv4 address is the first
free one of the candidates keccak-256("octravpn/v4" | tailnet id | key | attempt) picks in 100.64.0.0/10
(attempt 0, 1, …); its IPv6 address likewise in the tailnet's /64 of fd7a:7670:6e00::/48 (the tailnet id's
low 16 bits name the /64). A collision goes to the key that came later, which takes its next candidate.
"""

from __future__ import annotations

import ipaddress

from eth_hash.auto import keccak

V4_NETWORK = ipaddress.IPv4Network("100.64.0.0/10")
V6_PREFIX = ipaddress.IPv6Network("fd7a:7670:6e00::/48")
_V4_HOSTS = V4_NETWORK.num_addresses - 2  # not the first or the last address of the range


def _candidate(label: bytes, tailnet_id: int, key: str, attempt: int) -> int:
    return int.from_bytes(
        keccak(label + tailnet_id.to_bytes(32, "big") + bytes.fromhex(key[2:]) + attempt.to_bytes(4, "big"))[:8], "big"
    )


def assign_addresses(
    tailnet_id: int, keys_in_chain_order: list[str]
) -> dict[str, tuple[ipaddress.IPv4Address, ipaddress.IPv6Address]]:
    """key (lower-case 0x address) -> (IPv4, IPv6), for the keys in the order the chain added them."""
    subnet = int(V6_PREFIX.network_address) | ((tailnet_id & 0xFFFF) << 64)
    taken4: set[int] = set()
    taken6: set[int] = set()
    assigned = {}
    for key in keys_in_chain_order:
        key = key.lower()
        attempt = 0
        while (host4 := _candidate(b"octravpn/v4", tailnet_id, key, attempt) % _V4_HOSTS + 1) in taken4:
            attempt += 1
        attempt = 0
        while (host6 := _candidate(b"octravpn/v6", tailnet_id, key, attempt) % (2**64 - 1) + 1) in taken6:
            attempt += 1
        taken4.add(host4)
        taken6.add(host6)
        assigned[key] = (V4_NETWORK.network_address + host4, ipaddress.IPv6Address(subnet | host6))
    return assigned
