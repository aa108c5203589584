"""The exit's handshake API types: what one end writes the other reads back, and what is malformed is refused
with what is wrong."""

import pytest

from octravpn.protocol import PeerRequest, Receipt
from octravpn.protocol.exitwire import (
    LEAVE_KEY,
    LeaveAnswer,
    LeaveAsk,
    PeerAsk,
    PeerGrant,
    ReceiptAsk,
    SignedReceipt,
    WireFormatError,
    close_path,
    receipt_request_path,
    receipts_path,
)
from octravpn.wireguard.keys import Keypair

KEY = Keypair.from_private(b"\x55" * 32)
SIGNATURE = bytes(range(65))


def test_every_type_reads_back_what_it_writes():
    ask = PeerAsk(
        request=PeerRequest(session_id=7, wg_pubkey=KEY.public, timestamp=1_800_000_000, receipts=False),
        signature=SIGNATURE,
    )
    assert PeerAsk.from_json(ask.to_json()) == ask and not ask.receipts
    grant = PeerGrant(
        session_id=7,
        exit_public_key=KEY.public,
        endpoint="198.51.100.2:51820",
        client_address="10.77.0.2/16",
        exit_address="10.77.0.1",
        dns=("203.0.113.53",),
    )
    assert PeerGrant.from_json(grant.to_json()) == grant
    receipt = Receipt(session_id=7, seq=3, bytes_used=10**6)
    asked = ReceiptAsk(receipt=receipt, operator_signature=SIGNATURE)
    assert ReceiptAsk.from_json(asked.to_json(), session_id=7) == asked
    signed = SignedReceipt(receipt=receipt, signature=SIGNATURE)
    assert SignedReceipt.from_json(signed.to_json(), session_id=7) == signed
    leave = LeaveAsk(timestamp=1_800_000_000, signature=SIGNATURE)
    assert LeaveAsk.from_json(7, leave.to_json()) == (LeaveAsk.request(7, 1_800_000_000), SIGNATURE)
    assert LeaveAsk.request(7, 1).wg_pubkey == LEAVE_KEY
    answer = LeaveAnswer(
        session_id=7, state="cut", reason="closed by the client", measured_bytes=5, receipt_request=asked
    )
    assert LeaveAnswer.from_json(answer.to_json()) == answer
    assert (receipt_request_path(7), receipts_path(7), close_path(7)) == (
        "/v1/sessions/7/receipt-request",
        "/v1/sessions/7/receipts",
        "/v1/sessions/7/close",
    )


@pytest.mark.parametrize(
    ("parse", "body", "says"),
    [
        (PeerAsk.from_json, [1], "must be a JSON object"),
        (PeerAsk.from_json, {"session_id": 7}, "missing fields: wg_pubkey, timestamp, signature"),
        (PeerAsk.from_json, {"session_id": 7, "wg_pubkey": "%%", "timestamp": 1, "signature": "0x00"}, "base64"),
        (
            PeerAsk.from_json,
            {"session_id": 7, "wg_pubkey": KEY.public_b64, "timestamp": 1, "signature": "0x", "receipts": 1},
            "receipts must be true or false",
        ),
        (PeerGrant.from_json, {"exit_public_key": KEY.public_b64}, "answer: missing fields: session_id, endpoint"),
        (
            PeerGrant.from_json,
            {
                "session_id": 7,
                "exit_public_key": KEY.public_b64,
                "endpoint": "x",
                "client_address": "nope",
                "exit_address": "10.77.0.1",
            },
            "client_address: 'nope' does not appear",
        ),
        (
            lambda body: ReceiptAsk.from_json(body, session_id=7),
            {"session_id": 7, "seq": 1, "bytes_used": -1, "operator_signature": "0x"},
            "receipt request: bytes_used must fit in uint256",
        ),
        (
            lambda body: ReceiptAsk.from_json(body, session_id=7),
            {"session_id": 8, "seq": 1, "bytes_used": 1, "operator_signature": "0x" + SIGNATURE.hex()},
            "for session 8, not 7",
        ),
        (lambda body: SignedReceipt.from_json(body, session_id=7), {"seq": 1}, "missing fields: bytes_used, signature"),
        (LeaveAnswer.from_json, {"state": "cut"}, "leaving: missing fields: session_id, measured_bytes"),
        (PeerGrant.from_json, {"v": 3}, "capability version 3: this reader takes 1 and 2"),
    ],
)
def test_what_is_malformed_is_refused_with_what_is_wrong(parse, body, says):
    with pytest.raises(WireFormatError, match=says):
        parse(body)
