"""An ICMP echo request sent through the tunnel: the liveness probe of an idle tunnel (see `health`).

Only sent: the answer is seen as bytes received on the WireGuard interface,
which is all the probe needs to know. Needs root (a raw socket), as the
daemon has.
"""

from __future__ import annotations

import os
import socket
import struct

ECHO_REQUEST = 8


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(identifier: int, sequence: int, payload: bytes = b"octravpn-probe") -> bytes:
    header = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, identifier & 0xFFFF, sequence & 0xFFFF)
    return (
        struct.pack("!BBHHH", ECHO_REQUEST, 0, checksum(header + payload), identifier & 0xFFFF, sequence & 0xFFFF)
        + payload
    )


def send_echo(address: str, interface: str, sequence: int) -> None:
    """One echo request to `address`, leaving by `interface` only. Raises OSError if it cannot be sent."""
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
        sock.sendto(echo_request(os.getpid(), sequence), (address, 0))
