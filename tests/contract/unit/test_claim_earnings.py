import boa
import pytest

MB = 10**6


@pytest.fixture
def earned(h, alice):
    op = h.operator("op")
    sid = h.earn(op, alice, 3 * MB)
    return op, h.pay_for(sid, 3 * MB)[2]


def test_partial_then_full_claim(h, earned):
    op, net = earned
    before = h.balance(op.account)
    with h.as_(op.account):
        h.vpn.claim_earnings(net // 3)
        event = h.event("EarningsClaimed")
        assert (event.operator, event.amount) == (op.address, net // 3)
        h.vpn.claim_earnings(net - net // 3)
    assert h.balance(op.account) == before + net
    assert h.vpn.get_earnings(op.address) == 0


def test_amount_exceeds_earnings_reverts(h, earned):
    op, net = earned
    with h.as_(op.account), boa.reverts("amount exceeds earnings"):
        h.vpn.claim_earnings(net + 1)


def test_zero_amount_reverts(h, earned):
    op, _ = earned
    with h.as_(op.account), boa.reverts("amount > 0"):
        h.vpn.claim_earnings(0)


def test_slashed_operator_reverts(h, earned):
    op, net = earned
    h.gov_slash(op.address)
    with h.as_(op.account), boa.reverts("operator slashed"):
        h.vpn.claim_earnings(net)


def test_payout_in_a_token_that_returns_false_reverts_and_keeps_earnings(alice):
    from tests.contract.harness import Harness

    h = Harness("erc20")
    op = h.operator("op")
    h.earn(op, alice, 3 * MB)
    earned = h.vpn.get_earnings(op.address)
    h.token.set_returns_false(True)
    with h.as_(op.account), boa.reverts("token transfer returned false"):
        h.vpn.claim_earnings(earned)
    assert h.vpn.get_earnings(op.address) == earned
