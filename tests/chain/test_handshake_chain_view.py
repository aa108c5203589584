"""The handshake's view of the chain, read from the real contract on anvil."""

from eth_account import Account

from octravpn.chain.client import OctraVPN
from octravpn.chain.transactions import TransactionManager
from octravpn.node.handshake import ContractChainView
from octravpn.protocol import Device, sign


def test_sessions_and_device_owners(w3, vpn, accounts):
    wallet = OctraVPN(w3, vpn.address, TransactionManager(w3, accounts[3]))
    view = ContractChainView(wallet)
    assert view.session(10**9) is None
    laptop = Account.create()
    assert view.device_owner(laptop.address) is None
    wallet.register_device(laptop.address, sign(wallet.domain(), Device(wallet=accounts[3].address), bytes(laptop.key)))
    assert view.device_owner(laptop.address) == accounts[3].address
