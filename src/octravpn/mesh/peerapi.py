"""The mesh's one service between devices (UDP `PEER_PORT` on each device's tailnet IPv4 address, inside the
mesh): telling a peer where it is seen from, and agreeing on a trial of direct paths (`mesh.upgrade`).

A device behind a NAT cannot know its public address:port, but every peer it has a WireGuard session with
can: WireGuard shows each peer's endpoint as the address its packets came from. So a device asks its peers
"where do you see me?" and announces what they answer, first among its endpoints; two devices behind
different NATs then each send to the other's public endpoint, and both NATs let the other's packets in.

The question and the answer travel inside WireGuard, so both ends are authenticated by their keys, and the
source address names the asking peer (WireGuard admits from a peer only its own addresses). The answer is
about the asker only. A proposal of a trial is answered with the slots the receiver runs, or why none. Requests
and answers are one datagram each, bounded; anything else is dropped.
"""

from __future__ import annotations

import json
import select
import socket
import threading
from collections.abc import Callable

from octravpn.mesh.upgrade import MAX_ENDPOINT, MAX_SLOTS, Slot
from octravpn.protocol.announce import parse_endpoint
from octravpn.protocol.wirejson import loads_object

PEER_PORT = 41642
QUESTION = b"octravpn/observed?"
PROPOSAL = b"octravpn/direct?"
MAX_ANSWER = 512
MAX_DATAGRAM = 1024
Proposed = Callable[[str, tuple[Slot, ...]], "tuple[Slot, ...] | str"]  # (peer address, slots) -> taken, or why not


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


def encode_slots(slots: tuple[Slot, ...]) -> list[list[str]]:
    return [[slot.proposer_sends_to, slot.peer_sends_to] for slot in slots]


def parse_slots(value: object) -> tuple[Slot, ...]:
    """Slots as a peer sent them: at most MAX_SLOTS pairs of literal endpoints (ValueError otherwise)."""
    if not isinstance(value, list) or not 0 < len(value) <= MAX_SLOTS:
        raise ValueError(f"slots must be a list of 1 to {MAX_SLOTS} pairs")
    slots = []
    for pair in value:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(e, str) for e in pair)):
            raise ValueError("a slot is a pair of endpoints")
        for endpoint in pair:
            if len(endpoint) > MAX_ENDPOINT:
                raise ValueError("an endpoint is too long")
            parse_endpoint(endpoint)
        slots.append(Slot(*pair))
    return tuple(slots)


def proposal_reply(source_address: str, datagram: bytes, proposed: Proposed) -> bytes:
    """The reply to a proposal from `source_address`: the slots this device runs, or an error."""
    try:
        slots = parse_slots(loads_object(datagram[len(PROPOSAL) :], max_depth=3).get("slots"))
    except ValueError as exc:
        return json.dumps({"error": f"not a proposal: {exc}"}).encode()
    taken = proposed(source_address, slots)
    if isinstance(taken, str):
        return json.dumps({"error": taken}).encode()
    return json.dumps({"slots": encode_slots(taken)}).encode()


def parse_proposal_reply(datagram: bytes) -> tuple[Slot, ...] | str:
    """The slots a peer took, or why not (its error, or what is wrong with its answer)."""
    try:
        body = loads_object(datagram, max_depth=3)
        if "error" in body:
            return str(body["error"])[:200]
        return parse_slots(body.get("slots"))
    except ValueError as exc:
        return f"the peer's answer is not one: {exc}"


class PeerService:
    """Answers peers' questions on (address, PEER_PORT) until closed; `observed(peer_address)` looks the peer
    up in WireGuard's live state, `proposed(peer_address, slots)` takes a trial of direct paths."""

    def __init__(
        self, address: str, observed: Callable[[str], str | None], proposed: Proposed = lambda _a, _s: "no trials"
    ) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, PEER_PORT))
        self.observed = observed
        self.proposed = proposed
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="octravpnd-peerapi", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.closing.is_set():
            ready, _, _ = select.select([self.sock], [], [], 0.5)
            if not ready:
                continue
            try:
                datagram, (source, port) = self.sock.recvfrom(MAX_DATAGRAM)
                if datagram == QUESTION:
                    self.sock.sendto(answer(source, self.observed), (source, port))
                elif datagram.startswith(PROPOSAL):
                    self.sock.sendto(proposal_reply(source, datagram, self.proposed), (source, port))
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


def propose(peer_address: str, slots: tuple[Slot, ...], *, timeout: float = 1.0) -> tuple[Slot, ...] | str:
    """Propose a trial of direct paths to a peer (its tailnet IPv4 address): the slots it took, or why none."""
    datagram = PROPOSAL + json.dumps({"slots": encode_slots(slots)}).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(datagram, (peer_address, PEER_PORT))
        except OSError as exc:
            return f"cannot send to the peer: {exc}"
        ready, _, _ = select.select([sock], [], [], timeout)
        if not ready:
            return "the peer did not answer"
        reply, (source, _) = sock.recvfrom(MAX_DATAGRAM + 1)
    if source != peer_address or len(reply) > MAX_DATAGRAM:
        return "the answer came from elsewhere, or is too long"
    return parse_proposal_reply(reply)
