import boa

from octravpn.protocol import Domain
from tests.contract.harness import ZERO, actor


def test_domain_separator_matches_the_python_domain(hn):
    assert hn.vpn.DOMAIN_SEPARATOR() == hn.domain().separator()


def test_domain_separator_follows_a_chain_id_change(hn):
    # After a fork to another chain id, old signatures must stop verifying.
    original = boa.env.evm.patch.chain_id
    boa.env.evm.patch.chain_id = 777
    try:
        expected = Domain(chain_id=777, verifying_contract=hn.vpn.address).separator()
        assert hn.vpn.DOMAIN_SEPARATOR() == expected
    finally:
        boa.env.evm.patch.chain_id = original


def test_asset_and_owner(h):
    assert h.vpn.asset() == (ZERO if h.native else h.token.address)
    assert h.vpn.owner() == h.owner.address


def test_unknown_records_read_as_empty(hn, alice):
    assert not hn.vpn.get_endpoint(alice.address).active
    assert hn.vpn.get_endpoint_stake(alice.address) == 0
    assert hn.vpn.get_earnings(alice.address) == 0
    assert hn.vpn.get_receipt_signer_operator(alice.address) == ZERO
    assert not hn.vpn.get_operator_claim(0).is_set
    assert not hn.vpn.get_client_confirm(0).is_set
    assert not hn.vpn.get_join_token(0, alice.address).committed
    assert not hn.vpn.is_tailnet_member(0, alice.address)
    assert not hn.vpn.is_tailnet_exit(0, alice.address)
    assert hn.vpn.get_device_owner(alice.address) == ZERO


def test_is_device_of_never_matches_the_empty_wallet(hn):
    assert not hn.vpn.is_device_of(actor("nobody").address, ZERO)
