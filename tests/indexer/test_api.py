"""The discovery API over an index of a real anvil history, on SQLite and PostgreSQL."""

import base64
import time

import pytest
from eth_hash.auto import keccak
from fastapi.testclient import TestClient

from octravpn.indexer.api import ChainReader, create_app
from octravpn.indexer.queries import Queries
from octravpn.indexer.rpc import JsonRpc
from tests.indexer.conftest import index_chain, new_database

ACL = b'{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}'


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request, history, network, tmp_path_factory):
    engine = new_database(request, request.param, tmp_path_factory.mktemp("api"))
    index_chain(engine, network)
    rpc = JsonRpc(network.rpc_url)
    yield TestClient(create_app(Queries(engine), ChainReader(rpc, network.contract)))
    rpc.close()
    engine.dispose()


def test_exits_filter_sort_and_page(api, accounts):
    op_a, op_b, op_c, op_d = (accounts[i].address for i in (1, 2, 3, 9))
    everyone = api.get("/v1/exits", params={"active": "false"}).json()
    assert everyone["total"] == 4 and {e["address"] for e in everyone["items"]} == {op_a, op_b, op_c, op_d}
    active = api.get("/v1/exits").json()  # B and C were slashed; D's 1 ETH is below the raised minimum of 1.5
    assert [e["address"] for e in active["items"]] == [op_a]
    assert active["items"][0]["price_per_mb"] == str(3 * 10**12) and active["items"][0]["region"] == "eu-central"
    assert base64.b64decode(active["items"][0]["wg_pubkey"]) == keccak(b"rotated")
    by_stake = api.get("/v1/exits", params={"sort": "-stake", "active": "false"}).json()["items"]
    assert [e["address"] for e in by_stake][:2] == [op_a, op_d]
    assert api.get("/v1/exits", params={"region": "ap-south"}).json()["total"] == 0
    assert [
        e["address"] for e in api.get("/v1/exits", params={"region": "ap-south", "active": "false"}).json()["items"]
    ] == [op_d]
    cheap = api.get("/v1/exits", params={"max_price": 3 * 10**12, "active": "false", "sort": "-price"}).json()["items"]
    assert [e["address"] for e in cheap] == [op_a, op_b, op_c]  # 3e12, 2e12, 5e11
    assert api.get("/v1/exits", params={"min_stake": 2 * 10**18}).json()["total"] == 1
    assert api.get("/v1/exits", params={"min_reputation": 10**15}).json()["items"][0]["address"] == op_a
    assert [e["address"] for e in api.get("/v1/exits", params={"tailnet": 1, "active": "false"}).json()["items"]] == [
        op_d
    ]
    page = api.get("/v1/exits", params={"active": "false", "limit": 1, "offset": 1, "sort": "price"}).json()
    assert page["total"] == 4 and len(page["items"]) == 1 and page["offset"] == 1


def test_one_exit_and_operator(api, accounts, vpn):
    op_a, op_b = accounts[1].address, accounts[2].address
    exit_a = api.get(f"/v1/exits/{op_a.lower()}").json()
    # Reputation: value settled for tailnets A does not own (two sessions in the history)
    assert exit_a["reputation"] == vpn.endpoint(op_a).reputation > 0 and exit_a["active"] is True
    operator_b = api.get(f"/v1/operators/{op_b}").json()
    assert operator_b["slashed"] is True and operator_b["stake"] == "0" and operator_b["exit"]["active"] is False
    operator_a = api.get(f"/v1/operators/{op_a}").json()
    assert operator_a["earnings"] == "0" and int(operator_a["claimed_total"]) == int(operator_a["earned_total"]) > 0
    assert operator_a["sessions_settled"] == 2 and operator_a["bytes_served"] == 1500 * 10**6
    assert api.get(f"/v1/exits/{accounts[4].address}").status_code == 404


def test_tailnet_and_sessions(api, accounts, vpn):
    alice, bob, carol, bystander = (accounts[i].address for i in (4, 5, 6, 8))
    tailnet = api.get("/v1/tailnets/0").json()
    assert {m["address"] for m in tailnet["members"]} == {alice, bob, bystander}
    assert {e["address"] for e in tailnet["exits"]} == {accounts[1].address, accounts[2].address}
    assert tailnet["treasury"] == str(vpn.tailnet(0).treasury) and tailnet["acl_hash"] == "0x" + keccak(ACL).hex()
    assert [t["id"] for t in api.get("/v1/tailnets", params={"member": bob}).json()["items"]] == [0, 1]
    assert api.get("/v1/tailnets", params={"member": carol}).json()["total"] == 0
    opened = vpn.opened_sessions()  # ids are hashes: the nth session opened is opened[n]
    sessions = api.get("/v1/sessions", params={"tailnet": 0}).json()
    assert [s["id"] for s in sessions["items"]] == opened[::-1]  # newest first
    assert [s["id"] for s in api.get("/v1/sessions", params={"status": "open"}).json()["items"]] == [
        opened[i] for i in (9, 5, 4)
    ]
    assert [
        s["id"] for s in api.get("/v1/sessions", params={"opener": bob, "exit": accounts[1].address}).json()["items"]
    ] == [opened[2]]
    disputed = api.get(f"/v1/sessions/{opened[2]}").json()
    assert disputed["disputed"] and disputed["close_reason"] == "receipt" and disputed["bytes_used"] == 800 * 10**6
    assert [e["name"] for e in disputed["events"]] == [
        "SessionOpened",
        "SettleClaimed",
        "SettleDispute",
        "SettledByReceipt",
        "SessionSettled",
    ]
    assert api.get("/v1/sessions/99").status_code == 404
    # Paid while open: two checkpoints (one in a batch) and a top-up; the batch's other item was skipped.
    paid_while_open = api.get(f"/v1/sessions/{opened[5]}").json()
    assert (paid_while_open["status"], paid_while_open["checkpoints"], paid_while_open["bytes_paid"]) == (
        "open",
        2,
        250 * 10**6,
    )
    record = vpn.session(opened[5])
    assert paid_while_open["deposit"] == str(record.deposit) and paid_while_open["total_paid"] == str(record.paid)
    assert "SettlementSkipped" not in [e["name"] for e in paid_while_open["events"]]
    assert "SettlementSkipped" in [e["name"] for e in api.get(f"/v1/sessions/{opened[0]}").json()["events"]]
    # Checkpointed, then a no-show: what the checkpoint paid stays paid.
    refunded = api.get(f"/v1/sessions/{opened[8]}").json()
    assert (refunded["status"], refunded["close_reason"], refunded["bytes_paid"]) == ("refunded", "no-show", 50 * 10**6)


def test_stats_and_health(api, vpn):
    stats = api.get("/v1/stats").json()
    assert stats["sessions"] == {"open": 3, "settled": 3, "refunded": 4}
    assert stats["exits_active"] == 1 and stats["regions"] == ["eu-central"] and stats["exits_registered"] == 4
    assert stats["program_treasury"] == str(vpn.program_treasury()) and stats["owner"] == vpn.owner()
    health = api.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok" and health.json()["lag_blocks"] == 0


def test_the_policy_document_is_served_as_its_event_carried_it(api):
    fetched = api.get("/v1/tailnets/0/acl")
    assert fetched.status_code == 200 and fetched.content == ACL
    assert fetched.headers["x-acl-hash"] == "0x" + keccak(ACL).hex()
    assert api.get("/v1/tailnets/0").json()["acl_document"] is True
    assert api.get("/v1/tailnets/1/acl").content == b"{}"
    assert api.get("/v1/tailnets/77/acl").status_code == 404
    refused = api.put("/v1/tailnets/0/acl", content=ACL, headers={"content-type": "application/json"})
    assert refused.status_code == 405  # nothing to upload: devices read it from the chain


@pytest.mark.parametrize(
    "path, reason",
    [
        ("/v1/exits?max_price=-1", "invalid max_price"),
        ("/v1/exits?sort=cheapest", "invalid sort"),
        ("/v1/exits?limit=0", "invalid limit"),
        ("/v1/exits?active=maybe", "invalid active"),
        ("/v1/exits/0x1234", "invalid address"),
        ("/v1/sessions?status=lost", "invalid status"),
        ("/v1/sessions/-1", "invalid session_id"),
        ("/v1/tailnets/abc", "invalid tailnet_id"),
        ("/v1/tailnets?member=bob", "invalid member"),
    ],
)
def test_bad_parameters_are_400_with_a_reason(api, path, reason):
    response = api.get(path)
    assert response.status_code == 400 and response.json()["error"].startswith(reason)


def test_unknown_route_is_json_404(api):
    response = api.get("/v1/nothing")
    assert response.status_code == 404 and "no such endpoint" in response.json()["error"]


def _announce(network, signer, *, tailnet=0, device=None, seq=1, hostname="laptop", since=None, expires=None) -> dict:
    from octravpn.protocol.announce import Announcement, SignedAnnouncement
    from octravpn.protocol.eip712 import Domain, sign

    announcement = Announcement(
        tailnet_id=tailnet,
        device=device or signer.address,
        wg_pubkey=b"\x11" * 32,
        hostname=hostname,
        hostname_since=seq if since is None else since,
        endpoints=("198.51.100.7:41641",),
        seq=seq,
        expires=int(time.time()) + 3600 if expires is None else expires,
    )
    domain = Domain(chain_id=network.chain_id, verifying_contract=network.contract)
    return SignedAnnouncement(announcement=announcement, signature=sign(domain, announcement, signer.key)).to_json()


def _read(network, reader, tailnet=0, *, at=None) -> dict:
    """The Authorization header of a signed mailbox read."""
    from octravpn.protocol.announce import MailboxRead
    from octravpn.protocol.eip712 import Domain, sign

    read = MailboxRead(subject=tailnet, reader=reader.address, timestamp=int(at or time.time()))
    domain = Domain(chain_id=network.chain_id, verifying_contract=network.contract)
    return {"Authorization": read.header(sign(domain, read, reader.key))}


def test_announcements_are_kept_only_from_a_members_key_and_only_when_newer(api, accounts, network):
    alice, bob, carol, revoked = (accounts[i] for i in (4, 5, 6, 7))
    mailbox = "/v1/tailnets/0/announcements"
    assert api.get(mailbox, headers=_read(network, alice)).json() == {"tailnet": 0, "items": [], "next": None}
    stored = api.put(mailbox, json=_announce(network, alice))
    assert stored.status_code == 200 and stored.json() == {
        "tailnet": 0,
        "device": alice.address,
        "member": alice.address,
        "seq": 1,
    }
    stale = api.put(mailbox, json=_announce(network, alice, hostname="other"))
    assert stale.status_code == 409 and "not newer than the 1 held" in stale.json()["error"]
    assert api.put(mailbox, json=_announce(network, alice, seq=2, hostname="desk")).status_code == 200
    (held,) = api.get(mailbox, headers=_read(network, bob)).json()["items"]
    assert (held["device"], held["hostname"], held["seq"]) == (alice.address, "desk", 2)

    for body, status, says in (
        (_announce(network, bob, device=alice.address, seq=3), 403, f"signed by {bob.address}"),  # a forgery
        (_announce(network, carol), 403, "neither a member of tailnet 0 nor a registered device"),  # removed member
        (_announce(network, revoked), 403, "neither a member"),  # a revoked device of bob
        (_announce(network, alice, tailnet=1), 400, "is for tailnet 1, not 0"),
        ({**_announce(network, alice, seq=5), "hostname": "Desk"}, 400, "one DNS label"),
        (_announce(network, alice, seq=5, expires=int(time.time()) - 1), 400, "expired"),
        (_announce(network, alice, seq=5, expires=int(time.time()) + 3 * 86_400), 400, "from now"),
        ({"seq": 5}, 400, "missing"),
    ):
        refused = api.put(mailbox, json=body)
        assert refused.status_code == status and says in refused.json()["error"], refused.json()
    assert api.put(mailbox, content=b"{", headers={"content-type": "application/json"}).status_code == 400
    assert api.get(mailbox, headers=_read(network, alice)).json()["items"] == [held]  # nothing refused changed it
    assert api.get("/v1/tailnets/99/announcements", headers=_read(network, alice, 99)).status_code == 404
    assert api.put("/v1/tailnets/99/announcements", json=_announce(network, alice, tailnet=99)).status_code == 404


def test_a_hostname_is_first_come_first_served_while_its_holder_is_live(api, accounts, network):
    alice, bob = accounts[4], accounts[5]
    mailbox = "/v1/tailnets/0/announcements"
    assert api.put(mailbox, json=_announce(network, bob, seq=10, hostname="bob-box")).status_code == 200
    taken = api.put(mailbox, json=_announce(network, alice, seq=50, hostname="bob-box"))
    assert taken.status_code == 409 and f"held by {bob.address}" in taken.json()["error"]
    assert api.put(mailbox, json=_announce(network, bob, seq=11, hostname="bobs-laptop")).status_code == 200
    assert api.put(mailbox, json=_announce(network, alice, seq=51, hostname="bob-box")).status_code == 200  # free now


def test_the_map_is_for_the_tailnets_own_devices_and_comes_in_pages(api, accounts, network):
    """Announcements hold LAN endpoints: an indexer once served every device's to anyone."""
    alice, bob, carol, outsider = (accounts[i] for i in (4, 5, 6, 0))
    mailbox = "/v1/tailnets/0/announcements"
    for who, seq, name in ((alice, 60, "a-desk"), (bob, 60, "b-desk")):
        assert api.put(mailbox, json=_announce(network, who, seq=seq, hostname=name)).status_code == 200
    unsigned = api.get(mailbox)
    assert unsigned.status_code == 401 and "needs a signed read" in unsigned.json()["error"]
    for reader, status, says in ((carol, 403, "on no roster"), (outsider, 403, "on no roster")):
        refused = api.get(mailbox, headers=_read(network, reader))
        assert refused.status_code == status and says in refused.json()["error"]
    stale = api.get(mailbox, headers=_read(network, alice, at=time.time() - 3600))
    assert stale.status_code == 401 and "from the server's clock" in stale.json()["error"]
    first = api.get(mailbox, params={"limit": 1}, headers=_read(network, alice)).json()
    assert len(first["items"]) == 1 and first["next"] == first["items"][0]["device"]
    second = api.get(mailbox, params={"limit": 1, "after": first["next"]}, headers=_read(network, alice)).json()
    assert len(second["items"]) == 1 and second["next"] is None
    assert {first["items"][0]["hostname"], second["items"][0]["hostname"]} == {"a-desk", "b-desk"}
    too_many = api.get(mailbox, params={"limit": 501}, headers=_read(network, alice))
    assert too_many.status_code == 400
