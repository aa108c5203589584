"""Names for the mesh: the daemon answers DNS for its tailnet's devices and passes every other question on.

Split DNS, as Tailscale's MagicDNS does it on a host without a resolver daemon: the host's resolver is
pointed at `RESOLVER_ADDRESS` (with `search SUFFIX`, so a bare hostname works), which answers
`HOSTNAME.SUFFIX` (A and AAAA, from the verified network map) itself and forwards any other name, unchanged,
to the usual servers (those the host had, or the exit's while an exit session is up). A name under the suffix
that is no device's is NXDOMAIN, never forwarded: tailnet names do not leak to other resolvers.

`answer` is pure (bytes in, bytes out; hostile input is dropped); `NameServer` does the socket work.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from dnslib import AAAA, QTYPE, RCODE, RR, A, DNSRecord

log = logging.getLogger("octravpn.daemon.dns")
SUFFIX = "octravpn.internal"  # `.internal` is reserved for private use: it never exists on the internet
RESOLVER_ADDRESS = "100.100.100.100"
TTL = 60
FORWARD_TIMEOUT = 2.0
MAX_QUERY = 512  # classic DNS over UDP


def answer(query: bytes, names: dict[str, tuple], forward: Callable[[bytes], bytes | None]) -> bytes | None:
    """The reply to one query (None: nothing to send). `names`: hostname -> (IPv4, IPv6)."""
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
    if name != SUFFIX and not name.endswith("." + SUFFIX):
        return forward(query)
    reply = record.reply()
    host = name[: -len(SUFFIX) - 1] if name != SUFFIX else ""
    if host not in names:
        reply.header.rcode = RCODE.NXDOMAIN
        return reply.pack()
    v4, v6 = names[host]
    if question.qtype in (QTYPE.A, QTYPE.ANY):
        reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(str(v4)), ttl=TTL))
    if question.qtype in (QTYPE.AAAA, QTYPE.ANY):
        reply.add_answer(RR(question.qname, QTYPE.AAAA, rdata=AAAA(str(v6)), ttl=TTL))
    return reply.pack()  # another type of a device's name: no records, no error


def resolv_conf(servers: list[str]) -> str:
    """The host's resolver configuration while the mesh answers names."""
    return (
        f"# written by octravpnd for the mesh's names; the usual servers: {' '.join(servers) or 'none'}\n"
        f"nameserver {RESOLVER_ADDRESS}\nsearch {SUFFIX}\noptions edns0 trust-ad\n"
    )


def is_ours(text: str) -> bool:
    return text.startswith("# written by octravpnd for the mesh's names")


def nameservers(text: str) -> list[str]:
    """The `nameserver` addresses of a resolv.conf (not our own)."""
    found = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and parts[1] != RESOLVER_ADDRESS:
            try:
                found.append(str(ipaddress.ip_address(parts[1].split("%")[0])))
            except ValueError:
                continue
    return found


def forward_to(servers: list[str], query: bytes) -> bytes | None:
    """Ask each server in turn; the first reply to this query's id."""
    for server in servers:
        family = socket.AF_INET6 if ":" in server else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.settimeout(FORWARD_TIMEOUT)
                sock.sendto(query, (server, 53))
                reply, _ = sock.recvfrom(4096)
        except OSError:
            continue
        if reply[:2] == query[:2]:
            return reply
    return None


class NameServer:
    """The mesh's DNS server on RESOLVER_ADDRESS:53 (UDP) until closed."""

    def __init__(
        self,
        names: Callable[[], dict[str, tuple]],
        upstream: Callable[[], list[str]],
        *,
        address: str = RESOLVER_ADDRESS,
    ) -> None:
        self.names, self.upstream = names, upstream
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 53))
        self.sock.settimeout(0.5)
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="octravpnd-dns")
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="octravpnd-dns", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.closing.is_set():
            try:
                query, source = self.sock.recvfrom(MAX_QUERY + 1)
            except TimeoutError:
                continue
            except OSError:
                return
            self.pool.submit(self._reply, query, source)

    def _reply(self, query: bytes, source) -> None:
        try:
            reply = answer(query, self.names(), lambda q: forward_to(self.upstream(), q))
            if reply is not None:
                self.sock.sendto(reply, source)
        except OSError as exc:
            log.debug("dns: %s", exc)

    def close(self) -> None:
        self.closing.set()
        self.thread.join(timeout=2)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.sock.close()
