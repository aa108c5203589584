"""The host's side of a connection: the WireGuard interface, routes, kill switch and DNS, applied and undone.

Every change is recorded in `HostChanges` as it is made (and saved by the
daemon), so it can be undone from the state file alone, also by a later
daemon. A failover changes the exit under a standing kill switch: the new
exit's bypass is allowed before anything is sent to it, and the old one's is
dropped after the interface has moved, so nothing ever leaves outside the
tunnel except to an exit or the control plane.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from octravpn.client import network as host_network
from octravpn.client.state import HostChanges
from octravpn.wireguard.config import InterfaceConfig, PeerConfig
from octravpn.wireguard.engine import Engine
from octravpn.wireguard.runner import CommandRunner

KEEPALIVE_SECONDS = 25


@dataclass(frozen=True, kw_only=True)
class TunnelOptions:
    interface: str = "ovpn0"
    kill_switch: bool = True
    accept_dns: bool = True
    dns_file: Path = Path("/etc/resolv.conf")
    mesh_interface: str | None = None  # let through the kill switch
    dns_by_mesh: bool = False  # the mesh answers the host's DNS: it forwards to the exit's servers itself


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


def exit_bypass(exit_endpoint: str) -> host_network.Bypass:
    ip, port = exit_endpoint.rsplit(":", 1)
    return host_network.Bypass(address=ip, udp_ports=(int(port),), tcp_ports=(int(port),))


def control_bypass(url: str, resolve) -> host_network.Bypass | None:
    """The chain RPC or an indexer, reached outside the tunnel: a failover must reach both while the old exit
    is gone, and an exit refuses private addresses anyway. `resolve` maps a host name to an IPv4 address."""
    parsed = urlparse(url)
    if not parsed.hostname:
        return None
    port = parsed.port or (443 if parsed.scheme in ("https", "wss") else 80)
    return host_network.Bypass(address=resolve(parsed.hostname), tcp_ports=(port,))


class HostNetwork:
    def __init__(self, runner: CommandRunner, options: TunnelOptions, control: tuple[host_network.Bypass, ...]) -> None:
        self.runner = runner
        self.engine = Engine(runner)
        self.options = options
        self.control = control

    def routing(self, *exit_endpoints: str) -> host_network.TunnelRouting:
        """The exits' and the control plane's bypasses, one per address with all its ports."""
        merged: dict[str, tuple[set[int], set[int]]] = {}
        for bypass in (*(exit_bypass(e) for e in exit_endpoints), *self.control):
            tcp, udp = merged.setdefault(bypass.address, (set(), set()))
            tcp.update(bypass.tcp_ports)
            udp.update(bypass.udp_ports)
        bypasses = tuple(
            host_network.Bypass(address=address, tcp_ports=tuple(sorted(tcp)), udp_ports=tuple(sorted(udp)))
            for address, (tcp, udp) in merged.items()
        )
        return host_network.TunnelRouting(
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
            changes.routes = host_network.apply_routes(self.runner, routing)
            save()
            self._kill_switch(changes, routing)
            save()
            self.set_dns(changes, dns)
            save()
        except BaseException:
            self.restore(changes)
            save()
            raise

    def reattach(self, changes: HostChanges, config: InterfaceConfig, exit_endpoint: str) -> None:
        """After the interface vanished (a reboot of wireguard-go, a deleted link): bring it back and put the
        routes that went with it back. The kill switch stood all along."""
        self.engine.up(config)
        routing = self.routing(exit_endpoint)
        changes.routes = host_network.apply_routes(self.runner, routing)
        self._kill_switch(changes, routing)

    def allow(self, changes: HostChanges, current: str, new: str) -> None:
        """Before joining a new exit during a failover: its route and kill-switch hole, beside the current one."""
        routing = self.routing(current, new)
        changes.routes += host_network.add_bypass_routes(self.runner, routing, existing=changes.routes)
        self._kill_switch(changes, routing)

    def switch(self, changes: HostChanges, config: InterfaceConfig, exit_endpoint: str, dns: tuple[str, ...]) -> None:
        """Move the interface to the new exit (key, address, peer), then close the old exit's hole. A new
        address means the old one was deleted, and the kernel drops a device's routes with its last
        address: the tunnel's routes are put back."""
        self.engine.reconfig(config)
        routing = self.routing(exit_endpoint)
        changes.routes = host_network.drop_bypass_routes(self.runner, changes.routes, routing)
        for route in host_network.split_default_routes(self.runner, routing):
            if route not in changes.routes:
                changes.routes.append(route)
        self._kill_switch(changes, routing)
        self.set_dns(changes, dns)

    def _kill_switch(self, changes: HostChanges, routing: host_network.TunnelRouting) -> None:
        if self.options.kill_switch:
            host_network.apply_kill_switch(self.runner, routing)  # replaces the table atomically
            changes.kill_switch_table = routing.table

    def set_dns(self, changes: HostChanges, dns: tuple[str, ...]) -> None:
        if not (self.options.accept_dns and dns) or self.options.dns_by_mesh:
            return
        backup = host_network.set_dns(self.options.dns_file, dns)
        if changes.dns_file is None:  # keep the original, not an earlier exit's servers
            changes.dns_file, changes.dns_backup = str(self.options.dns_file), backup

    def kill_switch_on(self, changes: HostChanges, exit_endpoint: str) -> None:
        routing = self.routing(exit_endpoint)
        host_network.apply_kill_switch(self.runner, routing)
        changes.kill_switch_table = routing.table

    def kill_switch_off(self, changes: HostChanges) -> None:
        remove_kill_switch(self.runner, changes)

    def dns_off(self, changes: HostChanges) -> None:
        """Give the resolver back its own servers."""
        restore_dns(changes)

    def restore(self, changes: HostChanges) -> None:
        restore(self.runner, changes)


def restore(runner: CommandRunner, changes: HostChanges) -> None:
    """Undo every recorded change (what `down` and `daemon cleanup` do)."""
    remove_kill_switch(runner, changes)
    host_network.remove_routes(runner, changes.routes)
    changes.routes = []
    restore_dns(changes)
    Engine(runner).down(changes.interface)


def remove_kill_switch(runner: CommandRunner, changes: HostChanges) -> None:
    if changes.kill_switch_table:
        host_network.remove_kill_switch(runner, changes.kill_switch_table)
        changes.kill_switch_table = None


def restore_dns(changes: HostChanges) -> None:
    if changes.dns_file and changes.dns_backup is not None:
        host_network.restore_dns(Path(changes.dns_file), changes.dns_backup)
        changes.dns_file = changes.dns_backup = None
