"""A device's compiled filter as an nftables ruleset for its mesh (WireGuard) interface. Pure: text out.

The script replaces the interface's table in one transaction (`nft -f`), so the filter changes atomically:
no moment with no filter, none with half of one. On the interface it admits replies to connections the
device opened, then what the policy allows to arrive, and drops everything else; other interfaces are
not touched.
"""

from __future__ import annotations

import ipaddress

from octravpn.acl.compile import DeviceFilter, FilterEntry
from octravpn.acl.policy import ICMP, ICMPV6, PORT_PROTOCOLS, PortRange

_NAMES = {6: "tcp", 17: "udp", 132: "sctp", ICMP: "icmp", ICMPV6: "ipv6-icmp"}


def table_name(interface: str) -> str:
    return f"octravpn_acl_{interface}".replace("-", "_").replace(".", "_")


def ruleset(device_filter: DeviceFilter, interface: str, *, services: tuple[int, ...] = ()) -> str:
    """`services`: UDP ports of this device's own (the mesh's peer service) open to every peer: only peers
    reach the interface at all, and WireGuard admits from each only its own addresses."""
    table = table_name(interface)
    rules = [line for entry in device_filter.entries for line in _rules(entry, interface)]
    v4 = [a for a in device_filter.addresses if a.version == 4]
    if services and v4:
        rules.append(
            f'iifname "{interface}" ip daddr {v4[0]} udp dport {_set(_merge(PortRange(p, p) for p in services))} accept'
        )
    body = "\n".join(f"        {rule}" for rule in rules)
    return f"""table inet {table}
delete table inet {table}
table inet {table} {{
    chain input {{
        type filter hook input priority filter; policy accept;
        iifname "{interface}" ct state established,related accept
        iifname "{interface}" ct state invalid drop
{body}
        iifname "{interface}" drop
    }}
}}
"""


def _rules(entry: FilterEntry, interface: str) -> list[str]:
    lines = []
    for version, keyword in ((4, "ip"), (6, "ip6")):
        sources = list(ipaddress.collapse_addresses(n for n in entry.sources if n.version == version))
        destinations = list(
            ipaddress.collapse_addresses(ipaddress.ip_network(a) for a in entry.destinations if a.version == version)
        )
        if not sources or not destinations:
            continue
        match = f'iifname "{interface}" {keyword} saddr {_set(sources)} {keyword} daddr {_set(destinations)}'
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
        if item.num_addresses == 1:
            return str(item.network_address)
        return str(item)

    return "{ " + ", ".join(text(i) for i in items) + " }"
