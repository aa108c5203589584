"""The host's routes and kill switch while an exit tunnel carries its traffic.

All traffic goes through the tunnel: two /1 routes cover the whole IPv4
space without replacing the default route (so restoring is deleting them),
and the exit's own address keeps a /32 route by the original gateway, so
WireGuard's packets and the handshake API do not loop into the tunnel.

The kill switch is an nftables output filter that drops whatever would leave
outside the tunnel, except WireGuard's packets to the exit's endpoint and the
exit's API port, and the control plane's (the chain RPC, an indexer), which a
failover needs while the old exit is gone, and the tailnet mesh: what goes
into its interface, and its own encrypted packets to its peers (marked, see
`host.uplink`). Other IPv6 is dropped: the tunnel carries IPv4. It stays loaded if the daemon dies, so nothing
leaks until `octravpn down`.
Rendering is pure; `apply`/`remove` run the commands.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from octravpn.host.uplink import MESH_FWMARK
from octravpn.wireguard.runner import CommandError, CommandRunner

SPLIT_DEFAULT = ("0.0.0.0/1", "128.0.0.0/1")


@dataclass(frozen=True, kw_only=True)
class Bypass:
    """A destination reached outside the tunnel: the exit, or a private chain RPC."""

    address: str
    tcp_ports: tuple[int, ...] = ()
    udp_ports: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TunnelRouting:
    interface: str
    bypasses: tuple[Bypass, ...]
    mesh_interface: str | None = None  # the tailnet mesh's interface: its traffic and its own packets pass

    @property
    def table(self) -> str:
        return f"octravpn_ks_{self.interface}".replace("-", "_").replace(".", "_")


def kill_switch_ruleset(routing: TunnelRouting) -> str:
    allowed = []
    for bypass in routing.bypasses:
        for port in bypass.udp_ports:
            allowed.append(f"        ip daddr {bypass.address} udp dport {port} accept")
        for port in bypass.tcp_ports:
            allowed.append(f"        ip daddr {bypass.address} tcp dport {port} accept")
    if routing.mesh_interface:
        allowed.append(f'        oifname "{routing.mesh_interface}" accept')
        allowed.append(f"        meta mark {MESH_FWMARK:#x} accept")
    rules = "\n".join(allowed)
    return f"""table inet {routing.table}
delete table inet {routing.table}
table inet {routing.table} {{
    chain output {{
        type filter hook output priority filter; policy drop;
        oifname "lo" accept
        oifname "{routing.interface}" accept
{rules}
    }}
}}
"""


def gateway_route(runner: CommandRunner, address: str, *, tunnel: str | None = None) -> list[str]:
    """`ip route` arguments that reach `address` outside the tunnel. While the tunnel is up (a new exit
    during a failover), the kernel's answer is the tunnel itself: then the default route is the way."""
    (route,) = json.loads(runner.run(["ip", "-j", "route", "get", address]))
    if route.get("dev") == "lo":
        return []  # a local address needs no route
    if tunnel is not None and route.get("dev") == tunnel:
        defaults = json.loads(runner.run(["ip", "-j", "route", "show", "default"]))
        if not defaults:
            raise CommandError(["ip", "route", "show", "default"], 1, f"no default route to reach {address} by")
        route = defaults[0]
    argv = [f"{address}/32"]
    if route.get("gateway"):
        argv += ["via", route["gateway"]]
    return argv + ["dev", route["dev"]]


def apply_routes(runner: CommandRunner, routing: TunnelRouting) -> list[list[str]]:
    """Bypass routes first (taken from the current table), then the split default; returns what was added."""
    return add_bypass_routes(runner, routing) + split_default_routes(runner, routing)


def split_default_routes(runner: CommandRunner, routing: TunnelRouting) -> list[list[str]]:
    """The two /1 routes into the tunnel (replaced if present)."""
    added = []
    for half in SPLIT_DEFAULT:
        route = [half, "dev", routing.interface]
        runner.run(["ip", "route", "replace", *route])
        added.append(route)
    return added


def add_bypass_routes(
    runner: CommandRunner, routing: TunnelRouting, *, existing: Sequence[list[str]] = ()
) -> list[list[str]]:
    """Routes outside the tunnel for the bypasses that have none among `existing`; returns those added."""
    have = {route[0] for route in existing}
    added = []
    for bypass in routing.bypasses:
        if f"{bypass.address}/32" in have:
            continue
        route = gateway_route(runner, bypass.address, tunnel=routing.interface)
        if route:
            runner.run(["ip", "route", "replace", *route])
            added.append(route)
            have.add(route[0])
    return added


def drop_bypass_routes(runner: CommandRunner, routes: list[list[str]], routing: TunnelRouting) -> list[list[str]]:
    """Remove the bypass routes of addresses `routing` no longer bypasses; returns the routes kept."""
    wanted = {f"{bypass.address}/32" for bypass in routing.bypasses} | set(SPLIT_DEFAULT)
    remove_routes(runner, [route for route in routes if route[0] not in wanted])
    return [route for route in routes if route[0] in wanted]


def remove_routes(runner: CommandRunner, added: list[list[str]]) -> None:
    for route in reversed(added):
        try:
            runner.run(["ip", "route", "del", *route])
        except CommandError:
            pass  # already gone with its interface


def apply_kill_switch(runner: CommandRunner, routing: TunnelRouting) -> None:
    runner.run(["nft", "-f", "-"], stdin=kill_switch_ruleset(routing))


def remove_kill_switch(runner: CommandRunner, table: str) -> bool:
    try:
        runner.run(["nft", "delete", "table", "inet", table])
    except CommandError:
        return False
    return True
