"""Telling a peer where it is seen from: the mesh's one service between devices (UDP `PEER_PORT` on each
device's tailnet IPv4 address, inside the mesh).

A device behind a NAT cannot know its public address:port, but every peer it has a WireGuard session with
can: WireGuard shows each peer's endpoint as the address its packets came from. So a device asks its peers
"where do you see me?" and announces what they answer, first among its endpoints; two devices behind
different NATs then each send to the other's public endpoint, and both NATs let the other's packets in.

The question and the answer travel inside WireGuard, so both ends are authenticated by their keys, and the
source address names the asking peer (WireGuard admits from a peer only its own addresses). The answer is
about the asker only. Requests and answers are one datagram each, bounded; anything else is dropped.
"""

from __future__ import annotations

import json
import select
import socket
import threading
from collections.abc import Callable

from octravpn.protocol.wirejson import loads_object

PEER_PORT = 41642
QUESTION = b"octravpn/observed?"
MAX_ANSWER = 512


def answer(source_address: str, observed: Callable[[str], str | None]) -> bytes:
    """The reply to a question from `source_address` (a peer's tailnet address): its endpoint as seen here."""
    return json.dumps({"endpoint": observed(source_address)}).encode()


def parse_answer(datagram: bytes) -> str | None:
    """The endpoint in a peer's answer, or None for anything that is not one."""
    if len(datagram) > MAX_ANSWER:
        return None
    try:
        body = loads_object(datagram, max_depth=1)
    except ValueError:
        return None
    endpoint = body.get("endpoint")
    return endpoint if isinstance(endpoint, str) and len(endpoint) <= 64 else None


class PeerService:
    """Answers peers' questions on (address, PEER_PORT) until closed; `observed(peer_address)` looks the peer
    up in WireGuard's live state."""

    def __init__(self, address: str, observed: Callable[[str], str | None]) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, PEER_PORT))
        self.observed = observed
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="octravpnd-peerapi", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.closing.is_set():
            ready, _, _ = select.select([self.sock], [], [], 0.5)
            if not ready:
                continue
            try:
                datagram, (source, port) = self.sock.recvfrom(64)
                if datagram == QUESTION:
                    self.sock.sendto(answer(source, self.observed), (source, port))
            except OSError:
                continue  # a peer gone mid-answer: nothing to do

    def close(self) -> None:
        self.closing.set()
        self.thread.join(timeout=2)
        self.sock.close()


def ask(peer_addresses: list[str], *, timeout: float = 1.0) -> dict[str, str]:
    """Ask each peer (its tailnet IPv4 address) where it sees this device; the answers by peer address."""
    answers: dict[str, str] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for address in peer_addresses:
            try:
                sock.sendto(QUESTION, (address, PEER_PORT))
            except OSError:
                continue
        remaining = set(peer_addresses)
        while remaining:
            ready, _, _ = select.select([sock], [], [], timeout)
            if not ready:
                break
            datagram, (source, _) = sock.recvfrom(MAX_ANSWER + 1)
            endpoint = parse_answer(datagram)
            if source in remaining and endpoint:
                answers[source] = endpoint
            remaining.discard(source)
    return answers
