"""The client on an ERC-20 deployment: approvals, and nothing half-applied."""

from pathlib import Path

import pytest
import vyper
from eth_hash.auto import keccak

from octravpn.chain.client import OctraVPN
from octravpn.chain.deploy import DeployParams, deploy
from octravpn.chain.errors import ContractRevert
from octravpn.chain.transactions import TransactionManager

HELPERS = Path(__file__).resolve().parents[1] / "contract" / "helpers"


@pytest.fixture(scope="module")
def token(w3, accounts):
    compiled = vyper.compile_code((HELPERS / "MockERC20.vy").read_text(), output_formats=["abi", "bytecode"])
    factory = w3.eth.contract(abi=compiled["abi"], bytecode=compiled["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": accounts[0].address}))
    return w3.eth.contract(address=receipt.contractAddress, abi=compiled["abi"])


@pytest.fixture(scope="module")
def client(w3, accounts, token):
    vpn = deploy(
        w3,
        accounts[0],
        DeployParams(
            asset=token.address, min_session_deposit=10**3, min_tailnet_deposit=10**4, min_endpoint_stake=10**6
        ),
    )
    member = accounts[2]
    token.functions.mint(member.address, 10**9).transact({"from": member.address})
    return OctraVPN(w3, vpn.address, TransactionManager(w3, member))


def test_asset_is_the_token(client, token):
    assert client.asset == token.address
    assert client.asset_decimals() == 6
    assert client.asset_balance(client.sender.account.address) == 10**9


def test_paying_approves_then_spends(client, token):
    owner = client.sender.account.address
    tailnet_id, result = client.create_tailnet(keccak(b"{}"), 5 * 10**4)
    assert client.tailnet(tailnet_id).treasury == 5 * 10**4
    assert token.functions.allowance(owner, client.address).call() == 0  # exactly what was spent
    client.deposit_to_tailnet(tailnet_id, 10**4)
    assert client.tailnet(tailnet_id).treasury == 6 * 10**4


def test_failed_payment_restores_the_allowance(client, token):
    owner = client.sender.account.address
    before = token.functions.allowance(owner, client.address).call()
    with pytest.raises(ContractRevert, match="tailnet not found"):
        client.deposit_to_tailnet(10**6, 10**4)
    assert token.functions.allowance(owner, client.address).call() == before
