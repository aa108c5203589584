"""The chain client against a real anvil node."""

import threading

import pytest
from eth_account import Account
from eth_hash.auto import keccak
from web3 import Web3

from octravpn.chain.client import OctraVPN, connect, open_client
from octravpn.chain.devnet import free_port
from octravpn.chain.errors import (
    ChainError,
    ContractNotDeployed,
    ContractRevert,
    InsufficientFunds,
    RpcUnreachable,
    WrongChain,
)
from octravpn.chain.records import Settlement
from octravpn.chain.transactions import TransactionManager
from octravpn.config import Network
from octravpn.errors import UsageError
from octravpn.protocol import Domain, Receipt, sign
from tests.support.waiting import wait_for

ETHER = 10**18
MB = 10**6


@pytest.fixture(scope="module")
def network(anvil, vpn):
    return Network(name="devnet", rpc_url=anvil.rpc_url, chain_id=31337, contract=vpn.address)


def test_unreachable_rpc(network):
    dead = Network(name="dead", rpc_url=f"http://127.0.0.1:{free_port()}", chain_id=31337, contract=network.contract)
    with pytest.raises(RpcUnreachable, match="cannot reach the RPC at http://127.0.0.1:.*octravpn devnet up"):
        connect(dead)


def test_wrong_chain_id(network):
    wrong = Network(name="mainnet", rpc_url=network.rpc_url, chain_id=1, contract=network.contract)
    with pytest.raises(WrongChain, match="serves chain 31337, but network 'mainnet' expects chain 1"):
        connect(wrong)


def test_contract_not_deployed(network):
    empty = Network(name="devnet", rpc_url=network.rpc_url, chain_id=31337, contract="0x" + "77" * 20)
    with pytest.raises(ContractNotDeployed, match="no OctraVPN contract at 0x7777"):
        connect(empty)
    missing = Network(name="devnet", rpc_url=network.rpc_url, chain_id=31337)
    with pytest.raises(ContractNotDeployed, match="no OctraVPN contract configured"):
        connect(missing)


def test_full_flow_with_typed_results_and_events(network, accounts):
    operator, member = accounts[1], accounts[2]
    as_operator, as_member = open_client(network, operator), open_client(network, member)
    receipt_key = Account.create()

    bonded = as_operator.bond_endpoint(ETHER)
    event = bonded.event("StakeBonded")
    assert event.args["amount"] == ETHER and event.block_number == bonded.block_number
    assert event.tx_hash == bonded.tx_hash
    as_operator.register_endpoint(
        endpoint="127.0.0.1:51820",
        wg_pubkey=b"\x01" * 32,
        region="local",
        price_per_mb=10**12,
        receipt_signer=receipt_key.address,
        signer_signature=as_operator.receipt_signer_consent(bytes(receipt_key.key)),
    )
    endpoint = as_operator.endpoint(operator.address)
    assert endpoint.active and endpoint.region == "local" and endpoint.receipt_signer == receipt_key.address

    tailnet_id, _ = as_member.create_tailnet(keccak(b"{}"), ETHER // 10)
    as_member.configure_tailnet_exit(tailnet_id, operator.address)
    session_id, opened = as_member.open_session(tailnet_id, operator.address, 10**16)
    session = as_member.session(session_id)
    assert (session.opener, session.deposit, session.status_name) == (member.address, 10**16, "open")

    domain = Domain(chain_id=31337, verifying_contract=network.contract)
    signature = sign(domain, Receipt(session_id=session_id, seq=1, bytes_used=500 * MB), member.key)
    settled = as_operator.settle_with_receipt(session_id, 1, 500 * MB, signature)
    assert settled.event("SessionSettled").args["total_paid"] == 500 * MB * 10**12 // MB
    assert as_member.session(session_id).status_name == "settled"

    history = as_member.events(from_block=opened.block_number)
    assert [e.name for e in history][:1] == ["SessionOpened"]
    assert "SessionSettled" in [e.name for e in history]
    assert all(e.tx_hash.startswith("0x") for e in history)


def test_a_long_session_checkpointed_topped_up_and_batched_reads_back_from_its_events(network, accounts):
    """The contract keeps a hash of each session's record; the client reads the record from the events, checks
    it against the hash, and passes it with every call."""
    operator, member = accounts[1], accounts[2]
    as_operator, as_member = open_client(network, operator), open_client(network, member)
    tailnet_id, _ = as_member.create_tailnet(keccak(b"{}"), ETHER // 10)
    as_member.configure_tailnet_exit(tailnet_id, operator.address)
    domain = Domain(chain_id=31337, verifying_contract=network.contract)

    def receipt(sid, seq, used):
        return sign(domain, Receipt(session_id=sid, seq=seq, bytes_used=used), member.key)

    first, _ = as_member.open_session(tailnet_id, operator.address, 10**16)
    second, _ = as_member.open_session(tailnet_id, operator.address, 10**16)
    third, _ = as_member.open_session(tailnet_id, operator.address, 10**16)
    as_operator.checkpoint(first, 1, 300 * MB, receipt(first, 1, 300 * MB))
    as_member.top_up_session(first, 10**16)
    record = as_member.session(first)
    assert (record.bytes_paid, record.deposit, record.status_name) == (300 * MB, 2 * 10**16, "open")
    assert record.deposit_left == 2 * 10**16 - record.value_of(300 * MB)

    batch = as_operator.settle_batch(
        [
            Settlement(first, 2, 400 * MB, receipt(first, 2, 400 * MB), final=True),
            Settlement(second, 1, 10 * MB, receipt(second, 1, 10 * MB), final=False),
            Settlement(third, 1, 20 * MB, b"\x00" * 65, final=True),
        ]
    )
    assert [e.args["reason"] for e in batch.events if e.name == "SettlementSkipped"] == [
        "receipt not signed by the opener or its device"
    ]
    assert as_member.session(first).status_name == "settled"
    assert as_member.session(second).bytes_paid == 10 * MB
    assert as_member.session(third).status_name == "open"
    with pytest.raises(UsageError, match="one item per session"):
        as_operator.settle_batch([Settlement(second, 3, 30 * MB, b"", final=False)] * 2)
    with pytest.raises(UsageError, match="at most 64 items, got 65"):
        as_operator.settle_batch([Settlement(sid, 1, MB, b"", final=False) for sid in range(65)])


def test_a_node_that_leaves_an_event_out_is_caught(network, accounts, monkeypatch):
    operator, member = accounts[1], accounts[2]
    as_operator, as_member = open_client(network, operator), open_client(network, member)
    tailnet_id, _ = as_member.create_tailnet(keccak(b"{}"), ETHER // 10)
    as_member.configure_tailnet_exit(tailnet_id, operator.address)
    sid, _ = as_member.open_session(tailnet_id, operator.address, 10**16)
    domain = Domain(chain_id=31337, verifying_contract=network.contract)
    as_operator.checkpoint(sid, 1, MB, sign(domain, Receipt(session_id=sid, seq=1, bytes_used=MB), member.key))
    told = as_member.session_events(sid)
    monkeypatch.setattr(
        as_member,
        "session_events",
        lambda session_id, to_block="latest": [e for e in told if e.name != "SessionCheckpointed"],
    )
    with pytest.raises(ChainError, match=f"session {sid}: its events do not add up to the record the contract holds"):
        as_member.session(sid)


def test_revert_found_at_estimation_is_decoded(network, accounts):
    stranger = open_client(network, accounts[3])
    with pytest.raises(ContractRevert, match="register_endpoint reverted: must bond_endpoint first") as info:
        stranger.register_endpoint(
            endpoint="h:1",
            wg_pubkey=b"\x01" * 32,
            region="r",
            price_per_mb=1,
            receipt_signer=accounts[3].address,
            signer_signature=b"\x00" * 65,
        )
    assert info.value.reason == "must bond_endpoint first"


def test_view_revert_is_decoded(network):
    with pytest.raises(ContractRevert, match="session not found"):
        open_client(network).session(10**9)


def test_insufficient_funds(network):
    broke = open_client(network, Account.create())
    with pytest.raises(InsufficientFunds, match="cannot pay for this transaction"):
        broke.bond_endpoint(ETHER)


def test_revert_after_mining_is_recovered_by_replay(network, accounts, w3):
    """Two sessions race for the same treasury: both pass estimation, the second
    reverts in the block; its reason comes from replaying it."""
    member = accounts[2]
    client = open_client(network, member)
    operator = accounts[1]
    # 0.02 to spend above the creation deposit (0.01, locked for 30 days): room for one session of 0.02
    tailnet_id, _ = client.create_tailnet(keccak(b"race"), 3 * 10**16)
    client.configure_tailnet_exit(tailnet_id, operator.address)
    w3.provider.make_request("evm_setAutomine", [False])
    outcomes: list = []
    try:

        def open_one():
            try:
                outcomes.append(open_client(network, member).open_session(tailnet_id, operator.address, 2 * 10**16))
            except ContractRevert as exc:
                outcomes.append(exc)

        first = threading.Thread(target=open_one)
        first.start()
        _wait_for_pending(w3, 1)
        second = threading.Thread(target=open_one)
        second.start()
        _wait_for_pending(w3, 2)
        w3.provider.make_request("evm_mine", [])
        first.join(60)
        second.join(60)
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    errors = [o for o in outcomes if isinstance(o, ContractRevert)]
    assert len(outcomes) == 2 and len(errors) == 1
    assert errors[0].reason == "treasury insufficient"


def test_dropped_transaction_is_broadcast_again(network, accounts, w3):
    client = OctraVPN(w3, network.contract, TransactionManager(w3, accounts[3], timeout=60, mempool_check_interval=0.5))
    w3.provider.make_request("evm_setAutomine", [False])
    result: list = []
    try:
        device = Account.create()
        consent = client.device_consent(bytes(device.key))
        worker = threading.Thread(target=lambda: result.append(client.register_device(device.address, consent)))
        worker.start()
        (tx_hash,) = _wait_for_pending(w3, 1)
        w3.provider.make_request("anvil_dropTransaction", [tx_hash])
        assert _pending(w3) == []
        _wait_for_pending(w3, 1)  # the manager noticed and sent it again
        w3.provider.make_request("evm_mine", [])
        worker.join(60)
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    assert result and result[0].event("DeviceRegistered").args["wallet"] == accounts[3].address


def _pending(w3: Web3) -> list[str]:
    content = w3.provider.make_request("txpool_content", [])["result"]["pending"]
    return [tx["hash"] for by_nonce in content.values() for tx in by_nonce.values()]


def _wait_for_pending(w3: Web3, count: int) -> list[str]:
    # The txpool is the event we wait for; the node offers no push notification for it here.
    return wait_for(
        lambda: len(pending := _pending(w3)) >= count and pending,
        what=f"{count} pending transactions",
        every=0.05,
        explain=lambda: f"pending: {_pending(w3)}",
    )


def test_transaction_still_pending_at_the_deadline_times_out(network, accounts, w3):
    from octravpn.chain.errors import TransactionTimeout

    client = OctraVPN(
        w3, network.contract, TransactionManager(w3, accounts[3], timeout=1.0, mempool_check_interval=0.2)
    )
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        with pytest.raises(
            TransactionTimeout,
            match=r"was not mined within 1s .*: pending: do not resend; check with `octravpn tx 0x[0-9a-f]{64} --wait`",
        ):
            device = Account.create()
            client.register_device(device.address, client.device_consent(bytes(device.key)))
        assert len(_pending(w3)) == 1  # still there: not dropped, not duplicated
    finally:
        w3.provider.make_request("evm_mine", [])
        w3.provider.make_request("evm_setAutomine", [True])


def test_a_call_whose_gas_depends_on_the_time_it_is_mined_still_gets_enough(w3, vpn, accounts):
    """Nodes estimate at the latest block's timestamp; a transaction mined later can write a storage slot the
    estimate left alone (unpausing adds the paused time, zero at the estimate, not when mined)."""
    owner = OctraVPN(w3, vpn.address, TransactionManager(w3, accounts[0]))
    owner.set_paused(True)
    w3.provider.make_request("evm_increaseTime", [100])
    owner.set_paused(False)  # reverted for want of gas before (the forwarded call ran out; last test of the module)
    assert not owner.paused()


def test_a_dead_rpc_url_falls_over_to_the_next_one_which_stays_in_use(network, accounts):
    dead = f"http://127.0.0.1:{free_port()}"
    both = Network(
        name="fallback",
        rpc_url=dead,
        rpc_fallbacks=(network.rpc_url,),
        chain_id=network.chain_id,
        contract=network.contract,
    )
    client = open_client(both, accounts[1], rpc_retries=False)
    assert client.w3.provider.endpoint_uri == network.rpc_url  # the dead one failed once, at connect
    assert client.params().min_session_deposit > 0
    sent = client.sender.transfer(accounts[2].address, 1)  # gas money, as `device add --fund` sends it
    assert client.w3.eth.get_transaction(sent.tx_hash)["value"] == 1
    with pytest.raises(RpcUnreachable):
        open_client(
            Network(
                name="dead",
                rpc_url=dead,
                rpc_fallbacks=(f"http://127.0.0.1:{free_port()}",),
                chain_id=network.chain_id,
                contract=network.contract,
            ),
            rpc_retries=False,
        )


def test_an_exits_listing_is_read_from_its_latest_event_and_held_against_its_hash(network, accounts, monkeypatch):
    operator = accounts[1]
    as_operator = open_client(network, operator)
    price = as_operator.endpoint(operator.address).price_per_mb
    as_operator.update_endpoint(endpoint="127.0.0.1:51821", region="moved", price_per_mb=price)
    as_operator.rotate_keys(wg_pubkey=b"\x02" * 32)
    reader = open_client(network)
    exit_ = reader.endpoint(operator.address)
    assert (exit_.endpoint, exit_.region, exit_.wg_pubkey, exit_.price_per_mb) == (
        "127.0.0.1:51821",
        "moved",
        b"\x02" * 32,
        price,
    )
    assert operator.address in reader.registered_exits()
    stranger = reader.endpoint(Account.create().address)
    assert stranger.registered_at == 0 and not stranger.active and stranger.endpoint == ""
    # A node that leaves the listing's event out is caught, not believed.
    monkeypatch.setattr(reader, "decode_logs", lambda logs: [])
    with pytest.raises(ChainError, match=f"exit {operator.address}: the events of block \\d+ do not carry the listing"):
        reader.endpoint(operator.address)
