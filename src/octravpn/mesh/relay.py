"""A relay for the mesh (`octravpn set --relay`): forwards WireGuard's datagrams between two devices of its
tailnet that cannot reach each other directly (one behind a NAT that maps every destination to a new port),
as Tailscale's DERP and TURN servers do.

The relay forwards ciphertext only: it never has the devices' session keys. It pairs two devices only when
both asked with a signed `RelayRequest` naming this relay, both are on the tailnet's roster, and the policy
lets them talk (`allowed`, the relay's own view of the chain and the policy). Each paired device gets a port
of its own on the relay: what arrives there goes on to the other device, sent from the other device's port,
so each side's NAT sees the answers come from where it sends. A device's address is learned from the
datagrams it sends, and only from the IP address its signed request came from. Pairs end when both
requests expired; there are at most `MAX_PAIRS`.
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
    MAX_LIFETIME,
    RelayAnswer,
    RelayRequest,
    decode_answer,
    decode_request,
    encode_answer,
)

log = logging.getLogger("octravpn.daemon.relay")
RELAY_PORT = 41643
MAX_PAIRS = 128
MAX_WIREGUARD_DATAGRAM = 65535


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
        datagram, source = self.control.recvfrom(2048)
        try:
            request = decode_request(datagram, self.domain)
        except RemoteProtocolError as exc:
            self.control.sendto(encode_answer(error=str(exc)), source)
            return
        refusal = check_request(
            request, relay=self.relay, tailnet_id=self.tailnet_id, now=self.clock(), allowed=self.allowed
        )
        if refusal is not None:
            self.control.sendto(encode_answer(error=refusal), source)
            return
        device, peer = request.device.lower(), request.peer.lower()
        with self.lock:
            self.asked[(device, peer)] = (request.expires, source[0])
            if (peer, device) not in self.asked:
                answer = encode_answer(ready=False)  # until the peer asks too
            else:
                pair = self._pair(device, peer)
                if pair is None:
                    answer = encode_answer(error=f"this relay is full ({MAX_PAIRS} pairs): try another")
                else:
                    leg = pair.legs[device]
                    leg.expires, leg.request_ip = request.expires, source[0]
                    answer = encode_answer(port=leg.sock.getsockname()[1], ready=True)
        self.control.sendto(answer, source)

    def _pair(self, device: str, peer: str) -> Pair | None:
        key = frozenset((device, peer))
        if key in self.pairs:
            return self.pairs[key]
        if len(self.pairs) >= MAX_PAIRS:
            return None
        pair = Pair()
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


def request_relay(relay: tuple[str, int], datagram: bytes, *, timeout: float = 1.0) -> RelayAnswer:
    """Send a signed request to a relay's control port; its answer (OSError if none came)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(datagram, relay)
        answer, source = sock.recvfrom(2048)
    return decode_answer(answer)
