"""The WireGuard engine: brings interfaces to a desired configuration.

`reconfig(config) -> changed` reads the live state and changes only what
differs (keys, port, peers through `wg syncconf`, which keeps established
sessions; addresses, MTU, routes and link state through `ip`), so calling it
again with the same configuration runs no changing command. Kernel WireGuard
is used where the module exists, otherwise `wireguard-go`.
"""

from __future__ import annotations

import ipaddress
import json

from octravpn.wireguard.config import InterfaceConfig, IPInterface, IPNetwork, PeerConfig
from octravpn.wireguard.dump import PeerState, parse_dump
from octravpn.wireguard.keys import Keypair, encode_key
from octravpn.wireguard.runner import CommandError, CommandRunner


class Engine:
    def __init__(self, runner: CommandRunner, *, userspace: bool | None = None) -> None:
        """`userspace`: True forces wireguard-go, False forbids it, None tries the kernel first."""
        self.runner = runner
        self.userspace = userspace

    # ------------------------------------------------------- lifecycle
    def exists(self, name: str) -> bool:
        try:
            self.runner.run(["ip", "-j", "link", "show", "dev", name])
        except CommandError:
            return False
        return True

    def up(self, config: InterfaceConfig) -> bool:
        """Create the interface if needed and configure it; True if anything changed."""
        created = False
        if not self.exists(config.name):
            self._create(config.name)
            created = True
        return self.reconfig(config) or created

    def down(self, name: str) -> bool:
        """Delete the interface (wireguard-go exits with it); True if it existed."""
        if not self.exists(name):
            return False
        self.runner.run(["ip", "link", "del", "dev", name])
        return True

    def _create(self, name: str) -> None:
        if self.userspace is not True:
            try:
                self.runner.run(["ip", "link", "add", "dev", name, "type", "wireguard"])
                return
            except CommandError:
                if self.userspace is False:
                    raise
        self.runner.run(["wireguard-go", name])

    # ---------------------------------------------------- configuration
    def reconfig(self, config: InterfaceConfig) -> bool:
        changed = self._sync_wireguard(config)
        link = self._link(config.name)
        changed |= self._sync_addresses(config, link)
        if config.mtu and link.get("mtu") != config.mtu:
            self.runner.run(["ip", "link", "set", "dev", config.name, "mtu", str(config.mtu)])
            changed = True
        if "UP" not in link.get("flags", []):
            self.runner.run(["ip", "link", "set", "dev", config.name, "up"])
            changed = True
        return changed

    def sync_peers(self, config: InterfaceConfig) -> bool:
        """Only the WireGuard side (key, port, peers) of an interface that is up: what changes as peers come and go,
        without reading addresses and link state."""
        return self._sync_wireguard(config)

    def set_routes(self, name: str, networks: tuple[IPNetwork, ...]) -> bool:
        """Route `networks` through the interface (in the main table); True if any was added."""
        current = self._routes(name)
        missing = [n for n in networks if n not in current]
        for network in missing:
            self.runner.run(["ip", "route", "replace", str(network), "dev", name])
        return bool(missing)

    def set_peer(self, name: str, peer: PeerConfig) -> None:
        """Add or update one peer without touching the others."""
        argv = [
            "wg",
            "set",
            name,
            "peer",
            encode_key(peer.public_key),
            "allowed-ips",
            ",".join(str(n) for n in peer.allowed_ips),
        ]
        if peer.endpoint:
            argv += ["endpoint", peer.endpoint]
        if peer.persistent_keepalive:
            argv += ["persistent-keepalive", str(peer.persistent_keepalive)]
        self.runner.run(argv)

    def remove_peer(self, name: str, public_key: bytes) -> None:
        self.runner.run(["wg", "set", name, "peer", encode_key(public_key), "remove"])

    def public_key(self, name: str) -> bytes:
        """The interface's own WireGuard public key."""
        interface, _ = parse_dump(self.runner.run(["wg", "show", name, "dump"]))
        if interface.private_key is None:
            raise CommandError(["wg", "show", name, "dump"], 0, f"{name} has no private key")
        return Keypair.from_private(interface.private_key).public

    def peers(self, name: str) -> list[PeerState]:
        """Live per-peer state, with cumulative rx/tx byte counters."""
        return parse_dump(self.runner.run(["wg", "show", name, "dump"]))[1]

    # -------------------------------------------------------- internals
    def _sync_wireguard(self, config: InterfaceConfig) -> bool:
        interface, peers = parse_dump(self.runner.run(["wg", "show", config.name, "dump"]))
        if (
            interface.private_key == config.private_key
            and (config.listen_port in (None, interface.listen_port))
            and (config.fwmark or None) == interface.fwmark
            and _peers_match(config.peers, peers)
        ):
            return False
        self.runner.run(["wg", "syncconf", config.name, "/dev/stdin"], stdin=config.setconf())
        return True

    def _link(self, name: str) -> dict:
        (link,) = json.loads(self.runner.run(["ip", "-j", "addr", "show", "dev", name]))
        return link

    def _sync_addresses(self, config: InterfaceConfig, link: dict) -> bool:
        current: set[IPInterface] = {
            ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}")
            for a in link.get("addr_info", [])
            if a.get("scope") != "link"
        }
        wanted = set(config.addresses)
        # Old ones first: deleting a subnet's primary address takes the secondaries added in it with it.
        for address in sorted(current - wanted, key=str):
            self.runner.run(["ip", "addr", "del", str(address), "dev", config.name])
        for added in sorted(wanted - current, key=str):
            self.runner.run(["ip", "addr", "add", str(added), "dev", config.name])
        return wanted != current

    def _routes(self, name: str) -> set[IPNetwork]:
        routes = json.loads(self.runner.run(["ip", "-j", "route", "show", "dev", name]) or "[]")
        routes += json.loads(self.runner.run(["ip", "-j", "-6", "route", "show", "dev", name]) or "[]")
        found = set()
        for route in routes:
            destination = route.get("dst")
            if destination == "default":
                destination = "0.0.0.0/0" if ":" not in route.get("gateway", "") else "::/0"
            try:
                found.add(ipaddress.ip_network(destination))
            except (TypeError, ValueError):
                continue
        return found


def _peers_match(desired: tuple[PeerConfig, ...], live: list[PeerState]) -> bool:
    live_by_key = {p.public_key: p for p in live}
    if set(live_by_key) != {p.public_key for p in desired}:
        return False
    for peer in desired:
        state = live_by_key[peer.public_key]
        if set(state.allowed_ips) != set(peer.allowed_ips):
            return False
        # A peer without a configured endpoint roams, and a hostname shows up
        # resolved: only an IP-literal endpoint can be compared with the live one.
        if _is_ip_endpoint(peer.endpoint) and state.endpoint != peer.endpoint:
            return False
        if (peer.persistent_keepalive or None) != state.persistent_keepalive:
            return False
    return True


def _is_ip_endpoint(endpoint: str | None) -> bool:
    if not endpoint:
        return False
    host = endpoint.rsplit(":", 1)[0].strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
