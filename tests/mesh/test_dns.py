"""The mesh's names: answered here for the tailnet, passed on unchanged for everything else, garbage dropped."""

import ipaddress

from dnslib import RCODE, DNSHeader, DNSQuestion, DNSRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from octravpn.mesh.dns import RESOLVER_ADDRESS, SUFFIX, answer, is_ours, nameservers, resolv_conf

NAMES = {"db": (ipaddress.ip_address("100.64.0.9"), ipaddress.ip_address("fd7a:7670:6e00::9"))}


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


def test_the_resolver_configuration_it_writes_and_reads():
    text = resolv_conf(["192.0.2.1"])
    assert is_ours(text) and f"nameserver {RESOLVER_ADDRESS}" in text and f"search {SUFFIX}" in text
    assert nameservers("nameserver 192.0.2.1\nnameserver fe80::1%eth0\n# nameserver 9.9.9.9\nnameserver bad\n") == [
        "192.0.2.1",
        "fe80::1",
    ]
    assert nameservers(text) == [] and not is_ours("nameserver 192.0.2.1\n")


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
