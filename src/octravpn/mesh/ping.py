"""`octravpn ping`: ICMP echo to a peer's tailnet address through the mesh interface, timed. Needs root (a raw
socket), as the daemon has; the daemon does it for the command line."""

from __future__ import annotations

import os
import select
import socket
import struct
import time

from octravpn.client.probe import echo_request

ECHO_REPLY = 0


def echo(address: str, interface: str, *, count: int, timeout: float, sequence_base: int = 0) -> list[float | None]:
    """Round trips in milliseconds, one per echo request (None: no answer within `timeout`)."""
    identifier = os.getpid() & 0xFFFF
    results: list[float | None] = []
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
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
