"""A device's compiled filter as an nftables ruleset for its mesh (WireGuard) interface. Pure: text out.

The script replaces the interface's table in one transaction (`nft -f`), so the filter changes atomically:
no moment with no filter, none with half of one. Three chains, modelled on Tailscale's `ts-input` and
`ts-forward`:

- input: on the mesh interface it admits replies to connections the device opened, then what the policy allows
  to arrive, judged again for every packet of a connection a peer opened (so a tightened policy cuts a
  connection it no longer allows at its next packet, as Tailscale drops flows on a filter change), and drops
  the rest. Off the mesh, a packet from a tailnet address, or to this device's tailnet addresses or its
  resolver (`100.100.100.100`), is dropped: the exit's operator or a LAN neighbour never reaches them, nor
  speaks as a peer. On the mesh, WireGuard admits from each peer only its own two addresses (cryptokey
  routing: a reverse-path check by construction).
- forward: the mesh routes for nobody; tailnet addresses are neither forwarded into nor out of it.
- output: tailnet addresses go out through the mesh (or loopback) only, never into an exit's tunnel.
Both families, always.
"""

from __future__ import annotations

import ipaddress

from octravpn.acl.compile import DeviceFilter, FilterEntry
from octravpn.acl.network import TAILNET_PREFIXES, IPNetwork
from octravpn.acl.policy import ICMP, ICMPV6, PORT_PROTOCOLS, PortRange

_NAMES = {6: "tcp", 17: "udp", 132: "sctp", ICMP: "icmp", ICMPV6: "ipv6-icmp"}
RESOLVER = ipaddress.ip_address("100.100.100.100")  # the mesh's name server, on loopback (see `mesh.dns`)


def table_name(interface: str) -> str:
    return f"octravpn_acl_{interface}".replace("-", "_").replace(".", "_")


def ruleset(device_filter: DeviceFilter, interface: str, *, services: tuple[int, ...] = ()) -> str:
    """`services`: UDP ports of this device's own (the mesh's peer service) open to every peer: only peers
    reach the interface at all, and WireGuard admits from each only its own addresses."""
    table = table_name(interface)
    mesh = f'"{interface}"'
    rules = [line for entry in device_filter.entries for line in _rules(entry, mesh)]
    v4 = [a for a in device_filter.addresses if a.version == 4]
    if services and v4:
        rules.append(
            f"iifname {mesh} ip daddr {v4[0]} udp dport {_set(_merge(PortRange(p, p) for p in services))} accept"
        )
    prefixes = {version: [p for p in TAILNET_PREFIXES if p.version == version] for version in (4, 6)}
    own = {version: [a for a in device_filter.addresses if a.version == version] for version in (4, 6)}
    own[4] = [*own[4], RESOLVER]
    outside, forward, leaving = [], [], []
    for version, keyword in ((4, "ip"), (6, "ip6")):
        outside.append(f"iifname != {mesh} {keyword} saddr {_set(prefixes[version])} drop")
        if own[version]:
            outside.append(f"iifname != {mesh} {keyword} daddr {_set(own[version])} drop")
        forward += [
            f"{keyword} saddr {_set(prefixes[version])} drop",
            f"{keyword} daddr {_set(prefixes[version])} drop",
        ]
        leaving += [
            f'oifname != {{ {mesh}, "lo" }} {keyword} saddr {_set(prefixes[version])} drop',
            f'oifname != {{ {mesh}, "lo" }} {keyword} daddr {_set(prefixes[version])} drop',
        ]
    return f"""table inet {table}
delete table inet {table}
table inet {table} {{
    chain input {{
        type filter hook input priority filter; policy accept;
        iifname "lo" accept
{_lines(outside)}
        iifname {mesh} ct state invalid drop
        iifname {mesh} ct direction reply accept
        iifname {mesh} ct state related accept
{_lines(rules)}
        iifname {mesh} drop
    }}
    chain forward {{
        type filter hook forward priority filter; policy accept;
        iifname {mesh} drop
        oifname {mesh} drop
{_lines(forward)}
    }}
    chain output {{
        type filter hook output priority filter; policy accept;
{_lines(leaving)}
    }}
}}
"""


def _lines(rules: list[str]) -> str:
    return "\n".join(f"        {rule}" for rule in rules)


def _collapsed(networks: list[IPNetwork]) -> list[IPNetwork]:
    """The fewest networks covering `networks`, all of one IP version (collapse_addresses needs one)."""
    return list(ipaddress.collapse_addresses(networks))  # type: ignore[type-var]  # one version, checked by callers


def _rules(entry: FilterEntry, mesh: str) -> list[str]:
    lines = []
    for version, keyword in ((4, "ip"), (6, "ip6")):
        sources = _collapsed([n for n in entry.sources if n.version == version])
        destinations = _collapsed([ipaddress.ip_network(a) for a in entry.destinations if a.version == version])
        if not sources or not destinations:
            continue
        match = f"iifname {mesh} {keyword} saddr {_set(sources)} {keyword} daddr {_set(destinations)}"
        for protocol in sorted(entry.protocols):
            if protocol == (ICMPV6 if version == 4 else ICMP):
                continue  # the other family's ICMP never arrives in this one
            name = _NAMES.get(protocol, str(protocol))
            if protocol in PORT_PROTOCOLS and _merge(entry.ports) != [PortRange(0, 65535)]:
                lines.append(f"{match} {name} dport {_set(_merge(entry.ports))} accept")
            else:
                lines.append(f"{match} meta l4proto {name} accept")
    return lines


def _merge(ranges) -> list[PortRange]:
    """Overlapping or touching ranges as one: nftables refuses overlapping intervals in a set."""
    merged: list[PortRange] = []
    for r in sorted(ranges, key=lambda r: r.first):
        if merged and r.first <= merged[-1].last + 1:
            merged[-1] = PortRange(merged[-1].first, max(merged[-1].last, r.last))
        else:
            merged.append(r)
    return merged


def _set(items) -> str:
    def text(item) -> str:
        if isinstance(item, PortRange):
            return str(item.first) if item.first == item.last else f"{item.first}-{item.last}"
        if isinstance(item, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            return str(item)
        if item.num_addresses == 1:
            return str(item.network_address)
        return str(item)

    return "{ " + ", ".join(text(i) for i in items) + " }"
