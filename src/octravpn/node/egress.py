"""The exit's egress policy as an nftables ruleset.

Clients may reach the outside world through the exit, source-NATed on the
uplink, and nothing else: not the exit host (except the services listed,
such as the receipt API on its tunnel address, and echo requests to that
address, which clients send to tell an idle tunnel from a dead exit), not
each other, and not
private, shared (CGNAT), link-local, loopback or multicast ranges, where the
exit's own neighbours live. Rendering is a pure function; `apply` loads the
result atomically into the network namespace the runner works in.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from octravpn.wireguard.config import IPNetwork
from octravpn.wireguard.runner import CommandError, CommandRunner

BLOCKED_V4 = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)
BLOCKED_V6 = tuple(ipaddress.ip_network(n) for n in ("::1/128", "fc00::/7", "fe80::/10", "ff00::/8"))


@dataclass(frozen=True, kw_only=True)
class EgressPolicy:
    wg_interface: str
    uplink: str
    tunnel_network: ipaddress.IPv4Network
    exit_address: str
    services: tuple[tuple[str, int], ...] = ()  # (protocol, port) clients may reach on exit_address
    extra_blocked: tuple[IPNetwork, ...] = ()

    @property
    def table(self) -> str:
        return table_name(self.wg_interface)


def table_name(wg_interface: str) -> str:
    """The nftables table of the exit serving on `wg_interface`."""
    return f"octravpn_{wg_interface}".replace("-", "_").replace(".", "_")


def ruleset(policy: EgressPolicy) -> str:
    """nftables script that (re)creates the policy's tables in one transaction."""
    blocked4 = [*BLOCKED_V4, *(n for n in policy.extra_blocked if n.version == 4)]
    blocked6 = [*BLOCKED_V6, *(n for n in policy.extra_blocked if n.version == 6)]
    wg, uplink, table = policy.wg_interface, policy.uplink, policy.table
    services = "\n".join(
        f'        iifname "{wg}" ip daddr {policy.exit_address} {proto} dport {port} accept'
        for proto, port in policy.services
    )
    return f"""table inet {table}
delete table inet {table}
table inet {table} {{
    chain input {{
        type filter hook input priority filter; policy accept;
{services}
        iifname "{wg}" ip daddr {policy.exit_address} icmp type echo-request limit rate 20/second accept
        iifname "{wg}" ct state established,related accept
        iifname "{wg}" drop
    }}
    chain forward {{
        type filter hook forward priority filter; policy accept;
        iifname "{wg}" oifname "{wg}" drop
        iifname "{wg}" ip daddr {{ {", ".join(str(n) for n in blocked4)} }} drop
        iifname "{wg}" ip6 daddr {{ {", ".join(str(n) for n in blocked6)} }} drop
        iifname "{wg}" oifname "{uplink}" accept
        iifname "{wg}" drop
        oifname "{wg}" ct state established,related accept
        oifname "{wg}" drop
    }}
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname "{uplink}" ip saddr {policy.tunnel_network} masquerade
    }}
}}
"""


def apply(runner: CommandRunner, policy: EgressPolicy) -> None:
    """Enable forwarding and load the ruleset (replacing an earlier one)."""
    runner.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
    runner.run(["nft", "-f", "-"], stdin=ruleset(policy))


def remove(runner: CommandRunner, policy: EgressPolicy) -> bool:
    """Delete the policy's tables; True if they existed."""
    try:
        runner.run(["nft", "delete", "table", "inet", policy.table])
    except CommandError:
        return False
    return True
