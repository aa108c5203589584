"""An exit takes a device whose session's open is still being mined, only for a transaction that opens that very
session through this exit and would succeed now; it sends the transaction itself, and serves a held budget until
the open is mined. Every other transaction is refused with a 4xx that says why, and changes nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from web3 import Web3

from octravpn.node.api import create_app
from octravpn.node.opening import never_landed
from octravpn.protocol.exitwire import OpeningAsk, PeerAsk
from tests.node.fakes import (
    CLIENT_KEYS,
    DEVICE,
    EXIT,
    NOW,
    OPENER,
    STRANGER,
    _body,
    open_tx,
    signed_call,
)
from tests.node.test_handshake_api import OPENING_BUDGET, exit_service, peer_set, peers

EXIT_CHECKSUM = Web3.to_checksum_address(EXIT)


def opening_body(raw: bytes, session_id: int, signer=OPENER) -> dict:
    ask = PeerAsk.from_json(_body(signer=signer, session_id=session_id))
    return OpeningAsk(ask=ask, open_tx=raw).to_json()


def test_an_opening_is_taken_sent_and_stored_as_not_mined_yet(setup):
    client, runner, chain, store = setup
    raw, session_id = open_tx()
    response = client.post("/v1/peers/opening", json=opening_body(raw, session_id))
    assert response.status_code == 200, response.text
    assert response.json()["session_id"] == session_id
    assert chain.sent == [raw]  # the exit sent it itself: the device cannot keep it back
    record = store.stored_session(session_id)
    assert record.opening and record.opener == OPENER.address and record.deposit == 10**16
    assert record.opened_at == NOW and record.settle_by is None
    assert peers(runner) == {CLIENT_KEYS.public_b64: f"{record.tunnel_address}/32"}


def test_an_opening_that_carried_its_budget_carries_nothing_until_its_open_is_mined(setup):
    """The peer stays (its handshake lives on) with no address to carry; the open mined, it carries again."""
    client, runner, chain, store = setup
    raw, session_id = open_tx()
    assert client.post("/v1/peers/opening", json=opening_body(raw, session_id)).status_code == 200
    address = f"{store.stored_session(session_id).tunnel_address}/32"
    set_peers = peer_set(runner, store)
    store.update_measured(session_id, OPENING_BUDGET - 1)
    set_peers.apply()
    assert peers(runner) == {CLIENT_KEYS.public_b64: address}
    store.update_measured(session_id, OPENING_BUDGET)
    set_peers.apply()
    assert peers(runner) == {CLIENT_KEYS.public_b64: "(none)"}
    store.set_opened(session_id, deposit=10**16, price_per_mb=10**12, opened_at=NOW + 2, settle_by=NOW + 86_402)
    set_peers.apply()
    assert peers(runner) == {CLIENT_KEYS.public_b64: address}


def test_a_join_again_while_the_open_is_mined_is_taken_from_the_store(setup):
    """A rejoin (a new key, say) before the block: the chain does not know the session yet, the exit does."""
    client, _, chain, store = setup
    raw, session_id = open_tx()
    assert client.post("/v1/peers/opening", json=opening_body(raw, session_id)).status_code == 200
    again = _body(session_id=session_id, timestamp=NOW + 1)
    assert client.post("/v1/peers", json=again).status_code == 200
    stranger = _body(signer=STRANGER, session_id=session_id, timestamp=NOW + 2)
    assert client.post("/v1/peers", json=stranger).status_code == 403


def test_an_opening_mined_meanwhile_is_an_ordinary_join(setup):
    client, _, chain, store = setup
    raw, _ = open_tx()
    response = client.post("/v1/peers/opening", json=opening_body(raw, 7))  # session 7 is on chain
    assert response.status_code == 200 and chain.sent == []
    assert not store.stored_session(7).opening


@pytest.mark.parametrize(
    ("tx", "status", "reason"),
    [
        (dict(chain_id=1), 400, "is for chain 1; this exit serves chain 31337"),
        (dict(exit="0x" + "e2" * 20), 403, "is served by another exit"),
        (dict(value=1), 400, "sends value"),
        (dict(to="0x" + "11" * 20), 400, "is not a call of the contract"),
        (dict(nonce=3), 409, "it would wait for a transaction nobody sent"),
        (dict(max_fee=10**8), 409, "below the base fee"),
    ],
)
def test_a_transaction_that_is_not_this_sessions_open_here_is_refused(setup, tx, status, reason):
    client, runner, chain, store = setup
    raw, session_id = open_tx(**tx)
    response = client.post("/v1/peers/opening", json=opening_body(raw, session_id))
    assert response.status_code == status and reason in response.json()["error"], response.text
    assert chain.sent == [] and store.session(session_id) is None and peers(runner) == {}


def test_an_open_behind_its_senders_transactions_in_the_mempool_is_taken_and_one_mined_is_not(setup):
    """The open of the session a device ended a moment ago may still wait for its block: the next one queues
    behind it. One whose nonce was used already is mined or replaced."""
    client, _, chain, store = setup
    chain.mined[OPENER.address], chain.waiting[OPENER.address] = 4, 1
    raw, session_id = open_tx(nonce=5)
    assert client.post("/v1/peers/opening", json=opening_body(raw, session_id)).status_code == 200
    old, old_id = open_tx(nonce=3, salt=6)
    response = client.post("/v1/peers/opening", json=opening_body(old, old_id))
    assert response.status_code == 409 and "it was mined or replaced" in response.json()["error"]


def test_an_open_that_would_fail_is_refused_with_the_contracts_reason(setup):
    client, _, chain, store = setup
    chain.revert = "caller is not a member"
    raw, session_id = open_tx()
    response = client.post("/v1/peers/opening", json=opening_body(raw, session_id))
    assert response.status_code == 409 and "would fail: caller is not a member" in response.json()["error"]
    assert chain.sent == [] and store.session(session_id) is None


def test_a_join_must_name_the_session_the_transaction_opens(setup):
    client, _, chain, store = setup
    raw, session_id = open_tx()
    response = client.post("/v1/peers/opening", json=opening_body(raw, session_id + 1))
    assert response.status_code == 400 and f"opens session {session_id}" in response.json()["error"]


def test_only_the_key_that_signed_the_open_joins_it_before_it_is_mined(setup):
    """A device of the opener's wallet joins once the open is mined; before, only the sender's own key, so a
    transaction copied from the mempool is no free tunnel for whoever saw it."""
    client, _, chain, store = setup
    raw, session_id = open_tx()
    for signer in (DEVICE, STRANGER):
        response = client.post("/v1/peers/opening", json=opening_body(raw, session_id, signer=signer))
        assert response.status_code == 403, response.text
    assert store.session(session_id) is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x02\x01\x02", "cannot be decoded"),
        (b"\x7f" + b"\x00" * 40, "neither an EIP-1559 nor a legacy transaction"),
        (b"", "neither an EIP-1559 nor a legacy transaction"),
    ],
)
def test_bytes_that_are_no_transaction_get_a_400(setup, raw, reason):
    client, _, chain, store = setup
    response = client.post("/v1/peers/opening", json=opening_body(raw, 12))
    assert response.status_code == 400 and reason in response.json()["error"]


@pytest.mark.parametrize("arguments", [b"", b"\x01" * 10, b"\xff" * 160], ids=["none", "cut-short", "junk-padding"])
def test_an_open_session_call_whose_arguments_do_not_decode_gets_a_400(setup, arguments):
    """Signed, to this contract, with open_session's selector: the arguments are still hostile bytes."""
    client, _, chain, store = setup
    selector = bytes.fromhex(chain.contract.encode_abi("open_session", args=[0, EXIT_CHECKSUM, 1, 1, 1])[2:10])
    raw = signed_call(OPENER, selector + arguments)
    response = client.post("/v1/peers/opening", json=opening_body(raw, 12))
    assert response.status_code == 400 and "is not a call of open_session" in response.json()["error"]
    assert chain.sent == [] and store.session(12) is None


def test_another_function_of_the_contract_is_refused(setup):
    client, _, chain, _ = setup
    raw, session_id = open_tx()
    other = signed_call(OPENER, chain.contract.encode_abi("withdraw_program_treasury", args=[OPENER.address, 1]))
    response = client.post("/v1/peers/opening", json=opening_body(other, session_id))
    assert (
        response.status_code == 400 and "calls withdraw_program_treasury, not open_session" in response.json()["error"]
    )


def test_a_sender_whose_opening_never_landed_waits_for_its_blocks(tmp_path):
    client, _, chain, store, service = opening_api(tmp_path)
    try:
        service.refuse_openings_of(OPENER.address)
        raw, session_id = open_tx()
        response = client.post("/v1/peers/opening", json=opening_body(raw, session_id))
        assert response.status_code == 409 and "never landed" in response.json()["error"]
        assert chain.sent == [] and store.session(session_id) is None
        other, other_id = open_tx(DEVICE)  # another sender is not held to it
        assert client.post("/v1/peers/opening", json=opening_body(other, other_id, signer=DEVICE)).status_code == 200
    finally:
        store.close()


def test_an_exit_that_takes_no_openings_says_wait_for_the_block(tmp_path):
    client, _, chain, store, _ = opening_api(tmp_path, takes_openings=False)
    try:
        raw, session_id = open_tx()
        response = client.post("/v1/peers/opening", json=opening_body(raw, session_id))
        assert response.status_code == 409 and "wait for the block" in response.json()["error"]
        assert chain.sent == []
    finally:
        store.close()


def opening_api(tmp_path, **options):
    service, runner, chain, store = exit_service(tmp_path, **options)
    return TestClient(create_app(service)), runner, chain, store, service


@pytest.mark.parametrize(
    ("outcome", "age", "expected"),
    [
        ("pending", 599, None),
        ("unknown", 599, None),  # dropped from a mempool: its device sends it again
        ("mined", 10_000, None),  # its event is on its way
        ("pending", 600, "its open transaction was not mined in 600s"),
        ("unknown", 601, "its open transaction was not mined in 600s"),
        ("reverted", 1, "its open transaction failed (exit not configured)"),
    ],
)
def test_an_opening_never_landed_if_its_open_failed_or_was_not_mined_in_time(outcome, age, expected):
    assert never_landed(outcome, "exit not configured", age=age, wait=600) == expected
