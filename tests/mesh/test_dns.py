"""The mesh's names: answered here for the tailnet (and the reverse of its addresses) at once, passed on for
everything else on a guarded socket, garbage dropped; a slow upstream delays no tailnet name (real UDP on
loopback)."""

import ipaddress
import select
import socket
import threading

import pytest
from dnslib import QTYPE, RCODE, RR, DNSHeader, DNSQuestion, DNSRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from octravpn.mesh import dns
from octravpn.mesh.dns import (
    SUFFIX,
    Forward,
    NameServer,
    classify,
    forward_to,
)

NAMES = {"db": (ipaddress.ip_address("100.64.0.9"), ipaddress.ip_address("fd7a:7670:6e00::9"))}


def answer(query: bytes, names, forward):
    """classify, with forwarding as a function (what the server does with a Forward)."""
    decision = classify(query, names)
    return forward(query) if isinstance(decision, Forward) else decision


def _ask(name: str, qtype: str = "A", forwarded: list | None = None):
    query = DNSRecord.question(name, qtype).pack()
    sent = forwarded if forwarded is not None else []
    reply = answer(query, NAMES, lambda q: sent.append(q) or b"upstream-reply")
    return query, reply, sent


def test_a_device_name_under_the_suffix_is_answered_with_its_addresses():
    _, reply, sent = _ask(f"db.{SUFFIX}")
    record = DNSRecord.parse(reply)
    assert not sent and record.header.rcode == RCODE.NOERROR and [str(r.rdata) for r in record.rr] == ["100.64.0.9"]
    record = DNSRecord.parse(_ask(f"DB.{SUFFIX}.", "AAAA")[1])  # names are case-insensitive
    assert [str(r.rdata) for r in record.rr] == ["fd7a:7670:6e00::9"]
    assert len(DNSRecord.parse(_ask(f"db.{SUFFIX}", "ANY")[1]).rr) == 2
    mx = DNSRecord.parse(_ask(f"db.{SUFFIX}", "MX")[1])
    assert mx.header.rcode == RCODE.NOERROR and not mx.rr  # the name exists, with no such record


def test_an_unknown_name_under_the_suffix_is_nxdomain_and_never_leaves_the_device():
    _, reply, sent = _ask(f"nobody.{SUFFIX}")
    assert DNSRecord.parse(reply).header.rcode == RCODE.NXDOMAIN and not sent
    assert DNSRecord.parse(_ask(SUFFIX)[1]).header.rcode == RCODE.NXDOMAIN


def test_every_other_name_is_forwarded_unchanged():
    query, reply, sent = _ask("example.org")
    assert sent == [query] and reply == b"upstream-reply"
    assert _ask(f"db.{SUFFIX}.evil.example")[2]  # the suffix in the middle is not the suffix


def test_malformed_oversized_and_reply_packets_get_no_answer():
    forward = lambda q: b"x"  # noqa: E731
    assert answer(b"\x00\x01garbage", NAMES, forward) is None
    assert answer(b"", NAMES, forward) is None
    assert answer(DNSRecord.question("a.example").pack() + b"\x00" * 600, NAMES, forward) is None
    response = DNSRecord.question(f"db.{SUFFIX}").reply().pack()
    assert answer(response, NAMES, forward) is None


@settings(max_examples=500, deadline=None)
@given(
    st.binary(max_size=600)
    | st.builds(
        lambda name, tail: DNSRecord(DNSHeader(id=7), q=DNSQuestion(name)).pack() + tail,
        st.from_regex(r"[a-z0-9]{1,20}(\.[a-z0-9]{1,20}){0,3}", fullmatch=True),
        st.binary(max_size=40),
    )
)
def test_whatever_a_query_holds_the_answer_is_bytes_or_nothing(query):
    reply = answer(query, NAMES, lambda q: b"upstream-reply")
    assert reply is None or isinstance(reply, bytes)


def test_the_reverse_of_a_tailnet_address_is_answered_here_and_never_forwarded():
    """During an exit session such lookups once went to the exit's resolver: who talks to whom in the tailnet."""
    record = DNSRecord.parse(_ask("9.0.64.100.in-addr.arpa", "PTR")[1])
    assert [str(r.rdata) for r in record.rr] == [f"db.{SUFFIX}."]
    six = ipaddress.ip_address("fd7a:7670:6e00::9").reverse_pointer
    assert [str(r.rdata) for r in DNSRecord.parse(_ask(six, "PTR")[1]).rr] == [f"db.{SUFFIX}."]
    query, reply, sent = _ask("7.7.64.100.in-addr.arpa", "PTR")
    assert DNSRecord.parse(reply).header.rcode == RCODE.NXDOMAIN and not sent
    assert _ask("8.8.8.8.in-addr.arpa", "PTR")[2]  # not a tailnet address: forwarded


class Upstream:
    """A DNS server on loopback that answers after `delay`, or never (`delay` None)."""

    def __init__(self, delay: float | None = 0.0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port, self.delay, self.asked = self.sock.getsockname()[1], delay, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            if not select.select([self.sock], [], [], 0.2)[0]:
                continue
            query, source = self.sock.recvfrom(512)
            self.asked.append((query, source))
            if self.delay is None:
                continue
            reply = DNSRecord.parse(query).reply()
            reply.add_answer(*RR.fromZone(f"{reply.q.qname} 60 A 192.0.2.53"))
            threading.Timer(self.delay, self.sock.sendto, (reply.pack(), source)).start()

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


def test_a_forwarded_answer_counts_only_from_the_server_under_our_id_and_question(monkeypatch):
    """The forwarder took the first datagram to reach its socket and checked only the 2-byte id: a local user
    finding its port in /proc/net/udp could answer first."""
    upstream = Upstream(delay=0.3)
    monkeypatch.setattr(dns, "FORWARD_TIMEOUT", 2.0)
    query = DNSRecord.question("example.org")
    query.header.id = 0x1234
    forged = DNSRecord.question("example.org").reply()
    forged.header.id = 0x1234
    forged.add_answer(*RR.fromZone("example.org 60 A 203.0.113.66"))

    def spoof():  # as soon as the forwarder's query reaches the server, answer it from elsewhere
        while not upstream.asked:
            threading.Event().wait(0.01)
        _, source = upstream.asked[0]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as attacker:
            for forged_id in (0x1234, int.from_bytes(upstream.asked[0][0][:2], "big")):
                forged.header.id = forged_id
                attacker.sendto(forged.pack(), source)

    try:
        threading.Thread(target=spoof, daemon=True).start()
        reply = DNSRecord.parse(forward_to(["127.0.0.1"], query, timeout=2.0, port=upstream.port))
        assert reply.header.id == 0x1234 and [str(r.rdata) for r in reply.rr] == ["192.0.2.53"]
        ours = int.from_bytes(upstream.asked[0][0][:2], "big")
        assert ours != 0x1234 or len(upstream.asked) == 1  # the server saw an id of the forwarder's own
    finally:
        upstream.close()


@pytest.fixture
def silent_upstream(monkeypatch):
    """The mesh's name server on loopback, whose upstream never answers; a client socket to ask it with."""
    upstream = Upstream(delay=None)  # each forwarded question waits its whole timeout
    monkeypatch.setattr(dns, "UPSTREAM_PORT", upstream.port)
    server = NameServer(lambda: NAMES, lambda: ["127.0.0.1"], address="127.0.0.1", port=0)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(5)
    try:
        yield client, ("127.0.0.1", server.sock.getsockname()[1])
    finally:
        client.close()
        server.close()
        upstream.close()


def test_a_tailnet_name_never_waits_behind_slow_forwarded_questions(silent_upstream):
    """16 slow lookups once delayed a name answered from memory by 7.8 s (one shared 4-worker pool)."""
    client, address = silent_upstream
    for i in range(16):
        client.sendto(DNSRecord.question(f"slow{i}.example").pack(), address)
    client.sendto(DNSRecord.question(f"db.{SUFFIX}").pack(), address)
    first = DNSRecord.parse(client.recv(512))  # the first answer to come back is the tailnet's
    assert str(first.q.qname) == f"db.{SUFFIX}." and [str(r.rdata) for r in first.rr] == ["100.64.0.9"]


@pytest.fixture
def short_queue(monkeypatch):
    monkeypatch.setattr(dns, "MAX_WAITING", 4)


def test_forwarded_questions_wait_in_a_bounded_queue(short_queue, silent_upstream):
    client, address = silent_upstream
    for i in range(30):
        client.sendto(DNSRecord.question(f"q{i}.example").pack(), address)
    refused = [DNSRecord.parse(client.recv(512)) for _ in range(30 - dns.WORKERS - 4)]
    assert all(r.header.rcode == RCODE.SERVFAIL for r in refused)  # at once: nothing waits without bound


def test_a_reply_with_another_question_is_no_answer():
    asked = DNSRecord.question("example.org").q
    other = DNSRecord.question("evil.example").reply()
    other.header.id = 7
    assert not dns._answers(other.pack(), 7, asked)
    same = DNSRecord.question("EXAMPLE.org").reply()
    same.header.id = 7
    assert dns._answers(same.pack(), 7, asked) and not dns._answers(same.pack(), 8, asked)
    assert not dns._answers(DNSRecord.question("example.org").pack(), 0, asked)  # a query, not a reply
    assert QTYPE.A == asked.qtype
