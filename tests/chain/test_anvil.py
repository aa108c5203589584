"""OctraVPN on a real Ethereum node (anvil): deployment, a paid session settled
by the exit alone with a receipt signed by eth-account, and readable reverts."""

from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_hash.auto import keccak
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from octravpn.chain.client import OctraVPN
from octravpn.chain.devnet import Anvil, DevnetError
from octravpn.protocol import Domain, Receipt, ReceiptSigner, sign, typed_data
from tests.support.waiting import wait_for

MB = 10**6
ETHER = 10**18


def test_deployed_contract_reads_back_its_configuration(w3, vpn, accounts):
    assert w3.eth.chain_id == 31337
    assert vpn.functions.owner().call() == accounts[0].address
    assert vpn.functions.asset().call() == "0x0000000000000000000000000000000000000000"
    assert vpn.functions.get_min_endpoint_stake().call() == ETHER
    domain = Domain(chain_id=31337, verifying_contract=vpn.address)
    assert vpn.functions.DOMAIN_SEPARATOR().call() == domain.separator()  # also in the extension's code
    assert len(w3.eth.get_code(vpn.address)) <= 24_576
    assert 0 < len(w3.eth.get_code(vpn.functions.extension().call())) <= 24_576


def test_exit_settles_with_an_eth_account_signed_receipt(w3, vpn, accounts):
    operator, receipt_key, member = accounts[1], Account.create(), accounts[2]
    fn = vpn.functions

    def send(call, sender, value=0):
        tx_hash = call.transact({"from": sender.address, "value": value})
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt.status == 1
        return receipt

    send(fn.bond_endpoint(ETHER), operator, ETHER)
    domain = Domain(chain_id=w3.eth.chain_id, verifying_contract=vpn.address)
    consent = sign(domain, ReceiptSigner(operator=operator.address), bytes(receipt_key.key))
    send(
        fn.register_endpoint(
            "127.0.0.1:51820",
            b"\x42" * 32,
            "local",
            2 * 10**12,
            receipt_key.address,
            consent,
        ),
        operator,
    )
    tailnet_id = fn.tailnet_count_view().call()
    send(fn.create_tailnet(keccak(b"{}"), ETHER // 10), member, ETHER // 10)
    send(fn.configure_tailnet_exit(tailnet_id, operator.address), member)
    session_id = fn.session_id(member.address, 1).call()
    send(fn.open_session(tailnet_id, operator.address, 10**16, 2 * 10**12, 1), member)

    used = 750 * MB
    signable = encode_typed_data(
        full_message=typed_data(domain, Receipt(session_id=session_id, seq=5, bytes_used=used))
    )
    signature = bytes(Account.sign_message(signable, member.key).signature)
    # The contract keeps a hash of the session's record; its opening event carries the record.
    record = OctraVPN(w3, vpn.address).session(session_id)

    with pytest.raises(ContractLogicError, match="receipt not signed by the opener or its device"):
        fn.settle_with_receipt(session_id, record.as_argument(), 5, used + 1, signature).transact(
            {"from": operator.address}
        )

    tx = send(fn.settle_with_receipt(session_id, record.as_argument(), 5, used, signature), operator)
    (settled,) = vpn.events.SessionSettled().process_receipt(tx, errors=DISCARD)  # other events of the tx
    total = used * 2 * 10**12 // MB
    assert settled.args.total_paid == total
    assert settled.args.refund == 10**16 - total
    fee = total * 50 // 10_000
    assert fn.get_earnings(operator.address).call() == total - fee
    assert OctraVPN(w3, vpn.address).session(session_id).status_name == "settled"


def test_missing_anvil_binary_is_a_clear_error(tmp_path):
    with pytest.raises(DevnetError, match="cannot run anvil at .*: No such file or directory; run `make tools`"):
        Anvil(binary=str(tmp_path / "no-anvil")).start()


WRAPPER = """#!/bin/bash
# Like npm's anvil wrapper: runs the real node as a child, forwards SIGTERM to it and exits at once. Beside
# it runs a child that, like anvil writing its state, needs a moment after SIGTERM before it is gone.
"{anvil}" "$@" &
node=$!
"{python}" -c '
import signal, sys, time
def finish(*_):
    time.sleep(1)
    open(sys.argv[1], "w").write("done")
    sys.exit(0)
signal.signal(signal.SIGTERM, finish)
open(sys.argv[1] + ".ready", "w").close()
while True:
    time.sleep(1)
' "{marker}" &
trap 'kill -TERM $node; exit 0' TERM
wait
"""


@pytest.mark.parametrize("kind", ["service", "fixture"])
@pytest.mark.anvil
def test_stop_waits_for_every_process_the_anvil_command_started(tmp_path, kind):
    """`devnet down`/`reset` and the test fixture return only once nothing of the node runs any more: not
    just the wrapper npm installs, which dies before the real anvil has finished."""
    import sys

    from octravpn.chain.devnet import LocalDevnet, _group_members, find_anvil, free_port

    marker = tmp_path / "finished"
    wrapper = tmp_path / "anvil-wrapper"
    wrapper.write_text(WRAPPER.format(anvil=find_anvil(), python=sys.executable, marker=marker))
    wrapper.chmod(0o755)
    # The slow child must be ready to finish (its SIGTERM handler set) before the stop: on a busy machine its
    # interpreter may still be starting when anvil already answers, and would then die at once.
    ready = Path(f"{marker}.ready")
    if kind == "service":
        devnet = LocalDevnet(tmp_path / "devnet", port=free_port(), binary=str(wrapper))
        assert devnet.start()
        leader = devnet.pid()
        try:
            wait_for(ready.exists, what="the slow child to start")
        finally:
            assert devnet.stop()
    else:
        node = Anvil(binary=str(wrapper)).start()
        leader = node._process.pid
        try:
            wait_for(ready.exists, what="the slow child to start")
        finally:
            node.stop()
    assert marker.read_text() == "done"  # the slow child was waited for, not left behind
    assert _group_members(leader) == []
