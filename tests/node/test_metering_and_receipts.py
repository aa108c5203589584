"""Metering from WireGuard counters, and the receipt channel, with scripted counters."""

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from octravpn.node.api import create_app
from octravpn.node.handshake import ExitIdentity, HandshakeService
from octravpn.node.metering import SessionMeters
from octravpn.node.peers import ExitInterface, PeerSet
from octravpn.node.receipts import ReceiptChannel
from octravpn.node.store import NodeStore
from octravpn.protocol import PeerRequest, Receipt, recover, sign
from octravpn.protocol.exitwire import LEAVE_KEY, PARK_KEY
from octravpn.wireguard.engine import Engine
from octravpn.wireguard.keys import Keypair
from tests.fakehost import FakeHost
from tests.node.fakes import DOMAIN, EXIT_KEYS, NOW, OPENER, STRANGER, FakeChain, _body, read_header

MB = 1_000_000
RECEIPT_KEY = Account.from_key(b"\x66" * 32)  # the operator's registered receipt key
CLIENT = Keypair.from_private(b"\x55" * 32)


class Counters:
    """The client peer's WireGuard counters on the exit's host, which the test moves."""

    def __init__(self, host: FakeHost) -> None:
        self.host = host

    def _peer(self) -> dict:
        return self.host.interfaces["ovpn0"].peers[CLIENT.public_b64]

    rx = property(lambda self: self._peer()["rx"], lambda self, value: self._peer().__setitem__("rx", value))
    tx = property(lambda self: self._peer()["tx"], lambda self, value: self._peer().__setitem__("tx", value))


def exit_parts(host: FakeHost, store: NodeStore, **meter_options) -> tuple[HandshakeService, SessionMeters]:
    """The exit's handshake service and meters on `host`, as an agent's start wires them."""
    import ipaddress

    engine = Engine(host)
    peers = PeerSet(
        engine=engine,
        store=store,
        interface=ExitInterface(name="ovpn0", private_key=EXIT_KEYS.private, listen_port=51820, address="10.77.0.1/24"),
    )
    identity = ExitIdentity(
        operator=FakeChain().sessions[7].exit,
        wg_public_key=EXIT_KEYS.public,
        endpoint="198.51.100.7:51820",
        interface="ovpn0",
        tunnel_network=ipaddress.ip_network("10.77.0.0/24"),
    )
    handshake = HandshakeService(
        domain=DOMAIN, identity=identity, chain=FakeChain(), store=store, peers=peers, clock=lambda: NOW
    )
    meters = SessionMeters(
        store=store,
        engine=engine,
        peers=peers,
        interface="ovpn0",
        **{"receipt_every": 10 * MB, "max_unsigned": 25 * MB, **meter_options},
    )
    return handshake, meters


@pytest.fixture
def exit_node(tmp_path):
    runner, chain, store = FakeHost(), FakeChain(), NodeStore(tmp_path / "node.db")
    runner.interface("ovpn0", EXIT_KEYS.private_b64, address="10.77.0.1/24")
    handshake, meters = exit_parts(runner, store)
    channel = ReceiptChannel(domain=DOMAIN, chain=chain, store=store, meters=meters, receipt_key=RECEIPT_KEY.key)
    client = TestClient(create_app(handshake, channel))
    assert client.post("/v1/peers", json=_body()).status_code == 200
    counters = Counters(runner)
    yield client, counters, store, meters, runner, tmp_path
    store.close()


def _signed(seq, bytes_used, signer=OPENER, session_id=7):
    receipt = Receipt(session_id=session_id, seq=seq, bytes_used=bytes_used)
    return {"seq": seq, "bytes_used": bytes_used, "signature": "0x" + sign(DOMAIN, receipt, signer.key).hex()}


def test_requests_are_published_signed_and_stored(exit_node):
    client, counters, store, meters, *_ = exit_node
    assert client.get("/v1/sessions/7/receipt-request", headers=read_header()).status_code == 204
    counters.rx, counters.tx = 6 * MB, 4 * MB
    assert meters.tick() == []
    assert store.session(7).measured_bytes == 10 * MB
    request = client.get("/v1/sessions/7/receipt-request", headers=read_header()).json()
    operator_signature = bytes.fromhex(request.pop("operator_signature")[2:])
    assert request == {"v": 1, "session_id": 7, "seq": 1, "bytes_used": 10 * MB}
    assert recover(DOMAIN, Receipt(session_id=7, seq=1, bytes_used=10 * MB), operator_signature) == RECEIPT_KEY.address
    accepted = client.post("/v1/sessions/7/receipts", json=_signed(1, 10 * MB))
    assert accepted.status_code == 200 and accepted.json()["accepted"]
    assert store.latest_receipt(7)[0] == Receipt(session_id=7, seq=1, bytes_used=10 * MB)


def test_a_client_that_does_not_sign_is_cut(exit_node):
    client, counters, store, meters, runner, _ = exit_node
    counters.rx = 20 * MB
    meters.tick()
    counters.rx = 26 * MB
    (cut,) = meters.tick()
    assert cut[0] == 7 and cut[1].reason == "client lags in signing receipts"
    assert runner.interfaces["ovpn0"].peers == {}  # cut: no longer a peer
    assert store.session(7).state == "cut" and store.session(7).measured_bytes == 26 * MB
    assert meters.tick() == []  # cut sessions are no longer metered


def test_counters_that_restart_count_from_zero(exit_node):
    _, counters, store, meters, *_ = exit_node
    counters.rx = 5 * MB
    meters.tick()
    counters.rx = 2 * MB  # the peer was re-added: its counters began again
    meters.tick()
    assert store.session(7).measured_bytes == 7 * MB


def test_a_restarted_exit_meters_what_its_surviving_interface_carried_and_forgets_no_receipt(exit_node):
    client, counters, store, meters, runner, _ = exit_node
    counters.rx = 10 * MB
    meters.tick()
    client.post("/v1/sessions/7/receipts", json=_signed(1, 10 * MB))
    counters.rx = 12 * MB  # the interface outlived the agent and carried 2 MB meanwhile

    _, restarted = exit_parts(runner, store)
    restarted.tick()
    assert store.session(7).measured_bytes == 12 * MB
    counters.rx = 19 * MB
    restarted.tick()
    assert store.session(7).measured_bytes == 19 * MB
    assert restarted.meters[7].signed_bytes == 10 * MB
    assert restarted.outstanding(7) is None  # 9 MB unsigned: below the interval


def test_a_restarted_exit_on_a_new_interface_counts_from_zero(exit_node):
    _, counters, store, meters, runner, _ = exit_node
    counters.rx = 10 * MB
    meters.tick()
    counters.rx = 3 * MB  # the interface was recreated: its counters began again
    _, restarted = exit_parts(runner, store)
    restarted.tick()
    assert store.session(7).measured_bytes == 13 * MB


def test_lag_is_not_judged_while_the_exit_could_not_take_receipts(exit_node):
    _, counters, store, meters, *_ = exit_node
    counters.rx = 40 * MB  # far beyond max_unsigned, but the exit's chain was down
    assert meters.tick(judge_lag=False) == []
    assert store.session(7).state == "active" and meters.outstanding(7).bytes_used == 40 * MB
    (cut,) = meters.tick(judge_lag=True)  # judged again, and still unsigned
    assert cut[1].reason == "client lags in signing receipts"


@pytest.mark.parametrize(
    "body, status, reason",
    [
        (lambda: _signed(1, 10 * MB, signer=STRANGER), 403, "not signed by the session opener"),
        (lambda: _signed(1, 11 * MB), 400, "more bytes than the exit asked for"),
        (lambda: {"seq": 1}, 400, "missing fields: bytes_used, signature"),
        (lambda: {**_signed(1, 10 * MB), "signature": "0x12"}, 400, "65 bytes"),
        (lambda: {**_signed(1, 10 * MB), "bytes_used": -1}, 400, "bytes_used must fit in uint256"),
    ],
)
def test_bad_receipts_are_refused_and_not_stored(exit_node, body, status, reason):
    client, counters, store, meters, *_ = exit_node
    counters.rx = 10 * MB
    meters.tick()
    response = client.post("/v1/sessions/7/receipts", json=body())
    assert response.status_code == status and reason in response.json()["error"]
    assert store.latest_receipt(7) is None


def test_unknown_session_and_bad_path(exit_node):
    client, *_ = exit_node
    response = client.post("/v1/sessions/8/receipts", json=_signed(1, MB, session_id=8))
    assert response.status_code == 404 and "not served here" in response.json()["error"]
    response = client.get("/v1/sessions/not-a-number/receipt-request")
    assert response.status_code == 400 and "session_id" in response.json()["error"]


def _leave(signer=OPENER, timestamp=NOW + 1, key=LEAVE_KEY):  # after the join (at NOW)
    request = PeerRequest(session_id=7, wg_pubkey=key, timestamp=timestamp)
    return {"timestamp": timestamp, "signature": "0x" + sign(DOMAIN, request, signer.key).hex()}


def test_a_client_that_leaves_gets_a_last_request_and_the_peer_is_removed(exit_node):
    client, counters, store, meters, runner, _ = exit_node
    counters.rx = 10 * MB
    meters.tick()
    client.post("/v1/sessions/7/receipts", json=_signed(1, 10 * MB))
    counters.rx = 13 * MB
    response = client.post("/v1/sessions/7/close", json=_leave())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "cut" and body["reason"] == "closed by the client" and body["measured_bytes"] == 13 * MB
    assert (body["receipt_request"]["seq"], body["receipt_request"]["bytes_used"]) == (2, 13 * MB)
    assert runner.interfaces["ovpn0"].peers == {}  # cut: no longer a peer
    assert client.post("/v1/sessions/7/receipts", json=_signed(2, 13 * MB)).status_code == 200
    assert client.post("/v1/sessions/7/receipts", json=_signed(2, 13 * MB)).status_code == 200  # a retry
    assert meters.meters[7].fully_signed and store.receipt_count(7) == 2
    again = client.post("/v1/sessions/7/close", json=_leave(timestamp=NOW + 2)).json()
    assert again["state"] == "cut" and again["reason"] is None  # repeating it changes nothing


@pytest.mark.parametrize(
    "body, status, reason",
    [
        (lambda: _leave(signer=STRANGER), 403, "not signed by the session opener"),
        (lambda: _leave(timestamp=NOW - 1000), 401, "stale"),
        (lambda: {"timestamp": NOW}, 400, "missing fields: signature"),
        (lambda: [1], 400, "JSON object"),
    ],
)
def test_bad_leave_requests_change_nothing(exit_node, body, status, reason):
    client, counters, store, *_ = exit_node
    response = client.post("/v1/sessions/7/close", json=body())
    assert response.status_code == status and reason in response.json()["error"]
    assert store.session(7).state == "active"


def test_the_leave_key_is_not_a_peer(exit_node):
    client, *_ = exit_node
    response = client.post("/v1/peers", json=_body(key=LEAVE_KEY))
    assert response.status_code == 400 and "leave request" in response.json()["error"]
    response = client.post("/v1/peers", json=_body(key=PARK_KEY))
    assert response.status_code == 400 and "park the session" in response.json()["error"]


def test_a_client_that_parks_keeps_its_session_open_without_a_peer_and_joins_it_again(exit_node):
    """`down` without --end: the exit asks for what it has not asked for yet, takes the device's key away, and
    keeps the session (its deposit, its receipts' numbering) for the next `up`, which joins with a new key."""
    client, counters, store, meters, runner, _ = exit_node
    counters.rx = 10 * MB
    meters.tick()
    client.post("/v1/sessions/7/receipts", json=_signed(1, 10 * MB))
    counters.rx = 13 * MB
    response = client.post("/v1/sessions/7/park", json=_leave(key=PARK_KEY))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "active" and body["reason"] is None and body["measured_bytes"] == 13 * MB
    assert (body["receipt_request"]["seq"], body["receipt_request"]["bytes_used"]) == (2, 13 * MB)
    assert runner.interfaces["ovpn0"].peers == {} and store.session(7).parked_at is not None
    assert meters.tick() == [] and runner.interfaces["ovpn0"].peers == {}  # stays without a peer
    assert client.post("/v1/sessions/7/receipts", json=_signed(2, 13 * MB)).status_code == 200
    again = Keypair.from_private(b"\x56" * 32)
    joined = client.post("/v1/peers", json=_body(key=again.public, timestamp=NOW + 2))
    assert joined.status_code == 200, joined.text
    assert list(runner.interfaces["ovpn0"].peers) == [again.public_b64] and store.session(7).parked_at is None
    runner.interfaces["ovpn0"].peers[again.public_b64]["rx"] = 11 * MB  # the new key counts from zero
    meters.tick()
    assert store.session(7).measured_bytes == 24 * MB
    request = client.get("/v1/sessions/7/receipt-request", headers=read_header()).json()
    assert (request["seq"], request["bytes_used"]) == (3, 24 * MB)  # one numbering for the whole session


def test_a_device_that_reads_a_session_left_open_without_it_is_told_to_join_again(exit_node):
    """An exit leaves an idle session open without its device (asleep, say): the device, back, reads its receipt
    request and is told so (410), and only the session's signers are."""
    client, counters, store, meters, runner, _ = exit_node
    meters.park(7, NOW)
    refused = client.get("/v1/sessions/7/receipt-request", headers=read_header())
    assert refused.status_code == 410 and "join it again" in refused.json()["error"]
    stranger = client.get("/v1/sessions/7/receipt-request", headers=read_header(reader=STRANGER))
    assert stranger.status_code == 403
    assert client.post("/v1/peers", json=_body(timestamp=NOW + 1)).status_code == 200  # the same key, again
    assert client.get("/v1/sessions/7/receipt-request", headers=read_header()).status_code == 204
    assert list(runner.interfaces["ovpn0"].peers) == [CLIENT.public_b64]


def test_a_replayed_park_is_refused_also_after_the_exit_restarted(exit_node, tmp_path):
    """A park request captured on the plain-HTTP path and sent again once the device joined anew: the replay
    guard refuses it while it remembers; after a restart of the exit it once took the device's new key away
    under it (the device saw an exit still answering, and a tunnel carrying nothing). The exit now takes a
    session's requests only in the order they were signed."""
    client, counters, store, meters, runner, _ = exit_node
    parked = _leave(key=PARK_KEY)
    assert client.post("/v1/sessions/7/park", json=parked).status_code == 200
    again = Keypair.from_private(b"\x57" * 32)
    assert client.post("/v1/peers", json=_body(key=again.public, timestamp=NOW + 2)).status_code == 200
    handshake, restarted_meters = exit_parts(runner, store)  # a restart: a new, empty replay guard
    channel = ReceiptChannel(
        domain=DOMAIN, chain=FakeChain(), store=store, meters=restarted_meters, receipt_key=RECEIPT_KEY.key
    )
    restarted = TestClient(create_app(handshake, channel))
    replayed = restarted.post("/v1/sessions/7/park", json=parked)
    assert replayed.status_code == 409 and "older than one already taken" in replayed.json()["error"]
    assert store.session(7).parked_at is None and list(runner.interfaces["ovpn0"].peers) == [again.public_b64]
    older_join = restarted.post("/v1/peers", json=_body(timestamp=NOW + 1, key=CLIENT.public))
    assert older_join.status_code == 409  # nor can an older join move the session back to an earlier key


def test_a_park_and_a_leave_are_signed_apart(exit_node):
    """A signature to park cannot end the session (or a leave's keep it open): each signs its own key."""
    client, _, store, *_ = exit_node
    response = client.post("/v1/sessions/7/close", json=_leave(key=PARK_KEY))
    assert response.status_code == 403 and store.session(7).state == "active"
    response = client.post("/v1/sessions/7/park", json=_leave())
    assert response.status_code == 403 and store.session(7).parked_at is None
    for body, status in ((lambda: _leave(signer=STRANGER, key=PARK_KEY), 403), (lambda: {"timestamp": NOW}, 400)):
        assert client.post("/v1/sessions/7/park", json=body()).status_code == status
    assert store.session(7).parked_at is None and store.session(7).state == "active"


def test_the_receipt_request_is_for_the_sessions_signers_only(exit_node):
    """Anyone could once read a session's live metered bytes from the exit."""
    client, counters, _, meters, *_ = exit_node
    counters.rx = 12 * MB
    meters.tick()
    for headers, status, says in (
        ({}, 401, "needs a signed read"),
        (read_header(reader=STRANGER), 403, "for the session's opener or its devices"),
        ({"Authorization": read_header()["Authorization"].replace("OctraVPN-Session", "Bearer")}, 401, "must be"),
        (read_header(session_id=8), 401, "signed by"),  # a read of another session, shown for this one
    ):
        refused = client.get("/v1/sessions/7/receipt-request", headers=headers)
        assert refused.status_code == status and says in refused.json()["error"], refused.json()
    assert client.get("/v1/sessions/7/receipt-request", headers=read_header()).json()["bytes_used"] == 12 * MB
