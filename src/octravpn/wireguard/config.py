"""Typed WireGuard configuration: validated on construction, rendered for
`wg setconf`/`wg syncconf` and as a wg-quick file for standard WireGuard apps."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from octravpn.wireguard.errors import WireGuardError
from octravpn.wireguard.keys import Keypair, encode_key

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
# Linux interface names: at most 15 bytes; this character set is safe for `ip` and `wg`.
_INTERFACE_NAME = re.compile(r"^[A-Za-z0-9_.=+-]{1,15}$")
_ENDPOINT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")


class WireGuardConfigError(WireGuardError, ValueError):
    """A configuration value WireGuard would refuse."""


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`) as (host, port), or `WireGuardConfigError`."""
    match = _ENDPOINT.match(endpoint)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise WireGuardConfigError(f"endpoint {endpoint!r} must be host:port")
    return match.group(1).strip("[]"), int(match.group(2))


def _key(value: bytes, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != 32:
        raise WireGuardConfigError(f"{what} must be 32 bytes")
    return value


@dataclass(frozen=True, kw_only=True)
class PeerConfig:
    public_key: bytes
    allowed_ips: tuple[IPNetwork | str, ...] = ()  # text is parsed: a built config holds networks
    endpoint: str | None = None
    persistent_keepalive: int | None = None

    def __post_init__(self) -> None:
        _key(self.public_key, "peer public key")
        try:
            networks = tuple(ipaddress.ip_network(n) for n in self.allowed_ips)
        except ValueError as exc:
            raise WireGuardConfigError(f"allowed IP {exc}") from exc
        object.__setattr__(self, "allowed_ips", networks)
        if self.endpoint is not None:
            match = _ENDPOINT.match(self.endpoint)
            if not match or not 0 < int(match.group(2)) < 65536:
                raise WireGuardConfigError(f"endpoint {self.endpoint!r} must be host:port")
        if self.persistent_keepalive is not None and not 0 < self.persistent_keepalive < 65536:
            raise WireGuardConfigError("persistent keepalive must be 1-65535 seconds")

    def setconf_lines(self) -> list[str]:
        lines = ["[Peer]", f"PublicKey = {encode_key(self.public_key)}"]
        if self.allowed_ips:
            lines.append("AllowedIPs = " + ", ".join(str(n) for n in self.allowed_ips))
        if self.endpoint:
            lines.append(f"Endpoint = {self.endpoint}")
        if self.persistent_keepalive:
            lines.append(f"PersistentKeepalive = {self.persistent_keepalive}")
        return lines


@dataclass(frozen=True, kw_only=True)
class InterfaceConfig:
    name: str
    private_key: bytes
    listen_port: int | None = None
    addresses: tuple[IPInterface | str, ...] = ()  # text is parsed: a built config holds interfaces
    mtu: int | None = None
    fwmark: int | None = None  # marks the interface's own UDP packets, for routing them around other tunnels
    peers: tuple[PeerConfig, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not _INTERFACE_NAME.match(self.name):
            raise WireGuardConfigError(f"interface name {self.name!r}: 1-15 of letters, digits and _.=+-")
        _key(self.private_key, "private key")
        if self.listen_port is not None and not 0 < self.listen_port < 65536:
            raise WireGuardConfigError(f"listen port {self.listen_port} is not 1-65535")
        if self.mtu is not None and not 1280 <= self.mtu <= 65535:
            raise WireGuardConfigError(f"MTU {self.mtu} is not 1280-65535")
        if self.fwmark is not None and not 0 < self.fwmark < 2**32:
            raise WireGuardConfigError(f"fwmark {self.fwmark} is not 1-4294967295")
        try:
            addresses = tuple(ipaddress.ip_interface(a) for a in self.addresses)
        except ValueError as exc:
            raise WireGuardConfigError(f"address {exc}") from exc
        object.__setattr__(self, "addresses", addresses)
        keys = [p.public_key for p in self.peers]
        if len(set(keys)) != len(keys):
            raise WireGuardConfigError("two peers share a public key")

    @property
    def public_key(self) -> bytes:
        return Keypair.from_private(self.private_key).public

    def setconf(self) -> str:
        """The `wg setconf` / `wg syncconf` text: keys, port and peers (no addresses)."""
        lines = ["[Interface]", f"PrivateKey = {encode_key(self.private_key)}"]
        if self.listen_port:
            lines.append(f"ListenPort = {self.listen_port}")
        if self.fwmark:
            lines.append(f"FwMark = {self.fwmark:#x}")
        for peer in self.peers:
            lines += ["", *peer.setconf_lines()]
        return "\n".join(lines) + "\n"

    def wg_quick(self, *, dns: tuple[str, ...] = (), dns_line: bool = True) -> str:
        """A wg-quick file, usable by any standard WireGuard app. With `dns_line` false the DNS servers
        are written as a comment: Linux's wg-quick refuses a `DNS =` line where `resolvconf` is missing."""
        lines = ["[Interface]", f"PrivateKey = {encode_key(self.private_key)}"]
        if self.addresses:
            lines.append("Address = " + ", ".join(str(a) for a in self.addresses))
        if self.listen_port:
            lines.append(f"ListenPort = {self.listen_port}")
        if dns and dns_line:
            lines.append("DNS = " + ", ".join(dns))
        elif dns:
            lines += [
                "# The exit's DNS servers. Uncomment for WireGuard apps, and for wg-quick where resolvconf is",
                "# installed (without it wg-quick fails on this line):",
                "# DNS = " + ", ".join(dns),
            ]
        if self.mtu:
            lines.append(f"MTU = {self.mtu}")
        for peer in self.peers:
            lines += ["", *peer.setconf_lines()]
        return "\n".join(lines) + "\n"
