import pytest
from eth_account import Account
from web3 import Web3

from octravpn.chain.deploy import DeployParams, deploy
from octravpn.chain.devnet import dev_private_key


@pytest.fixture(scope="module")
def w3(anvil) -> Web3:
    return Web3(Web3.HTTPProvider(anvil.rpc_url))


@pytest.fixture(scope="module")
def accounts():
    return [Account.from_key(dev_private_key(i)) for i in range(4)]


@pytest.fixture(scope="module")
def vpn(w3, accounts):
    return deploy(w3, accounts[0], DeployParams())
