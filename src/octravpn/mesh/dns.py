"""Names for the mesh: the daemon answers DNS for its tailnet's devices and passes every other question on.

Split DNS, as Tailscale's MagicDNS does it on a host without a resolver daemon: the host's resolver is
pointed at `RESOLVER_ADDRESS` (with `search SUFFIX`, so a bare hostname works), which answers
`HOSTNAME.SUFFIX` (A and AAAA, from the verified network map), and reverse lookups of tailnet addresses, itself
and at once; and forwards any other question to the usual servers (those the host had, or the exit's while an
exit session is up). A name under the suffix that is no device's is NXDOMAIN, and the reverse of a tailnet
address nobody holds too: neither ever leaves the device.

Forwarding is guarded as a stub resolver should be: each question goes out on a socket of its own, connected
to the server (the kernel delivers only the server's datagrams, to a port the system picked at random), under a
random id of its own, and a reply counts only if it carries that id and the same question. Forwarded questions
wait in a bounded queue for a few workers; names of the tailnet never wait behind them.

`classify` is pure (bytes in; a reply, a question to forward, or nothing); `NameServer` does the socket work.
"""

from __future__ import annotations

import ipaddress
import logging
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from dnslib import AAAA, PTR, QTYPE, RCODE, RR, A, DNSRecord

from octravpn.acl.network import TAILNET_PREFIXES

log = logging.getLogger("octravpn.daemon.dns")
SUFFIX = "octravpn.internal"  # `.internal` is reserved for private use: it never exists on the internet
RESOLVER_ADDRESS = "100.100.100.100"
TTL = 60
FORWARD_TIMEOUT = 2.0
UPSTREAM_PORT = 53
MAX_QUERY = 512  # classic DNS over UDP
WORKERS = 4  # questions forwarded at once
MAX_WAITING = 64  # forwarded questions waiting for a worker; more are answered SERVFAIL at once


@dataclass(frozen=True)
class Forward:
    """A question to pass on to the upstream servers."""

    query: DNSRecord


def classify(query: bytes, names: dict[str, tuple]) -> bytes | Forward | None:
    """What to do with one query: the reply to send (bytes), a question to forward, or nothing (garbage).
    `names`: hostname -> (IPv4, IPv6)."""
    if len(query) > MAX_QUERY:
        return None
    try:
        record = DNSRecord.parse(query)
    except Exception:  # dnslib raises several kinds on malformed input: a bad packet gets no answer
        return None
    if record.header.qr or len(record.questions) != 1:
        return None
    question = record.q
    name = str(question.qname).lower().rstrip(".")
    if name == SUFFIX or name.endswith("." + SUFFIX):
        return _names(record, name[: -len(SUFFIX) - 1] if name != SUFFIX else "", names)
    address = reverse_address(name)
    if address is not None:
        return _reverse(record, address, names)
    return Forward(record)


def reverse_address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The tailnet address a reverse-lookup name asks about (None: not one, or not in the tailnet's ranges)."""
    try:
        if name.endswith(".in-addr.arpa"):
            labels = name.removesuffix(".in-addr.arpa").split(".")
            address = ipaddress.ip_address(".".join(reversed(labels))) if len(labels) == 4 else None
        elif name.endswith(".ip6.arpa"):
            nibbles = name.removesuffix(".ip6.arpa").split(".")
            if len(nibbles) != 32:
                return None
            digits = "".join(reversed(nibbles))
            address = ipaddress.ip_address(":".join(digits[i : i + 4] for i in range(0, 32, 4)))
        else:
            return None
    except ValueError:
        return None
    return address if address is not None and any(address in p for p in TAILNET_PREFIXES) else None


def _names(record: DNSRecord, host: str, names: dict[str, tuple]) -> bytes:
    reply = record.reply()
    question = record.q
    if host not in names:
        reply.header.rcode = RCODE.NXDOMAIN
        return bytes(reply.pack())
    v4, v6 = names[host]
    if question.qtype in (QTYPE.A, QTYPE.ANY):
        reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(str(v4)), ttl=TTL))
    if question.qtype in (QTYPE.AAAA, QTYPE.ANY):
        reply.add_answer(RR(question.qname, QTYPE.AAAA, rdata=AAAA(str(v6)), ttl=TTL))
    return bytes(reply.pack())  # another type of a device's name: no records, no error


def _reverse(record: DNSRecord, address, names: dict[str, tuple]) -> bytes:
    reply = record.reply()
    held = next((host for host, addresses in names.items() if address in addresses), None)
    if held is None:
        reply.header.rcode = RCODE.NXDOMAIN
    elif record.q.qtype in (QTYPE.PTR, QTYPE.ANY):
        reply.add_answer(RR(record.q.qname, QTYPE.PTR, rdata=PTR(f"{held}.{SUFFIX}."), ttl=TTL))
    return bytes(reply.pack())


def servfail(record: DNSRecord) -> bytes:
    reply = record.reply()
    reply.header.rcode = RCODE.SERVFAIL
    return bytes(reply.pack())


def forward_to(
    servers: list[str], record: DNSRecord, *, timeout: float | None = None, port: int | None = None
) -> bytes | None:
    """Ask each server in turn, on a socket connected to it, under an id of our own; the first reply with that id
    and the same question, given back under the asker's id. None: no server answered."""
    asked = record.q
    timeout = FORWARD_TIMEOUT if timeout is None else timeout
    port = UPSTREAM_PORT if port is None else port
    for server in servers:
        family = socket.AF_INET6 if ":" in server else socket.AF_INET
        ours = record.pack()
        own_id = secrets.randbits(16)
        ours = own_id.to_bytes(2, "big") + ours[2:]
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect((server, port))
                sock.send(ours)
                deadline = time.monotonic() + timeout
                while (left := deadline - time.monotonic()) > 0:
                    sock.settimeout(left)
                    reply = sock.recv(4096)
                    if _answers(reply, own_id, asked):
                        return record.header.id.to_bytes(2, "big") + reply[2:]
        except OSError:
            continue
    return None


def _answers(reply: bytes, own_id: int, asked) -> bool:
    """Whether `reply` answers our question: our id, a response, and the same name, type and class."""
    if len(reply) < 12 or int.from_bytes(reply[:2], "big") != own_id:
        return False
    try:
        record = DNSRecord.parse(reply)
    except Exception:  # a malformed reply is no answer
        return False
    if not record.header.qr or len(record.questions) != 1:
        return False
    got = record.q
    return (str(got.qname).lower(), got.qtype, got.qclass) == (str(asked.qname).lower(), asked.qtype, asked.qclass)


class NameServer:
    """The mesh's DNS server on RESOLVER_ADDRESS:53 (UDP) until closed."""

    def __init__(
        self,
        names: Callable[[], dict[str, tuple]],
        upstream: Callable[[], list[str]],
        *,
        address: str = RESOLVER_ADDRESS,
        port: int = 53,
    ) -> None:
        self.names, self.upstream = names, upstream
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, port))
        self.sock.settimeout(0.5)
        self.waiting: queue.Queue = queue.Queue(maxsize=MAX_WAITING)
        self.closing = threading.Event()
        self.threads = [threading.Thread(target=self._serve, name="octravpnd-dns", daemon=True)]
        self.threads += [
            threading.Thread(target=self._work, name=f"octravpnd-dns-{i}", daemon=True) for i in range(WORKERS)
        ]
        for thread in self.threads:
            thread.start()

    def _serve(self) -> None:
        """Answer the tailnet's names at once; queue the rest for the workers (SERVFAIL when the queue is full)."""
        while not self.closing.is_set():
            try:
                query, source = self.sock.recvfrom(MAX_QUERY + 1)
            except TimeoutError:
                continue
            except OSError:
                return
            decision = classify(query, self.names())
            try:
                if isinstance(decision, bytes):
                    self.sock.sendto(decision, source)
                elif isinstance(decision, Forward):
                    try:
                        self.waiting.put_nowait((decision.query, source))
                    except queue.Full:
                        self.sock.sendto(servfail(decision.query), source)
            except OSError as exc:
                log.debug("dns: %s", exc)

    def _work(self) -> None:
        while not self.closing.is_set():
            try:
                record, source = self.waiting.get(timeout=0.5)
            except queue.Empty:
                continue
            reply = forward_to(self.upstream(), record) or servfail(record)
            try:
                self.sock.sendto(reply, source)
            except OSError as exc:
                log.debug("dns: %s", exc)

    def close(self) -> None:
        self.closing.set()
        for thread in self.threads:
            thread.join(timeout=3)
        self.sock.close()
