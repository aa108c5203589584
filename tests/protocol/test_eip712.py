import json
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data

from octravpn.protocol import (
    Device,
    Domain,
    Join,
    LocalProtocolError,
    PeerRequest,
    Receipt,
    ReceiptSigner,
    RemoteProtocolError,
    digest,
    recover,
    sign,
    typed_data,
)

VECTORS = json.loads(Path(__file__).with_name("vectors.json").read_text())
KEY = bytes.fromhex(VECTORS["private_key"][2:])
SIGNER = VECTORS["signer"]
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
DOMAIN = Domain(chain_id=31337, verifying_contract="0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")


def _message(vector):
    m = vector["message"]
    if vector["type"] == "Receipt":
        return Receipt(session_id=int(m["sessionId"]), seq=int(m["seq"]), bytes_used=int(m["bytesUsed"]))
    if vector["type"] == "Join":
        return Join(tailnet_id=int(m["tailnetId"]), member=m["member"])
    if vector["type"] == "Device":
        return Device(wallet=m["wallet"])
    if vector["type"] == "ReceiptSigner":
        return ReceiptSigner(operator=m["operator"])
    request = PeerRequest(
        session_id=int(m["sessionId"]),
        wg_pubkey=bytes.fromhex(m["wgPubkey"]),
        timestamp=int(m["timestamp"]),
        receipts=m["receipts"],
        version=int(m["version"]),
    )
    assert request.extensions.hex() == m["extensions"]
    return request


def _domain(vector):
    return Domain(chain_id=vector["domain"]["chainId"], verifying_contract=vector["domain"]["verifyingContract"])


def test_type_strings_are_the_ones_the_contract_hashes():
    assert Receipt.encode_type() == "Receipt(uint256 sessionId,uint64 seq,uint256 bytesUsed)"
    assert Join.encode_type() == "Join(uint256 tailnetId,address member)"
    assert Device.encode_type() == "Device(address wallet)"
    assert ReceiptSigner.encode_type() == "ReceiptSigner(address operator)"


def test_a_peer_request_signs_whether_it_signs_receipts_and_what_later_versions_add():
    assert PeerRequest.encode_type() == (
        "PeerRequest(uint256 sessionId,bytes32 wgPubkey,uint64 timestamp,bool receipts,uint16 version,"
        "bytes32 extensions)"
    )
    plain = PeerRequest(session_id=1, wg_pubkey=b"\xaa" * 32, timestamp=0)
    assert (
        plain.struct_hash()
        != PeerRequest(session_id=1, wg_pubkey=b"\xaa" * 32, timestamp=0, receipts=False).struct_hash()
    )


@pytest.mark.parametrize(
    "vector", VECTORS["vectors"], ids=lambda v: f"{v['type']}-{v['domain']['chainId']}-{v['digest'][:10]}"
)
def test_golden_vectors(vector):
    domain, message = _domain(vector), _message(vector)
    assert "0x" + digest(domain, message).hex() == vector["digest"]
    assert "0x" + sign(domain, message, KEY).hex() == vector["signature"]
    assert recover(domain, message, bytes.fromhex(vector["signature"][2:])) == SIGNER


@pytest.mark.parametrize(
    "message",
    [
        Receipt(session_id=5, seq=1, bytes_used=10**12),
        Join(tailnet_id=0, member=SIGNER),
        Device(wallet=SIGNER),
        ReceiptSigner(operator=SIGNER),
        PeerRequest(session_id=1, wg_pubkey=b"\xaa" * 32, timestamp=0),
        PeerRequest(session_id=1, wg_pubkey=b"\xaa" * 32, timestamp=0, receipts=False, version=2, added={"x": [1]}),
    ],
)
def test_matches_eth_account_typed_data_signer(message):
    signable = encode_typed_data(full_message=typed_data(DOMAIN, message))
    assert _hash_eip191_message(signable) == digest(DOMAIN, message)
    assert bytes(Account.sign_message(signable, KEY).signature) == sign(DOMAIN, message, KEY)


def test_signature_is_bound_to_chain_and_contract():
    receipt = Receipt(session_id=1, seq=1, bytes_used=1)
    signature = sign(DOMAIN, receipt, KEY)
    other_chain = Domain(chain_id=1, verifying_contract=DOMAIN.verifying_contract)
    other_contract = Domain(chain_id=31337, verifying_contract="0x" + "12" * 20)
    assert recover(other_chain, receipt, signature) != SIGNER
    assert recover(other_contract, receipt, signature) != SIGNER


def test_signatures_are_low_s():
    for seq in range(40):
        signature = sign(DOMAIN, Receipt(session_id=1, seq=seq, bytes_used=seq), KEY)
        assert int.from_bytes(signature[32:64], "big") <= N // 2
        assert signature[64] in (27, 28)


def test_recover_rejects_high_s():
    receipt = Receipt(session_id=1, seq=1, bytes_used=1)
    signature = sign(DOMAIN, receipt, KEY)
    s = int.from_bytes(signature[32:64], "big")
    malleated = signature[:32] + (N - s).to_bytes(32, "big") + bytes([55 - signature[64]])
    with pytest.raises(RemoteProtocolError, match="high-s"):
        recover(DOMAIN, receipt, malleated)


@pytest.mark.parametrize(
    "signature, reason",
    [
        (b"\x00" * 64, "65 bytes"),
        (b"\x01" * 64 + bytes([30]), "v must be 27 or 28"),
        (bytes(64) + bytes([27]), "does not recover"),
    ],
)
def test_recover_rejects_malformed_signatures(signature, reason):
    with pytest.raises(RemoteProtocolError, match=reason):
        recover(DOMAIN, Receipt(session_id=1, seq=1, bytes_used=1), signature)


def test_recover_accepts_v_as_0_or_1():
    receipt = Receipt(session_id=3, seq=3, bytes_used=3)
    signature = sign(DOMAIN, receipt, KEY)
    assert recover(DOMAIN, receipt, signature[:64] + bytes([signature[64] - 27])) == SIGNER


@pytest.mark.parametrize(
    "build, reason",
    [
        (lambda: Receipt(session_id=-1, seq=0, bytes_used=0), "session_id must fit in uint256"),
        (lambda: Receipt(session_id=0, seq=2**64, bytes_used=0), "seq must fit in uint64"),
        (lambda: Receipt(session_id=0, seq=0, bytes_used=2**256), "bytes_used must fit in uint256"),
        (lambda: Receipt(session_id=0, seq=True, bytes_used=0), "seq must be an integer"),
        (lambda: Receipt(session_id="1", seq=0, bytes_used=0), "session_id must be an integer"),
        (lambda: Join(tailnet_id=0, member="0x1234"), "member must be a 20-byte hex address"),
        (lambda: Device(wallet="0x1234"), "wallet must be a 20-byte hex address"),
        (lambda: ReceiptSigner(operator=None), "operator must be a 20-byte hex address"),
        (lambda: PeerRequest(session_id=0, wg_pubkey=b"\x00" * 31, timestamp=0), "wg_pubkey must be 32 bytes"),
        (lambda: PeerRequest(session_id=0, wg_pubkey=b"\x00" * 32, timestamp=-5), "timestamp must fit in uint64"),
        (lambda: Domain(chain_id=0, verifying_contract=SIGNER), "chain_id must be non-zero"),
        (lambda: Domain(chain_id=1, verifying_contract="not-an-address"), "verifying_contract must be"),
    ],
)
def test_invalid_messages_are_refused_at_construction(build, reason):
    with pytest.raises(LocalProtocolError, match=reason):
        build()


def test_sign_refuses_a_bad_key():
    with pytest.raises(LocalProtocolError, match="32 bytes"):
        sign(DOMAIN, Receipt(session_id=0, seq=0, bytes_used=0), b"\x01" * 31)
    with pytest.raises(LocalProtocolError, match="invalid private key"):
        sign(DOMAIN, Receipt(session_id=0, seq=0, bytes_used=0), b"\x00" * 32)


def test_messages_are_frozen_and_checksum_addresses():
    join = Join(tailnet_id=1, member=SIGNER.lower())
    assert join.member == SIGNER
    with pytest.raises(AttributeError):
        join.tailnet_id = 2  # type: ignore[misc]
