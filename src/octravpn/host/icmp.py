"""ICMP echo on one interface: the exit tunnel's liveness probe (`send_echo`, only sent: the answer shows as
bytes received on the WireGuard interface, which is all the probe needs) and `octravpn ping` through the mesh
(`echo`, timed). Both need root (a raw socket), as the daemon has."""

from __future__ import annotations

import os
import select
import socket
import struct
import time

ECHO_REQUEST = 8
ECHO_REPLY = 0


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


def _bound_socket(interface: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
    except BaseException:
        sock.close()
        raise
    return sock


def send_echo(address: str, interface: str, sequence: int) -> None:
    """One echo request to `address`, leaving by `interface` only. Raises OSError if it cannot be sent."""
    with _bound_socket(interface) as sock:
        sock.sendto(echo_request(os.getpid(), sequence), (address, 0))


def echo(address: str, interface: str, *, count: int, timeout: float, sequence_base: int = 0) -> list[float | None]:
    """Round trips in milliseconds, one per echo request (None: no answer within `timeout`)."""
    identifier = os.getpid() & 0xFFFF
    results: list[float | None] = []
    with _bound_socket(interface) as sock:
        for index in range(count):
            sequence = (sequence_base + index) & 0xFFFF
            sent = time.perf_counter()
            sock.sendto(echo_request(identifier, sequence, b"octravpn-ping"), (address, 0))
            results.append(_await_reply(sock, address, identifier, sequence, sent, timeout))
    return results


def _await_reply(sock, address: str, identifier: int, sequence: int, sent: float, timeout: float) -> float | None:
    deadline = sent + timeout
    while (left := deadline - time.perf_counter()) > 0:
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            return None
        packet, (source, _) = sock.recvfrom(2048)
        header_length = (packet[0] & 0x0F) * 4  # a raw ICMP socket hands over the IP header too
        if source != address or len(packet) < header_length + 8:
            continue
        kind, _, _, got_id, got_seq = struct.unpack("!BBHHH", packet[header_length : header_length + 8])
        if kind == ECHO_REPLY and got_id == identifier and got_seq == sequence:
            return (time.perf_counter() - sent) * 1000
    return None
