"""The exit's handshake API: good requests add a peer; bad ones get a 4xx and change nothing."""

import ipaddress
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from octravpn.node.api import create_app
from octravpn.node.handshake import ExitIdentity, HandshakeService
from octravpn.node.peers import ExitInterface, PeerSet
from octravpn.node.store import NodeStore
from octravpn.wireguard.engine import Engine
from octravpn.wireguard.keys import Keypair
from tests.fakehost import FakeHost
from tests.node.fakes import CLIENT_KEYS, DEVICE, DOMAIN, EXIT, EXIT_KEYS, NOW, STRANGER, FakeChain, _body


def exit_host() -> FakeHost:
    """The exit's host with its interface up and no peer yet (as the agent's start leaves it)."""
    host = FakeHost()
    host.interface("ovpn0", EXIT_KEYS.private_b64, address="10.77.0.1/24")
    host.calls.clear()
    return host


OPENING_BUDGET = 16 * 10**6


def peer_set(host: FakeHost, store: NodeStore) -> PeerSet:
    return PeerSet(
        engine=Engine(host),
        store=store,
        interface=ExitInterface(name="ovpn0", private_key=EXIT_KEYS.private, listen_port=51820, address="10.77.0.1/24"),
        opening_budget=OPENING_BUDGET,
    )


def peers(host: FakeHost) -> dict[str, str]:
    return {key: peer["allowed"] for key, peer in host.interfaces["ovpn0"].peers.items()}


def exit_service(tmp_path, tunnel_network: str = "10.77.0.0/24", **options):
    """The exit's handshake service on a fake host and chain (`options`: the service's own)."""
    runner, chain, store = exit_host(), FakeChain(), NodeStore(tmp_path / "node.db")
    identity = ExitIdentity(
        operator=EXIT,
        wg_public_key=EXIT_KEYS.public,
        endpoint="198.51.100.7:51820",
        interface="ovpn0",
        tunnel_network=ipaddress.ip_network(tunnel_network),
        dns=("10.77.0.1",),
    )
    service = HandshakeService(
        domain=DOMAIN,
        identity=identity,
        chain=chain,
        store=store,
        clock=lambda: NOW,
        peers=peer_set(runner, store),
        **options,
    )
    return service, runner, chain, store


def exit_api(tmp_path, tunnel_network: str = "10.77.0.0/24"):
    service, runner, chain, store = exit_service(tmp_path, tunnel_network)
    return TestClient(create_app(service)), runner, chain, store


def test_a_full_exit_says_so_with_a_503_not_a_500(tmp_path):
    # Before: the exhausted pool was an unanswered StoreError, a bare 500.
    client, runner, chain, store = exit_api(tmp_path, "10.77.0.0/30")  # the exit's address and one client's
    chain.sessions[10] = replace(chain.sessions[7])
    try:
        assert client.post("/v1/peers", json=_body()).status_code == 200
        second = Keypair.from_private(b"\x67" * 32)
        response = client.post("/v1/peers", json=_body(session_id=10, key=second.public))
        assert response.status_code == 503 and "this exit is full" in response.json()["error"]
        assert "try another exit" in response.json()["error"] and list(peers(runner)) == [CLIENT_KEYS.public_b64]
    finally:
        store.close()


def test_opener_gets_a_peer_and_the_interface_details(setup):
    client, runner, _, store = setup
    response = client.post("/v1/peers", json=_body())
    assert response.status_code == 200, response.text
    assert response.json() == {
        "v": 1,
        "session_id": 7,
        "exit_public_key": EXIT_KEYS.public_b64,
        "endpoint": "198.51.100.7:51820",
        "client_address": "10.77.0.2/24",
        "exit_address": "10.77.0.1",
        "dns": ["10.77.0.1"],
        "allowed_ips": ["0.0.0.0/0", "::/0"],
    }
    assert peers(runner) == {CLIENT_KEYS.public_b64: "10.77.0.2/32"}
    record = store.session(7)
    assert (record.deposit, record.price_per_mb, record.tunnel_address) == (10**16, 2 * 10**12, "10.77.0.2")


def test_a_device_of_the_opener_can_move_the_session_to_its_key(setup):
    client, runner, _, store = setup
    assert client.post("/v1/peers", json=_body()).status_code == 200
    laptop = Keypair.from_private(b"\x66" * 32)
    response = client.post("/v1/peers", json=_body(DEVICE, timestamp=NOW + 1, key=laptop.public))
    assert response.status_code == 200 and response.json()["client_address"] == "10.77.0.2/24"
    assert peers(runner) == {laptop.public_b64: "10.77.0.2/32"}  # the old key is no longer a peer
    assert store.session(7).wg_pubkey == laptop.public


def test_exit_info(setup):
    client, *_ = setup
    assert client.get("/v1/info").json() == {
        "operator": EXIT,
        "wg_public_key": EXIT_KEYS.public_b64,
        "endpoint": "198.51.100.7:51820",
        "exit_address": "10.77.0.1",
    }


BAD = [
    ("bad signature", lambda: _body(STRANGER), 403, "not signed by the session opener"),
    ("wrong session", lambda: _body(session_id=99), 404, "session 99 does not exist"),
    ("someone else's session", lambda: _body(session_id=8), 403, "served by another exit"),
    ("settled session", lambda: _body(session_id=9), 409, "is not open"),
    ("old request", lambda: _body(timestamp=NOW - 600), 401, "stale peer request"),
    ("missing fields", lambda: {"session_id": 7}, 400, "missing fields: wg_pubkey, timestamp, signature"),
    ("bad key", lambda: {**_body(), "wg_pubkey": "%%"}, 400, "not base64"),
    ("bad number", lambda: {**_body(), "session_id": -1}, 400, "session_id must fit in uint256"),
    ("bad hex", lambda: {**_body(), "signature": "0xzz"}, 400, "non-hexadecimal"),
    ("short signature", lambda: {**_body(), "signature": "0x1234"}, 400, "65 bytes"),
    ("not an object", lambda: [1, 2], 400, "must be a JSON object"),
]


@pytest.mark.parametrize("name, body, status, reason", BAD, ids=[b[0] for b in BAD])
def test_bad_handshakes_get_a_4xx_and_change_nothing(setup, name, body, status, reason):
    client, runner, _, store = setup
    response = client.post("/v1/peers", json=body())
    assert response.status_code == status, response.text
    assert reason in response.json()["error"]
    assert runner.changes == [] and store.sessions() == []


def test_malformed_json(setup):
    client, runner, _, store = setup
    response = client.post("/v1/peers", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "not JSON" in response.json()["error"]
    assert runner.changes == [] and store.sessions() == []


def test_replayed_request_is_refused_and_changes_nothing(setup):
    client, runner, _, store = setup
    body = _body()
    assert client.post("/v1/peers", json=body).status_code == 200
    changes = list(runner.changes)
    response = client.post("/v1/peers", json=body)
    assert response.status_code == 409 and "replayed" in response.json()["error"]
    assert runner.changes == changes


def test_chain_outage_is_a_503_not_a_500(setup):
    client, runner, chain, _ = setup
    chain.down = True
    response = client.post("/v1/peers", json=_body())
    assert response.status_code == 503 and "cannot read the chain" in response.json()["error"]
    assert runner.changes == []


def test_a_wireguard_failure_is_a_503_and_a_retry_succeeds(setup):
    from octravpn.wireguard.runner import CommandError

    client, runner, _, store = setup
    runner.failing[("wg", "syncconf")] = CommandError(
        ["wg", "syncconf"], 1, "Unable to modify interface: No such device"
    )
    first = client.post("/v1/peers", json=_body())
    assert first.status_code == 503 and "could not configure WireGuard" in first.json()["error"]
    runner.failing.clear()
    retry = client.post("/v1/peers", json=_body(timestamp=NOW + 1))
    assert retry.status_code == 200 and retry.json()["client_address"] == "10.77.0.2/24"


def test_a_session_the_exit_cut_cannot_be_rejoined(setup):
    client, runner, _, store = setup
    assert client.post("/v1/peers", json=_body()).status_code == 200
    store.set_state(7, "cut")
    changes = list(runner.changes)
    response = client.post("/v1/peers", json=_body(timestamp=NOW + 1))
    assert response.status_code == 409 and "was ended by the exit (cut)" in response.json()["error"]
    assert runner.changes == changes
