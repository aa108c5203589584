"""The exit settles each session exactly once, on a real contract, across crashes."""

import ipaddress

import pytest
from eth_account import Account
from eth_hash.auto import keccak

from octravpn.chain.client import OctraVPN
from octravpn.chain.transactions import TransactionManager
from octravpn.node.metering import SessionMeters
from octravpn.node.peers import ExitInterface, PeerSet
from octravpn.node.settlement import Settler
from octravpn.node.store import NodeStore
from octravpn.protocol import Domain, Receipt, sign
from octravpn.wireguard.engine import Engine
from octravpn.wireguard.keys import Keypair
from tests.fakehost import FakeHost

MB = 1_000_000
CLIENT = Keypair.from_private(b"\x57" * 32)


@pytest.fixture(scope="module")
def operator_and_tailnet(w3, vpn, accounts):
    operator, member = accounts[1], accounts[2]
    as_operator = OctraVPN(w3, vpn.address, TransactionManager(w3, operator))
    as_member = OctraVPN(w3, vpn.address, TransactionManager(w3, member))
    if not as_operator.is_active(operator.address):
        if as_operator.stake(operator.address) < 10**18:
            as_operator.bond_endpoint(10**18)
        as_operator.register_endpoint(
            endpoint="127.0.0.1:51820",
            wg_pubkey=b"\x01" * 32,
            region="local",
            price_per_mb=10**12,
            receipt_signer=(key := Account.create()).address,
            signer_signature=as_operator.receipt_signer_consent(bytes(key.key)),
        )
    tailnet_id, _ = as_member.create_tailnet(keccak(b"settle"), 10**17)
    as_member.configure_tailnet_exit(tailnet_id, operator.address)
    return as_operator, as_member, tailnet_id, member


class Exit:
    """The exit's state for `count` sessions of one tailnet (one client key each), with counters the test moves;
    `session_id` is the first."""

    def __init__(self, tmp_path, as_operator, as_member, tailnet_id, count: int = 1):
        self.session_ids = [
            as_member.open_session(tailnet_id, as_operator.sender.account.address, 10**16)[0] for _ in range(count)
        ]
        self.session_id = self.session_ids[0]
        self.clients = [CLIENT] + [Keypair.generate() for _ in range(count - 1)]
        exit_key = Keypair.from_private(b"\x44" * 32)
        self.host = FakeHost()
        self.host.interface("ovpn0", exit_key.private_b64, address="10.77.0.1/24")
        self.store = NodeStore(tmp_path / f"node-{self.session_id}.db")
        for session_id, client in zip(self.session_ids, self.clients, strict=True):
            session = as_member.session(session_id)
            self.store.add_session(
                session_id=session_id,
                tailnet_id=tailnet_id,
                opener=session.opener,
                deposit=session.deposit,
                price_per_mb=session.price_per_mb,
                wg_pubkey=client.public,
                opened_at=session.opened_at,
            )
            self.store.allocate_address(session_id, ipaddress.ip_network("10.77.0.0/24"), reserved=("10.77.0.1",))
        self.engine = Engine(self.host)
        peers = PeerSet(
            engine=self.engine,
            store=self.store,
            interface=ExitInterface(
                name="ovpn0", private_key=exit_key.private, listen_port=51820, address="10.77.0.1/24"
            ),
        )
        peers.apply()  # the clients' peers, as their handshakes would have added them
        self.meters = SessionMeters(
            store=self.store,
            engine=self.engine,
            peers=peers,
            interface="ovpn0",
            receipt_every=10 * MB,
            max_unsigned=50 * MB,
        )
        self.chain = as_operator

    def carry(self, total, index: int = 0):
        self.host.counters("ovpn0", self.clients[index].public_b64, rx=total)
        self.meters.tick()

    def settler(self):
        return Settler(chain=self.chain, store=self.store, meters=self.meters)

    def carry_and_sign(self, as_member, member, bytes_used, index: int = 0):
        """Carry `bytes_used`, and accept the opener's receipt (seq 1) for it; returns the signature."""
        session_id = self.session_ids[index]
        self.carry(bytes_used, index)
        signature = _sign(as_member, member, session_id, 1, bytes_used)
        self.meters.accept_receipt(Receipt(session_id=session_id, seq=1, bytes_used=bytes_used), signature)
        return signature


def _sign(as_member, member, session_id, seq, bytes_used):
    domain = Domain(chain_id=31337, verifying_contract=as_member.address)
    return sign(domain, Receipt(session_id=session_id, seq=seq, bytes_used=bytes_used), member.key)


def test_settles_with_the_latest_receipt_once(tmp_path, operator_and_tailnet, w3):
    as_operator, as_member, tailnet_id, member = operator_and_tailnet
    node = Exit(tmp_path, as_operator, as_member, tailnet_id)
    sid = node.session_id
    node.carry_and_sign(as_member, member, 10 * MB)
    node.carry(13 * MB)  # carried after the last receipt: not paid without a signature
    outcome = node.settler().settle(sid)
    assert (outcome.method, outcome.bytes_used) == ("receipt", 10 * MB)
    assert as_member.session(sid).status_name == "settled"
    block = w3.eth.block_number
    assert node.settler().settle(sid).method == "already"
    assert w3.eth.block_number == block  # nothing sent twice


def test_claims_measured_bytes_without_a_receipt(tmp_path, operator_and_tailnet):
    as_operator, as_member, tailnet_id, _ = operator_and_tailnet
    node = Exit(tmp_path, as_operator, as_member, tailnet_id)
    node.carry(7 * MB)
    outcome = node.settler().settle(node.session_id)
    assert (outcome.method, outcome.bytes_used) == ("claim", 7 * MB)
    assert as_member.operator_claim(node.session_id).bytes_used == 7 * MB
    as_member.settle_confirm(node.session_id, 7 * MB)
    assert as_member.session(node.session_id).status_name == "settled"


def test_a_crash_before_sending_is_finished_on_restart(tmp_path, operator_and_tailnet, accounts):
    as_operator, as_member, tailnet_id, member = operator_and_tailnet
    node = Exit(tmp_path, as_operator, as_member, tailnet_id)
    sid = node.session_id
    node.carry_and_sign(as_member, member, 10 * MB)
    assert node.store.begin_settlement(sid, method="receipt", bytes_used=10 * MB, seq=1)  # then the agent died
    (outcome,) = node.settler().resume()
    assert outcome.method == "receipt" and as_member.session(sid).status_name == "settled"
    assert node.settler().resume() == []


def test_a_crash_after_the_tx_was_mined_sends_nothing_more(tmp_path, operator_and_tailnet, w3):
    as_operator, as_member, tailnet_id, member = operator_and_tailnet
    node = Exit(tmp_path, as_operator, as_member, tailnet_id)
    sid = node.session_id
    signature = node.carry_and_sign(as_member, member, 10 * MB)
    node.store.begin_settlement(sid, method="receipt", bytes_used=10 * MB, seq=1)
    as_operator.settle_with_receipt(sid, 1, 10 * MB, signature)  # mined, then the agent died before recording it
    block = w3.eth.block_number
    (outcome,) = node.settler().resume()
    assert outcome.method == "already" and w3.eth.block_number == block
    assert node.store.pending_settlements() == [] and node.store.session(sid).state == "settled"


def test_due_settlements_go_in_one_batch_and_a_refused_one_is_skipped_not_the_rest(tmp_path, operator_and_tailnet, w3):
    as_operator, as_member, tailnet_id, member = operator_and_tailnet
    node = Exit(tmp_path, as_operator, as_member, tailnet_id, count=4)
    for index in range(3):
        node.carry_and_sign(as_member, member, (index + 1) * 10 * MB, index)
    node.carry(7 * MB, 3)  # no receipt: a claim, sent on its own
    # The chain no longer takes the third session's settlement: it was settled already, out of this store's
    # sight. The batch must skip it, not revert, and settle the others.
    third = node.session_ids[2]
    as_operator.settle_with_receipt(third, 1, 30 * MB, _sign(as_member, member, third, 1, 30 * MB))
    block = w3.eth.block_number
    results = dict(node.settler().settle_all(node.session_ids))
    assert w3.eth.block_number == block + 2  # the batch and the claim
    first, second = node.session_ids[:2]
    assert (results[first].method, results[second].method) == ("receipt", "receipt")
    assert results[first].tx_hash == results[second].tx_hash
    assert (results[third].method, results[third].reason) == ("skipped", "session not open")
    assert results[node.session_ids[3]].method == "claim"
    assert [as_member.session(sid).status_name for sid in (first, second)] == ["settled", "settled"]
    assert node.store.begun_settlement(third) is not None and not node.store.begun_settlement(third).confirmed
