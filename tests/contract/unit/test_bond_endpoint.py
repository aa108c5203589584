import boa

from tests.contract.harness import ETHER, MIN_STAKE


def test_bond_adds_stake_and_moves_funds(h, alice):
    h.bond(alice, MIN_STAKE)
    h.bond(alice, ETHER // 2)
    event = h.event("StakeBonded")
    assert (event.addr, event.amount, event.new_stake) == (alice.address, ETHER // 2, MIN_STAKE + ETHER // 2)
    assert h.vpn.get_endpoint_stake(alice.address) == MIN_STAKE + ETHER // 2
    assert h.vpn_balance() == MIN_STAKE + ETHER // 2


def test_zero_amount_reverts(h, alice):
    with boa.reverts("amount > 0"):
        h.pay(alice, "bond_endpoint", amount=0)


def test_native_value_must_equal_amount(hn, alice):
    hn.fund(alice, ETHER)
    with hn.as_(alice), boa.reverts("sent value must equal amount"):
        hn.vpn.bond_endpoint(ETHER, value=ETHER - 1)


def test_erc20_deployment_refuses_native_coin(alice):
    from tests.contract.harness import Harness

    h = Harness("erc20")
    h.fund(alice, ETHER)
    boa.env.set_balance(alice.address, ETHER)
    with h.as_(alice), boa.reverts("asset is an ERC-20: send no native coin"):
        h.vpn.bond_endpoint(ETHER, value=ETHER)


def test_erc20_without_allowance_reverts(alice):
    from tests.contract.harness import Harness

    h = Harness("erc20")
    h.token.mint(alice.address, ETHER)
    with h.as_(alice), boa.reverts("token transfer failed"):
        h.vpn.bond_endpoint(ETHER)


def test_fee_on_transfer_token_is_refused(alice):
    from tests.contract.harness import Harness

    h = Harness("erc20")
    h.token.set_fee_bps(100)
    h.fund(alice, ETHER)
    with h.as_(alice), boa.reverts("token moved a different amount"):
        h.vpn.bond_endpoint(ETHER)


def test_slashed_operator_cannot_bond_again(h, alice):
    h.bond(alice)
    h.gov_slash(alice.address)
    with boa.reverts("previously slashed"):
        h.bond(alice)


def test_cannot_bond_while_unbonding(h, alice):
    h.bond(alice)
    with h.as_(alice):
        h.vpn.unbond_endpoint()
    with boa.reverts("unbonding in progress"):
        h.bond(alice)


def test_token_reporting_failure_with_false_is_refused(alice):
    from tests.contract.harness import Harness

    h = Harness("erc20")
    h.fund(alice, ETHER)
    h.token.set_returns_false(True)
    with h.as_(alice), boa.reverts("token transfer returned false"):
        h.vpn.bond_endpoint(ETHER)
