"""A host for unit tests of code that drives `ip`, `wg` and `nft`: a command runner that keeps what they would
(interfaces with their key, addresses, peers and counters; routes; nftables tables), with Linux's rules where
they matter, so a test reads the host's state after the code acted on it, pulls an interface away under it,
or moves a peer's counters."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field

from octravpn.wireguard.runner import CommandError

READS = (("wg", "show"), ("ip", "-j"))


@dataclass
class Interface:
    private_key: str | None = None
    peers: dict[str, dict] = field(
        default_factory=dict
    )  # public key -> endpoint, allowed, keepalive, rx, tx, handshake
    addresses: list[str] = field(default_factory=list)
    up: bool = False


class FakeHost:
    def __init__(self) -> None:
        self.interfaces: dict[str, Interface] = {}
        self.routes: set[str] = set()
        self.tables: dict[str, str] = {}
        self.calls: list[list[str]] = []
        self.failing: dict[tuple[str, ...], CommandError] = {}  # argv prefix -> the error it fails with

    def run(self, argv, *, stdin=None) -> str:
        argv = list(argv)
        self.calls.append(argv)
        for prefix, error in self.failing.items():
            if tuple(argv[: len(prefix)]) == prefix:
                raise error
        match argv:
            case ["ip", "-j", "link", "show", "dev", name] | ["ip", "-j", "addr", "show", "dev", name]:
                if name not in self.interfaces:
                    raise CommandError(argv, 1, f'Device "{name}" does not exist.')
                i = self.interfaces[name]
                return json.dumps(
                    [
                        {
                            "ifname": name,
                            "flags": ["UP"] if i.up else [],
                            "mtu": 1420,
                            "addr_info": [
                                {"local": a.split("/")[0], "prefixlen": int(a.split("/")[1]), "scope": "global"}
                                for a in i.addresses
                            ],
                        }
                    ]
                )
            case ["ip", "link", "add", "dev", _, "type", "wireguard"]:
                raise CommandError(argv, 2, "Unknown device type.")
            case ["wireguard-go", name]:
                self.interfaces[name] = Interface()
            case ["ip", "link", "del", "dev", name]:
                del self.interfaces[name]
                self.routes = {r for r in self.routes if not r.endswith(f"dev {name}")}
            case ["ip", "link", "set", "dev", name, "up"]:
                self.interfaces[name].up = True
            case ["ip", "addr", "add", address, "dev", name]:
                self.interfaces[name].addresses.append(address)
            case ["ip", "addr", "del", address, "dev", name]:
                self._delete_address(name, address)
            case ["wg", "show", name, "dump"]:
                return self._dump(argv, name)
            case ["wg", "syncconf", name, "/dev/stdin"]:
                self._syncconf(name, stdin)
            case ["ip", "-j", "route", "get", address]:
                return json.dumps([{"dst": address, "gateway": "192.0.2.1", "dev": "eth0"}])
            case ["ip", "-j", "route", "show", "default"]:
                return json.dumps([{"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"}])
            case ["ip", "route", "replace", *route]:
                self.routes.add(" ".join(route))
            case ["ip", "route", "del", *route]:
                if " ".join(route) not in self.routes:
                    raise CommandError(argv, 2, "No such process")
                self.routes.discard(" ".join(route))
            case ["nft", "-f", "-"]:
                name = re.search(r"^table inet (\S+)", stdin).group(1)
                self.tables[name] = stdin
            case ["nft", "delete", "table", "inet", name]:
                if self.tables.pop(name, None) is None:
                    raise CommandError(argv, 1, "No such file or directory")
            case _:
                raise AssertionError(f"unexpected command {argv}")
        return ""

    def _delete_address(self, name: str, address: str) -> None:
        """As Linux does: deleting a subnet's primary address deletes the secondaries in it, and a device's
        routes go with its last IPv4 address."""
        interface = self.interfaces[name]
        subnet = ipaddress.ip_interface(address).network
        if interface.addresses.index(address) == min(
            i for i, a in enumerate(interface.addresses) if ipaddress.ip_interface(a).network == subnet
        ):
            interface.addresses = [a for a in interface.addresses if ipaddress.ip_interface(a).network != subnet]
        else:
            interface.addresses.remove(address)
        if not interface.addresses:
            self.routes = {r for r in self.routes if not r.endswith(f"dev {name}")}

    def _dump(self, argv, name) -> str:
        if name not in self.interfaces:
            raise CommandError(argv, 1, "Unable to access interface: No such device")
        i = self.interfaces[name]
        lines = [f"{i.private_key or '(none)'}\t(none)\t51820\toff"]
        for key, p in i.peers.items():
            lines.append(
                "\t".join(
                    [
                        key,
                        "(none)",
                        p["endpoint"],
                        p["allowed"],
                        str(p["handshake"]),
                        str(p["rx"]),
                        str(p["tx"]),
                        str(p["keepalive"] or "off"),
                    ]
                )
            )
        return "\n".join(lines) + "\n"

    def _syncconf(self, name: str, text: str) -> None:
        interface = self.interfaces[name]
        interface.private_key = re.search(r"PrivateKey = (\S+)", text).group(1)
        peers = {}
        for block in text.split("[Peer]")[1:]:
            key = re.search(r"PublicKey = (\S+)", block).group(1)
            old = interface.peers.get(key, {"rx": 0, "tx": 0, "handshake": 0})
            keepalive = re.search(r"PersistentKeepalive = (\d+)", block)
            endpoint = re.search(r"Endpoint = (\S+)", block)  # none: the peer roams (learned from its packets)
            allowed = re.search(r"AllowedIPs = (.+)", block)  # none: the peer carries nothing
            peers[key] = {
                **old,
                "endpoint": endpoint.group(1) if endpoint else old.get("endpoint", "(none)"),
                "allowed": allowed.group(1).replace(" ", "") if allowed else "(none)",
                "keepalive": keepalive.group(1) if keepalive else None,
            }
        interface.peers = peers

    def traffic(self, name: str, *, rx: int, tx: int = 0) -> None:
        """Bytes through the interface's one peer (the exit)."""
        (peer,) = self.interfaces[name].peers.values()
        peer["rx"] += rx
        peer["tx"] += tx

    @property
    def changes(self) -> list[list[str]]:
        """The commands that changed something (reads left out)."""
        return [c for c in self.calls if not any(tuple(c[: len(r)]) == r for r in READS)]

    def interface(self, name: str, private_key: str, *, address: str | None = None) -> Interface:
        """An interface that is already up (as an agent's start leaves it)."""
        self.interfaces[name] = Interface(private_key=private_key, addresses=[address] if address else [], up=True)
        return self.interfaces[name]

    def counters(self, name: str, key: str, *, rx: int, tx: int = 0) -> None:
        """Set one peer's cumulative counters (as WireGuard reports them)."""
        peer = self.interfaces[name].peers[key]
        peer["rx"], peer["tx"] = rx, tx
