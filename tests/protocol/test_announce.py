"""Device announcements: the EIP-712 hash matches eth-account's (dynamic fields included), every field is
checked, and only the device's own key signs its announcement."""

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from octravpn.protocol.announce import (
    MAX_LIFETIME,
    Announcement,
    MailboxRead,
    SignedAnnouncement,
    parse_endpoint,
)
from octravpn.protocol.eip712 import Domain, sign, typed_data
from octravpn.protocol.errors import LocalProtocolError, RemoteProtocolError
from octravpn.protocol.signedread import WINDOW as READ_WINDOW

DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
DEVICE, OTHER = Account.from_key(b"\x07" * 32), Account.from_key(b"\x08" * 32)


def _announcement(**changes) -> Announcement:
    fields = dict(
        tailnet_id=3,
        device=DEVICE.address,
        wg_pubkey=b"\x11" * 32,
        hostname="laptop",
        hostname_since=3,
        endpoints=("198.51.100.7:41641", "[2001:db8::7]:41641"),
        seq=5,
        expires=1_800_000_000,
    )
    return Announcement(**{**fields, **changes})


@pytest.mark.parametrize(
    "announcement",
    [
        _announcement(),
        _announcement(endpoints=()),
        _announcement(hostname="a", seq=2**64 - 1, expires=2**64 - 1),
    ],
)
def test_the_signature_is_what_eth_account_makes(announcement):
    document = typed_data(DOMAIN, announcement)
    expected = Account.sign_message(encode_typed_data(full_message=document), DEVICE.key).signature
    assert sign(DOMAIN, announcement, DEVICE.key) == expected


def test_a_signed_announcement_travels_and_verifies_as_its_devices():
    signed = SignedAnnouncement(announcement=_announcement(), signature=sign(DOMAIN, _announcement(), DEVICE.key))
    back = SignedAnnouncement.from_json(signed.to_json())
    assert back == signed and back.verify(DOMAIN) == DEVICE.address
    forged = SignedAnnouncement(announcement=_announcement(), signature=sign(DOMAIN, _announcement(), OTHER.key))
    with pytest.raises(RemoteProtocolError, match=f"signed by {OTHER.address}"):
        forged.verify(DOMAIN)
    changed = SignedAnnouncement(announcement=_announcement(seq=6), signature=signed.signature)
    with pytest.raises(RemoteProtocolError):
        changed.verify(DOMAIN)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"hostname": "Laptop"}, "one DNS label"),
        ({"hostname": "-x"}, "one DNS label"),
        ({"hostname": "a" * 64}, "DNS label"),
        ({"endpoints": ("laptop.lan:41641",)}, "does not appear to be an IPv4 or IPv6 address"),
        ({"endpoints": ("2001:db8::7:41641",)}, "brackets"),
        ({"endpoints": ("198.51.100.7:0",)}, "ADDRESS:PORT"),
        ({"endpoints": ("198.51.100.7:1",) * 2}, "each once"),
        ({"hostname": "bob-box\n"}, "one DNS label"),  # `$` once let a trailing newline through
        ({"hostname_since": 6}, "after the seq"),
        ({"expires": -1}, "uint64"),
        ({"seq": -1}, "uint64"),
        ({"wg_pubkey": b"\x11" * 31}, "32 bytes"),
        ({"device": "0x1234"}, "20-byte hex address"),
        ({"relay": "relay.example:41643"}, "relay: "),
        ({"relay": 41643}, "relay must be a string"),
    ],
)
def test_every_field_is_checked(changes, says):
    with pytest.raises(LocalProtocolError, match=says):
        _announcement(**changes)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([], "JSON object"),
        ({"tailnet_id": 3}, "missing"),
        ({**SignedAnnouncement(announcement=_announcement(), signature=b"\x00" * 65).to_json(), "extra": 1}, "unknown"),
        (
            {**SignedAnnouncement(announcement=_announcement(), signature=b"\x00" * 65).to_json(), "endpoints": "x"},
            "list",
        ),
        (
            {**SignedAnnouncement(announcement=_announcement(), signature=b"\x00" * 65).to_json(), "hostname": "A"},
            "DNS label",
        ),
    ],
)
def test_what_comes_over_the_wire_is_refused_with_what_is_wrong(body, says):
    with pytest.raises(RemoteProtocolError, match=says):
        SignedAnnouncement.from_json(body)


def test_endpoints_are_literal_addresses_with_ports():
    assert parse_endpoint("[2001:db8::7]:41641")[1] == 41641
    assert str(parse_endpoint("203.0.113.7:1")[0]) == "203.0.113.7"


def test_a_relay_endpoint_is_signed_with_the_rest():
    offered = _announcement(relay="198.51.100.7:41643")
    assert offered.relay == "198.51.100.7:41643" and _announcement().relay == ""
    assert offered.struct_hash() != _announcement().struct_hash()
    body = SignedAnnouncement(announcement=offered, signature=b"\x00" * 65).to_json()
    assert body["relay"] == "198.51.100.7:41643"
    assert SignedAnnouncement.from_json(body).announcement == offered


def test_an_announcement_is_fresh_until_its_expiry_and_never_signed_for_longer_than_receivers_take():
    announcement = _announcement(expires=1_000)
    announcement.check_fresh(999)
    with pytest.raises(RemoteProtocolError, match="expired"):
        announcement.check_fresh(1_000)
    with pytest.raises(RemoteProtocolError, match="from now"):
        announcement.check_fresh(1_000 - MAX_LIFETIME - 1)


def test_a_signed_mailbox_read_verifies_as_its_device_within_the_window():
    read = MailboxRead(subject=3, reader=DEVICE.address, timestamp=1_000)
    header = read.header(sign(DOMAIN, read, DEVICE.key))
    assert MailboxRead.from_header(header, subject=3, domain=DOMAIN, now=1_000 + READ_WINDOW) == read
    for value, now, tailnet, says in (
        (None, 1_000, 3, "needs a signed read"),
        ("Bearer x", 1_000, 3, "must be OctraVPN-Read"),
        (header, 1_000 + READ_WINDOW + 1, 3, "from the server's clock"),
        (header, 1_000, 4, "signed by"),  # a read of another tailnet
        (read.header(sign(DOMAIN, read, OTHER.key)), 1_000, 3, "signed by"),
        (header.replace(":0x", ":0xzz"), 1_000, 3, "signed read"),
    ):
        with pytest.raises(RemoteProtocolError, match=says):
            MailboxRead.from_header(value, subject=tailnet, domain=DOMAIN, now=now)


def test_a_mailbox_read_signature_is_what_eth_account_makes():
    read = MailboxRead(subject=3, reader=DEVICE.address, timestamp=1_000)
    document = typed_data(DOMAIN, read)
    expected = Account.sign_message(encode_typed_data(full_message=document), DEVICE.key).signature
    assert sign(DOMAIN, read, DEVICE.key) == expected
