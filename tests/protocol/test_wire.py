"""Wire messages from one table, and the capability version: an old reader and a new one read each other's
messages (a field added by the next version is passed on and its signature still checks), anything newer is
refused with a reason, and the tables are the only statement of a message's fields."""

import dataclasses

import pytest
from eth_account import Account

from octravpn.protocol.announce import ANNOUNCEMENT, SIGNED_ANNOUNCEMENT, Announcement, SignedAnnouncement
from octravpn.protocol.eip712 import PEER_REQUEST, Domain, PeerRequest, sign
from octravpn.protocol.errors import RemoteProtocolError
from octravpn.protocol.exitwire import PEER_ASK, PEER_GRANT, PeerAsk, PeerGrant
from octravpn.protocol.wire import CAPABILITY_VERSION, TEXT, Field, Message, extensions_hash

DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
DEVICE = Account.from_key(b"\x07" * 32)
NEXT = CAPABILITY_VERSION + 1
# What the next version's table would be: one field more, optional, marked with the version that added it.
REGION = Field("region", TEXT, default="", since=NEXT)
NEXT_SIGNED_ANNOUNCEMENT = Message(
    "announcement", SIGNED_ANNOUNCEMENT.fields + (REGION,), extensible=True, error=SIGNED_ANNOUNCEMENT.error
)
BASE = dict(
    tailnet_id=3,
    device=DEVICE.address,
    wg_pubkey=b"\x11" * 32,
    hostname="laptop",
    hostname_since=3,
    endpoints=("198.51.100.7:41641",),
    seq=5,
    expires=1_800_000_000,
)


def next_writer_announcement(region: str = "eu-west") -> dict:
    """An announcement as the next version's daemon writes it: its new member beside the rest, signed."""
    added = NEXT_SIGNED_ANNOUNCEMENT.added({"region": region}, NEXT)
    announcement = Announcement(**BASE, version=NEXT, added=added)
    return SignedAnnouncement(announcement=announcement, signature=sign(DOMAIN, announcement, DEVICE.key)).to_json()


def next_reader(body: dict) -> tuple[dict, str]:
    """The next version's reader: its values (the new field among them) and the signer it verifies."""
    values, added, writer = NEXT_SIGNED_ANNOUNCEMENT.load(body, version=NEXT)
    base = {k: v for k, v in values.items() if k not in ("signature", "region")}
    signer = SignedAnnouncement(
        announcement=Announcement(**base, version=writer, added=added), signature=values["signature"]
    ).verify(DOMAIN)
    return values, signer


def test_a_new_writers_announcement_is_read_by_an_old_reader_and_passed_on_untouched():
    body = next_writer_announcement()
    old = SignedAnnouncement.from_json(body)  # this version: it does not know `region`
    assert old.verify(DOMAIN) == DEVICE.address and old.announcement.hostname == "laptop"
    relayed = old.to_json()  # an old indexer stores and serves it
    assert relayed == body
    values, signer = next_reader(relayed)
    assert values["region"] == "eu-west" and signer == DEVICE.address


def test_an_old_writers_announcement_is_read_by_a_new_reader_with_the_new_fields_default():
    signed = SignedAnnouncement(
        announcement=Announcement(**BASE), signature=sign(DOMAIN, Announcement(**BASE), DEVICE.key)
    )
    values, signer = next_reader(signed.to_json())
    assert values["region"] == "" and signer == DEVICE.address


def test_a_new_field_is_signed_though_the_old_reader_cannot_read_it():
    body = {**next_writer_announcement(), "region": "ap-south"}  # changed on the way (an indexer, say)
    with pytest.raises(RemoteProtocolError, match="signed by"):
        SignedAnnouncement.from_json(body).verify(DOMAIN)
    with pytest.raises(RemoteProtocolError, match="signed by"):
        next_reader(body)


def test_a_message_two_versions_ahead_is_refused_with_a_reason_and_a_same_version_stranger_field_too():
    body = {**next_writer_announcement(), "v": CAPABILITY_VERSION + 2}
    with pytest.raises(RemoteProtocolError, match=f"this reader takes {CAPABILITY_VERSION} and {NEXT}; upgrade"):
        SignedAnnouncement.from_json(body)
    same = {**SignedAnnouncement(announcement=Announcement(**BASE), signature=b"\x00" * 65).to_json(), "region": "x"}
    with pytest.raises(RemoteProtocolError, match=r"unknown fields \['region'\] in a message of capability version 1"):
        SignedAnnouncement.from_json(same)


def test_an_old_client_reads_a_new_exits_answer_and_a_new_exit_a_client_that_signs_a_new_field():
    grant = PeerGrant(
        session_id=7,
        exit_public_key=b"\x22" * 32,
        endpoint="198.51.100.2:51820",
        client_address="10.77.0.2/16",
        exit_address="10.77.0.1",
    )
    newer = {**grant.to_json(), "v": NEXT, "mtu": 1380}
    assert PeerGrant.from_json(newer) == grant
    request = PeerRequest(session_id=7, wg_pubkey=b"\x33" * 32, timestamp=1, version=NEXT, added={"mtu": 1380})
    body = PeerAsk(request=request, signature=sign(DOMAIN, request, DEVICE.key)).to_json()
    read = PeerAsk.from_json(body)
    assert read.request.added == {"mtu": 1380} and read.request.struct_hash() == request.struct_hash()
    assert read.request.extensions == extensions_hash({"mtu": 1380}) != bytes(32)


@pytest.mark.parametrize(
    ("record", "table"),
    [(Announcement, ANNOUNCEMENT), (PeerRequest, PEER_REQUEST), (PeerGrant, PEER_GRANT)],
)
def test_each_record_has_exactly_its_tables_fields(record, table):
    attributes = [f.name for f in dataclasses.fields(record) if f.name not in ("version", "added")]
    assert attributes == [f.name for f in table.fields]


def test_the_schemas_are_the_tables():
    schema = PEER_ASK.schema()
    assert schema["required"] == ["session_id", "wg_pubkey", "timestamp", "signature"]
    assert set(schema["properties"]) == {"v", "session_id", "wg_pubkey", "timestamp", "receipts", "signature"}
    assert SIGNED_ANNOUNCEMENT.schema()["properties"]["endpoints"]["maxItems"] == 16
