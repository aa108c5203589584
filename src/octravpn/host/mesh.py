"""The host's side of the mesh: its WireGuard interface, the filter on it, its routes, the uplink rules
(`host.uplink`) and the name server's address.

- The filter is loaded before the peers change, so a tightened policy holds before a peer could use it.
- The tailnet's prefixes (`100.64.0.0/10`, the tailnet's `/64`) route into the mesh interface: more specific
  than the exit's two `/1` routes, so mesh addresses go through the mesh and everything else the exit's way.
Every change is recorded in `MeshChanges` and undone by `teardown`, also by a later process. The host's
resolver configuration is not here: `host.dns` owns it.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, fields

from octravpn.acl.compile import DeviceFilter
from octravpn.acl.network import TAILNET_PREFIXES
from octravpn.acl.nftables import ruleset, table_name
from octravpn.host.uplink import ensure_uplink_rules, remove_uplink_rules
from octravpn.wireguard.config import InterfaceConfig
from octravpn.wireguard.dump import PeerState
from octravpn.wireguard.engine import Engine
from octravpn.wireguard.runner import CommandError, CommandRunner


@dataclass
class MeshChanges:
    """What the mesh did to the host (saved with the daemon's mesh state)."""

    interface: str
    filter_loaded: bool = False
    rules: bool = False
    resolver_address: str | None = None  # the name server's address, put on the loopback interface

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, body: dict) -> MeshChanges:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in body.items() if k in known})


class MeshHost:
    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner
        self.engine = Engine(runner)
        self.loaded_filter: str | None = None  # the ruleset text in force (loaded by this process)

    def apply(
        self,
        changes: MeshChanges,
        config: InterfaceConfig,
        device_filter: DeviceFilter,
        routes: tuple,
        save,
        *,
        services: tuple[int, ...] = (),
    ) -> None:
        """Filter, then interface and peers, then routes and the uplink rules; `save()` once something is to undo.
        `services`: the TCP ports of this device's own services on the mesh, open to every peer."""
        text = ruleset(device_filter, config.name, services=services)
        if text != self.loaded_filter:
            self.runner.run(["nft", "-f", "-"], stdin=text)  # one transaction: the old filter holds until then
            self.loaded_filter = text
            if not changes.filter_loaded:
                changes.filter_loaded = True
                save()
        self.engine.up(config)
        self.engine.set_routes(config.name, routes)
        if not changes.rules:
            changes.rules = True
            save()
        ensure_uplink_rules(self.runner)

    def peers(self, interface: str) -> list[PeerState]:
        return self.engine.peers(interface)

    def exists(self, interface: str) -> bool:
        return self.engine.exists(interface)

    def add_resolver_address(self, changes: MeshChanges, address: str, save) -> None:
        """The name server's address, on the loopback interface: every local program reaches it (also under an
        exit's kill switch), it is never a source address of the mesh, and peers cannot reach it (the filter
        admits nothing to it)."""
        if changes.resolver_address == address:
            return
        try:
            self.runner.run(["ip", "addr", "add", f"{address}/32", "dev", "lo"])
        except CommandError as exc:
            if "File exists" not in exc.stderr:
                raise
        changes.resolver_address = address
        save()

    def remove_resolver_address(self, changes: MeshChanges) -> None:
        if changes.resolver_address:
            try:
                self.runner.run(["ip", "addr", "del", f"{changes.resolver_address}/32", "dev", "lo"])
            except CommandError:
                pass  # already gone
            changes.resolver_address = None

    def teardown(self, changes: MeshChanges) -> None:
        """Undo everything: the name server's address, the interface (its routes go with it), the rules and
        table, the filter."""
        self.remove_resolver_address(changes)
        self.engine.down(changes.interface)
        if changes.rules:
            remove_uplink_rules(self.runner)
            changes.rules = False
        if changes.filter_loaded:
            try:
                self.runner.run(["nft", "delete", "table", "inet", table_name(changes.interface)])
            except CommandError:
                pass  # already gone
            changes.filter_loaded = False
        self.loaded_filter = None


def local_addresses(runner: CommandRunner, *, skip_interfaces: frozenset[str]) -> list:
    """The global addresses of the host's own interfaces (not its tunnels, not loopback), with their prefixes,
    IPv4 first: where peers on the same network, or with a route to it, reach this device."""
    try:
        links = json.loads(runner.run(["ip", "-j", "addr", "show"]) or "[]")
    except (CommandError, ValueError):
        return []
    found = []
    for link in links:
        if link.get("ifname") in skip_interfaces or "LOOPBACK" in link.get("flags", []):
            continue
        for info in link.get("addr_info", []):
            if info.get("scope") != "global":
                continue
            interface = ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}")
            if any(interface.ip in prefix for prefix in TAILNET_PREFIXES):
                continue  # another tailnet interface's
            found.append(interface)
    found.sort(key=lambda i: (i.version, int(i.ip)))
    return found
