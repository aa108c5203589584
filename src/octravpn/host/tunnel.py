"""The host's side of an exit connection: the WireGuard interface, routes and kill switch (`host.routing`), and
the exit's name servers given to the one owner of the resolver (`host.dns`), applied and undone.

Every change is recorded in `HostChanges` as it is made (and saved by the
daemon), so it can be undone from the state file alone, also by a later
daemon. A failover changes the exit under a standing kill switch: the new
exit's bypass is allowed before anything is sent to it, and the old one's is
dropped after the interface has moved, so nothing ever leaves outside the
tunnel except to an exit or the control plane.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse

from octravpn.host import routing as host_routing
from octravpn.host.dns import DNSManager
from octravpn.wireguard.config import InterfaceConfig, PeerConfig
from octravpn.wireguard.engine import Engine
from octravpn.wireguard.runner import CommandRunner

KEEPALIVE_SECONDS = 25


@dataclass
class HostChanges:
    """What was done to the host's network for an exit connection, so it can be undone (also by a later daemon)."""

    interface: str
    routes: list[list[str]] = field(default_factory=list)
    kill_switch_table: str | None = None


@dataclass(frozen=True, kw_only=True)
class TunnelOptions:
    interface: str = "ovpn0"
    kill_switch: bool = True
    accept_dns: bool = True  # the exit's name servers answer while connected
    mesh_interface: str | None = None  # let through the kill switch


def interface_config(
    interface: str,
    private_key: bytes,
    client_address: str,
    exit_public_key: bytes,
    exit_endpoint: str,
    *,
    allowed_ips: tuple[str, ...] = ("0.0.0.0/0",),
) -> InterfaceConfig:
    return InterfaceConfig(
        name=interface,
        private_key=private_key,
        addresses=(client_address,),
        peers=(
            PeerConfig(
                public_key=exit_public_key,
                allowed_ips=allowed_ips,
                endpoint=exit_endpoint,
                persistent_keepalive=KEEPALIVE_SECONDS,
            ),
        ),
    )


def exit_bypass(exit_endpoint: str) -> host_routing.Bypass:
    ip, port = exit_endpoint.rsplit(":", 1)
    return host_routing.Bypass(address=ip, udp_ports=(int(port),), tcp_ports=(int(port),))


def control_bypass(url: str, resolve) -> host_routing.Bypass | None:
    """The chain RPC or an indexer, reached outside the tunnel: a failover must reach both while the old exit
    is gone, and an exit refuses private addresses anyway. `resolve` maps a host name to an IPv4 address."""
    parsed = urlparse(url)
    if not parsed.hostname:
        return None
    port = parsed.port or (443 if parsed.scheme in ("https", "wss") else 80)
    return host_routing.Bypass(address=resolve(parsed.hostname), tcp_ports=(port,))


class TunnelHost:
    def __init__(
        self,
        runner: CommandRunner,
        options: TunnelOptions,
        control: tuple[host_routing.Bypass, ...],
        dns: DNSManager,
    ) -> None:
        self.runner = runner
        self.engine = Engine(runner)
        self.options = options
        self.control = control
        self.dns = dns

    def routing(self, *exit_endpoints: str) -> host_routing.TunnelRouting:
        """The exits' and the control plane's bypasses, one per address with all its ports."""
        merged: dict[str, tuple[set[int], set[int]]] = {}
        for bypass in (*(exit_bypass(e) for e in exit_endpoints), *self.control):
            tcp, udp = merged.setdefault(bypass.address, (set(), set()))
            tcp.update(bypass.tcp_ports)
            udp.update(bypass.udp_ports)
        bypasses = tuple(
            host_routing.Bypass(address=address, tcp_ports=tuple(sorted(tcp)), udp_ports=tuple(sorted(udp)))
            for address, (tcp, udp) in merged.items()
        )
        return host_routing.TunnelRouting(
            interface=self.options.interface, bypasses=bypasses, mesh_interface=self.options.mesh_interface
        )

    def prepare(self, interface: str, private_key: bytes) -> None:
        """The interface with its key, no peer and no address yet (nothing routes into it): made while the
        session opens, so `bring_up` only has to finish it."""
        self.engine.up(InterfaceConfig(name=interface, private_key=private_key))

    def bring_up(
        self, changes: HostChanges, config: InterfaceConfig, exit_endpoint: str, dns: tuple[str, ...], save
    ) -> None:
        """Interface, routes, kill switch, DNS; `save()` after each step that leaves something to undo.
        On failure everything done so far is undone and the error raised."""
        routing = self.routing(exit_endpoint)
        try:
            self.engine.up(config)
            changes.routes = host_routing.apply_routes(self.runner, routing)
            save()
            self._kill_switch(changes, routing)
            save()
            self.use_exit_dns(dns)
        except BaseException:
            self.restore(changes)
            save()
            raise

    def reattach(self, changes: HostChanges, config: InterfaceConfig, exit_endpoint: str) -> None:
        """After the interface vanished (a reboot of wireguard-go, a deleted link): bring it back and put the
        routes that went with it back. The kill switch stood all along."""
        self.engine.up(config)
        routing = self.routing(exit_endpoint)
        changes.routes = host_routing.apply_routes(self.runner, routing)
        self._kill_switch(changes, routing)

    def allow(self, changes: HostChanges, current: str, new: str) -> None:
        """Before joining a new exit during a failover: its route and kill-switch hole, beside the current one."""
        routing = self.routing(current, new)
        changes.routes += host_routing.add_bypass_routes(self.runner, routing, existing=changes.routes)
        self._kill_switch(changes, routing)

    def switch(self, changes: HostChanges, config: InterfaceConfig, exit_endpoint: str, dns: tuple[str, ...]) -> None:
        """Move the interface to the new exit (key, address, peer), then close the old exit's hole. A new
        address means the old one was deleted, and the kernel drops a device's routes with its last
        address: the tunnel's routes are put back."""
        self.engine.reconfig(config)
        routing = self.routing(exit_endpoint)
        changes.routes = host_routing.drop_bypass_routes(self.runner, changes.routes, routing)
        for route in host_routing.split_default_routes(self.runner, routing):
            if route not in changes.routes:
                changes.routes.append(route)
        self._kill_switch(changes, routing)
        self.use_exit_dns(dns)

    def _kill_switch(self, changes: HostChanges, routing: host_routing.TunnelRouting) -> None:
        if self.options.kill_switch:
            host_routing.apply_kill_switch(self.runner, routing)  # replaces the table atomically
            changes.kill_switch_table = routing.table

    def use_exit_dns(self, servers: tuple[str, ...]) -> None:
        """The exit's name servers for the host, if the connection takes them (else the host keeps its own)."""
        self.dns.update(servers=tuple(servers) if self.options.accept_dns else ())

    def kill_switch_on(self, changes: HostChanges, exit_endpoint: str) -> None:
        routing = self.routing(exit_endpoint)
        host_routing.apply_kill_switch(self.runner, routing)
        changes.kill_switch_table = routing.table

    def kill_switch_off(self, changes: HostChanges) -> None:
        remove_kill_switch(self.runner, changes)

    def restore(self, changes: HostChanges) -> None:
        """Undo the connection's changes, and give the resolver back whatever else it should serve."""
        restore(self.runner, changes)
        self.dns.update(servers=())


def restore(runner: CommandRunner, changes: HostChanges) -> None:
    """Undo every recorded change to routes, kill switch and interface (what `down` and `daemon cleanup` do;
    the resolver is `host.dns`'s to give back)."""
    remove_kill_switch(runner, changes)
    host_routing.remove_routes(runner, changes.routes)
    changes.routes = []
    Engine(runner).down(changes.interface)


def remove_kill_switch(runner: CommandRunner, changes: HostChanges) -> None:
    if changes.kill_switch_table:
        host_routing.remove_kill_switch(runner, changes.kill_switch_table)
        changes.kill_switch_table = None
