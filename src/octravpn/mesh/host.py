"""The host's side of the mesh: its WireGuard interface, the filter on it, its routes, and the policy routing
that lets its WireGuard packets leave by the host's own uplink even while an exit tunnel holds the default.

- The filter is loaded before the peers change, so a tightened policy holds before a peer could use it.
- The tailnet's prefixes (`100.64.0.0/10`, the tailnet's `/64`) route into the mesh interface: more specific
  than the exit's two `/1` routes, so mesh addresses go through the mesh and everything else the exit's way.
- The mesh interface marks its own UDP packets (`fwmark`); two rules send marked packets by the main table
  with its `/1` and default routes ignored, then by a copy of the host's default routes. So a peer's
  encrypted packets leave by the uplink, never inside an exit's tunnel, and the exit's kill switch lets
  exactly them (`meta mark`) and the mesh interface's own traffic through.
Every change is recorded in `MeshChanges` and undone by `teardown`, also by a later process.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

from octravpn.acl.compile import DeviceFilter
from octravpn.acl.network import TAILNET_PREFIXES
from octravpn.acl.nftables import ruleset, table_name
from octravpn.mesh import dns
from octravpn.mesh.peerapi import PEER_PORT
from octravpn.wireguard.config import InterfaceConfig
from octravpn.wireguard.dump import PeerState
from octravpn.wireguard.engine import Engine
from octravpn.wireguard.runner import CommandError, CommandRunner

EXIT_RESOLV_MARK = "# written by octravpn while connected"  # the exit's servers: not the host's own
MESH_FWMARK = 0x6F76  # "ov": the mesh interface's own (encrypted) packets
RULE_PRIORITY = 5270  # then RULE_PRIORITY + 1; well before the main table's 32766
UPLINK_TABLE = 5270  # the host's default routes, for the mesh's packets only
FAMILIES = ("-4", "-6")


@dataclass
class MeshChanges:
    """What the mesh did to the host (saved with the daemon's mesh state)."""

    interface: str
    filter_loaded: bool = False
    rules: bool = False
    dns_file: str | None = None  # the resolver configuration the mesh took over,
    dns_backup: str | None = None  # and what it held before
    resolver_address: bool = False  # dns.RESOLVER_ADDRESS put on the loopback interface

    def to_json(self) -> dict:
        return {
            "interface": self.interface,
            "filter_loaded": self.filter_loaded,
            "rules": self.rules,
            "dns_file": self.dns_file,
            "dns_backup": self.dns_backup,
            "resolver_address": self.resolver_address,
        }

    @classmethod
    def from_json(cls, body: dict) -> MeshChanges:
        return cls(
            interface=body["interface"],
            filter_loaded=body["filter_loaded"],
            rules=body["rules"],
            dns_file=body.get("dns_file"),
            dns_backup=body.get("dns_backup"),
            resolver_address=body.get("resolver_address", False),
        )


class MeshHost:
    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner
        self.engine = Engine(runner)
        self.loaded_filter: str | None = None  # the ruleset text in force (loaded by this process)

    def apply(
        self, changes: MeshChanges, config: InterfaceConfig, device_filter: DeviceFilter, routes: tuple, save
    ) -> None:
        """Filter, then interface and peers, then routes and the uplink rules; `save()` once something is to undo."""
        text = ruleset(device_filter, config.name, services=(PEER_PORT,))
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
        self._uplink_rules()

    def peers(self, interface: str) -> list[PeerState]:
        return self.engine.peers(interface)

    def exists(self, interface: str) -> bool:
        return self.engine.exists(interface)

    # ------------------------------------------------------------ uplink
    def _uplink_rules(self) -> None:
        """The two rules per family (added if missing) and the uplink table kept equal to the main table's
        default routes, which may change (DHCP, roaming) while the mesh runs."""
        for family in FAMILIES:
            present = {rule.get("priority") for rule in self._json("ip", "-j", family, "rule", "show")}
            mark = f"{MESH_FWMARK:#x}"
            wanted = {
                RULE_PRIORITY: ["lookup", "main", "suppress_prefixlength", "1"],
                RULE_PRIORITY + 1: ["lookup", str(UPLINK_TABLE)],
            }
            for priority, action in wanted.items():
                if priority not in present:
                    self.runner.run(["ip", family, "rule", "add", "fwmark", mark, *action, "pref", str(priority)])
            defaults = [_route_args(r) for r in self._json("ip", "-j", family, "route", "show", "default")]
            defaults = [r for r in defaults if r is not None]
            current = [
                _route_args(r)
                for r in self._json("ip", "-j", family, "route", "show", "table", str(UPLINK_TABLE), "default")
            ]
            if sorted(map(tuple, defaults)) != sorted(map(tuple, [c for c in current if c])):
                _flush_uplink_table(self.runner, family)
                for route in defaults:
                    self.runner.run(["ip", family, "route", "replace", *route, "table", str(UPLINK_TABLE)])

    def _json(self, *argv: str) -> list[dict]:
        try:
            return json.loads(self.runner.run(list(argv)) or "[]")
        except (CommandError, ValueError):
            return []  # a family the host does not have (no IPv6): nothing there

    # ---------------------------------------------------------- teardown
    def add_resolver_address(self, changes: MeshChanges, save) -> None:
        """The mesh's name server's address, on the loopback interface: every local program reaches it (also
        under an exit's kill switch), it is never a source address of the mesh, and peers cannot reach it (the
        filter admits nothing to it)."""
        if changes.resolver_address:
            return
        try:
            self.runner.run(["ip", "addr", "add", f"{dns.RESOLVER_ADDRESS}/32", "dev", "lo"])
        except CommandError as exc:
            if "File exists" not in exc.stderr:
                raise
        changes.resolver_address = True
        save()

    def take_resolver(self, changes: MeshChanges, path: Path, servers: list[str], save) -> None:
        """Point the host's resolver at the mesh's (keeping what was there, to give back), again if something
        else (a DHCP client, an exit session that started before the mesh) rewrote it since."""
        current = path.read_text() if path.exists() else ""
        if dns.is_ours(current):
            return
        if not current.startswith(EXIT_RESOLV_MARK) or changes.dns_backup is None:
            changes.dns_file, changes.dns_backup = str(path), current
            save()
        with path.open("w") as handle:  # in place: /etc/resolv.conf is often a bind mount or a symlink's target
            handle.write(dns.resolv_conf(servers))

    def teardown(self, changes: MeshChanges) -> None:
        """Undo everything: the resolver, the interface (its routes go with it), the rules and table, the filter."""
        give_back_resolver(changes)
        remove_resolver_address(self.runner, changes)
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


def give_back_resolver(changes: MeshChanges) -> None:
    if changes.dns_file and changes.dns_backup is not None:
        path = Path(changes.dns_file)
        if path.exists() and dns.is_ours(path.read_text()):
            with path.open("w") as handle:
                handle.write(changes.dns_backup)
    changes.dns_file = changes.dns_backup = None


def remove_resolver_address(runner: CommandRunner, changes: MeshChanges) -> None:
    if changes.resolver_address:
        try:
            runner.run(["ip", "addr", "del", f"{dns.RESOLVER_ADDRESS}/32", "dev", "lo"])
        except CommandError:
            pass  # already gone
        changes.resolver_address = False


def remove_uplink_rules(runner: CommandRunner) -> None:
    for family in FAMILIES:
        for priority in (RULE_PRIORITY, RULE_PRIORITY + 1):
            try:
                runner.run(["ip", family, "rule", "del", "pref", str(priority)])
            except CommandError:
                pass
        _flush_uplink_table(runner, family)


def _flush_uplink_table(runner: CommandRunner, family: str) -> None:
    try:
        runner.run(["ip", family, "route", "flush", "table", str(UPLINK_TABLE)])
    except CommandError:
        pass  # the kernel has no such table until a route is put in it


def _route_args(route: dict) -> list[str] | None:
    """`ip route` arguments for a default route as `ip -j` shows it."""
    if route.get("dst") != "default" or not route.get("dev"):
        return None
    argv = ["default"]
    if route.get("gateway"):
        argv += ["via", route["gateway"]]
    return argv + ["dev", route["dev"]]


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
