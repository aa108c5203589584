"""Parsing `wg show <interface> dump`: the interface line, then one line per peer.

Pure functions: text in, typed records out.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from octravpn.wireguard.config import IPNetwork
from octravpn.wireguard.errors import WireGuardError
from octravpn.wireguard.keys import decode_key


class DumpFormatError(WireGuardError, ValueError):
    """`wg show dump` printed something this parser does not understand."""


@dataclass(frozen=True)
class InterfaceState:
    private_key: bytes | None  # None on a new interface that has no key yet
    public_key: bytes | None
    listen_port: int
    fwmark: int | None = None


@dataclass(frozen=True)
class PeerState:
    public_key: bytes
    endpoint: str | None
    allowed_ips: tuple[IPNetwork, ...]
    latest_handshake: int  # unix seconds; 0 = never
    rx_bytes: int  # bytes received from the peer
    tx_bytes: int  # bytes sent to the peer
    persistent_keepalive: int | None


def parse_dump(text: str) -> tuple[InterfaceState, list[PeerState]]:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise DumpFormatError("empty `wg show dump` output")
    head = lines[0].split("\t")
    if len(head) != 4:
        raise DumpFormatError(f"interface line has {len(head)} fields, expected 4")
    fwmark = None if head[3] == "off" else int(head[3], 0)
    interface = InterfaceState(_optional_key(head[0]), _optional_key(head[1]), int(head[2]), fwmark)
    peers = []
    for line in lines[1:]:
        fields = line.split("\t")
        if len(fields) != 8:
            raise DumpFormatError(f"peer line has {len(fields)} fields, expected 8")
        public, _preshared, endpoint, allowed, handshake, rx, tx, keepalive = fields
        peers.append(
            PeerState(
                public_key=decode_key(public),
                endpoint=None if endpoint == "(none)" else endpoint,
                allowed_ips=tuple(ipaddress.ip_network(n) for n in allowed.split(",")) if allowed != "(none)" else (),
                latest_handshake=int(handshake),
                rx_bytes=int(rx),
                tx_bytes=int(tx),
                persistent_keepalive=None if keepalive == "off" else int(keepalive),
            )
        )
    return interface, peers


def _optional_key(text: str) -> bytes | None:
    return None if text == "(none)" else decode_key(text)
