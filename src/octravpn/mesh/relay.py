"""A relay for the mesh (`octravpn set --relay`): forwards WireGuard's datagrams between two devices of its
tailnet that cannot reach each other directly (one behind a NAT that maps every destination to a new port),
as Tailscale's DERP and TURN servers do.

The relay forwards ciphertext only: it never has the devices' session keys. It pairs two devices only when
both asked with a signed `RelayRequest` naming this relay and carrying a challenge the relay made for the
address the request comes from (taken once: a replayed request moves nothing), both are on the tailnet's
roster, and the policy lets them talk (`allowed`, the relay's own view of the chain and the policy). Each
paired device gets a port of its own on the relay: what arrives there goes on to the other device, sent from
the other device's port, so each side's NAT sees the answers come from where it sends. A device's address is
learned from the datagrams it sends, and only from the IP address its signed request came from. Pairs end
when both requests expired; there are at most `MAX_PAIRS`, and one member's devices hold at most a fair share
of them (`quota`). Nothing is sent to an address larger than what it sent.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from octravpn.protocol.eip712 import Domain
from octravpn.protocol.errors import RemoteProtocolError
from octravpn.protocol.relaywire import (
    MAX_DATAGRAM,
    MAX_LIFETIME,
    Challenges,
    RelayAnswer,
    RelayRequest,
    decode_answer,
    decode_challenge,
    decode_request,
    encode_answer,
    encode_challenge,
    hello,
    is_hello,
)

log = logging.getLogger("octravpn.daemon.relay")
RELAY_PORT = 41643
MAX_PAIRS = 128
MIN_SHARE = 8  # pairs a member's devices may always hold, however many members the tailnet has
MAX_WIREGUARD_DATAGRAM = 65535


def quota(members: int) -> int:
    """The pairs one member's devices may hold at once: a fair share of MAX_PAIRS among the tailnet's members."""
    return max(MIN_SHARE, MAX_PAIRS // max(members, 1))


@dataclass
class Leg:
    """One device's side of a pair: the relay port it sends to, where it is, until when it asked."""

    sock: socket.socket
    request_ip: str
    expires: int
    address: tuple | None = None  # (ip, port) its datagrams come from


@dataclass
class Pair:
    legs: dict[str, Leg] = field(default_factory=dict)
    members: frozenset[str] = frozenset()  # the members whose devices these are (one or two)

    def other(self, device: str) -> str:
        return next(key for key in self.legs if key != device)


def check_request(
    request: RelayRequest, *, relay: str, tailnet_id: int, now: float, allowed: Callable[[str, str], str | None]
) -> str | None:
    """Why this relay will not act on `request` (None: it will). Pure."""
    if request.relay.lower() != relay:
        return f"the request is for relay {request.relay}, not this one ({relay})"
    if request.tailnet_id != tailnet_id:
        return f"this relay serves tailnet {tailnet_id}, not {request.tailnet_id}"
    if not now < request.expires <= now + MAX_LIFETIME:
        return f"the request expires at {request.expires}: it must be within {MAX_LIFETIME} s from now"
    if request.device.lower() == request.peer.lower():
        return "a device cannot ask to be relayed to itself"
    return allowed(request.device.lower(), request.peer.lower())


class RelayServer:
    def __init__(
        self,
        *,
        relay: str,
        tailnet_id: int,
        domain: Domain,
        allowed: Callable[[str, str], str | None],
        owner_of: Callable[[str], str | None] = lambda device: device,
        members: Callable[[], int] = lambda: 1,
        port: int = RELAY_PORT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.relay, self.tailnet_id, self.domain, self.allowed, self.clock = (
            relay.lower(),
            tailnet_id,
            domain,
            allowed,
            clock,
        )
        self.owner_of, self.members = owner_of, members
        self.challenges = Challenges()
        self.control = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.control.bind(("0.0.0.0", port))
        self.port = self.control.getsockname()[1]
        self.asked: dict[tuple[str, str], tuple[int, str]] = {}  # (device, peer) -> (expires, request ip)
        self.pairs: dict[frozenset, Pair] = {}
        self.by_socket: dict[socket.socket, tuple[Pair, str]] = {}
        self.forwarded = 0  # datagrams, for status
        self.closing = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, name="octravpnd-relay", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.closing.set()
        self.thread.join(timeout=2)
        with self.lock:
            for pair in self.pairs.values():
                for leg in pair.legs.values():
                    leg.sock.close()
            self.pairs.clear()
            self.by_socket.clear()
        self.control.close()

    def shown(self) -> dict:
        with self.lock:
            return {"port": self.port, "pairs": len(self.pairs), "forwarded_datagrams": self.forwarded}

    # ------------------------------------------------------------ loop
    def _serve(self) -> None:
        while not self.closing.is_set():
            with self.lock:
                sockets = [self.control, *self.by_socket]
            try:
                ready, _, _ = select.select(sockets, [], [], 0.5)
            except (OSError, ValueError):
                continue  # a socket closed while we waited: look again
            for sock in ready:
                try:
                    if sock is self.control:
                        self._control()
                    else:
                        self._forward(sock)
                except OSError as exc:
                    log.debug("relay: %s", exc)
                except Exception:  # a bug must cost one datagram, never the relay for the whole tailnet
                    log.exception("relay: a datagram could not be handled")
            self._expire()

    def _control(self) -> None:
        datagram, source = self.control.recvfrom(MAX_DATAGRAM + 1)
        if is_hello(datagram):
            self.control.sendto(encode_challenge(self.challenges.make(source, self.clock())), source)
            return
        answer = self._answer(datagram, source)
        if answer:
            self.control.sendto(answer, source)

    def _answer(self, datagram: bytes, source: tuple) -> bytes:
        """The answer to a request (at most as large as the request: an address proves nothing by sending)."""
        limit = len(datagram)
        try:
            request = decode_request(datagram, self.domain)
        except RemoteProtocolError as exc:
            return encode_answer(error=str(exc), limit=limit)
        now = self.clock()
        refusal = check_request(request, relay=self.relay, tailnet_id=self.tailnet_id, now=now, allowed=self.allowed)
        if refusal is None:
            with self.lock:
                refusal = self.challenges.take(request.challenge, source, now)
        if refusal is not None:
            return encode_answer(error=refusal, limit=limit)
        device, peer = request.device.lower(), request.peer.lower()
        with self.lock:
            self.asked[(device, peer)] = (request.expires, source[0])
            if (peer, device) not in self.asked:
                return encode_answer(ready=False, limit=limit)  # until the peer asks too
            pair = self._pair(device, peer)
            if isinstance(pair, str):
                return encode_answer(error=pair, limit=limit)
            leg = pair.legs[device]
            leg.expires, leg.request_ip = request.expires, source[0]
            return encode_answer(port=leg.sock.getsockname()[1], ready=True, limit=limit)

    def _pair(self, device: str, peer: str) -> Pair | str:
        """The pair of the two devices, made if need be; or why not (the relay is full, or a member's share is)."""
        key = frozenset((device, peer))
        if key in self.pairs:
            return self.pairs[key]
        if len(self.pairs) >= MAX_PAIRS:
            return f"this relay is full ({MAX_PAIRS} pairs): try another"
        members = frozenset(m for m in (self.owner_of(device), self.owner_of(peer)) if m)
        share = quota(self.members())
        for member in members:
            held = sum(1 for pair in self.pairs.values() if member in pair.members)
            if held >= share:
                return f"member {member}'s devices hold their share of this relay ({share} pairs): try another"
        pair = Pair(members=members)
        for who in (device, peer):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("0.0.0.0", 0))
            expires, ip = self.asked[(who, peer if who == device else device)]
            pair.legs[who] = Leg(sock=sock, request_ip=ip, expires=expires)
            self.by_socket[sock] = (pair, who)
        self.pairs[key] = pair
        log.info("relaying between %s and %s", device, peer)
        return pair

    def _forward(self, sock: socket.socket) -> None:
        datagram, source = sock.recvfrom(MAX_WIREGUARD_DATAGRAM)
        with self.lock:
            found = self.by_socket.get(sock)
            if found is None:
                return
            pair, sender = found
            leg = pair.legs[sender]
            if source[0] != leg.request_ip:
                return  # only the device that asked, from where it asked
            leg.address = source
            other = pair.legs[pair.other(sender)]
            if other.address is None:
                return  # the other side has not sent yet: nowhere to send to
            self.forwarded += 1
        other.sock.sendto(datagram, other.address)

    def _expire(self) -> None:
        now = self.clock()
        with self.lock:
            self.asked = {k: v for k, v in self.asked.items() if v[0] > now}
            for key, pair in list(self.pairs.items()):
                if all(leg.expires <= now for leg in pair.legs.values()):
                    for leg in pair.legs.values():
                        self.by_socket.pop(leg.sock, None)
                        leg.sock.close()
                    del self.pairs[key]


def request_relay(
    relay: tuple[str, int], make_request: Callable[[bytes], bytes], *, timeout: float = 1.0
) -> RelayAnswer:
    """Ask a relay from one socket: a hello, its challenge, the request `make_request(challenge)` signs; the
    relay's answer (OSError if the relay did not answer, RemoteProtocolError if it answered nonsense)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect(relay)  # only the relay's datagrams come back on this socket
        sock.send(hello())
        challenge = decode_challenge(sock.recv(MAX_DATAGRAM))
        sock.send(make_request(challenge))
        answer = sock.recv(MAX_DATAGRAM)
    return decode_answer(answer)
