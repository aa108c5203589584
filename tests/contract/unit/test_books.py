"""An exit's books (unclaimed earnings, reputation, the slashed flag) share one packed storage slot: the largest
values that fit, a clear revert above the earnings' width, reputation that stops counting, and no field bleeding
into another."""

import boa
import pytest

from tests.contract.harness import MIN_SESSION_DEPOSIT, MIN_TAILNET_DEPOSIT

EARNINGS_MAX = 2**128 - 1
REPUTATION_MAX = 2**127 - 1
BYTE_PRICE = 10**6  # one base unit a byte: a session pays what its receipt counts


@pytest.fixture
def h(h):
    params = list(h.vpn.get_params())
    params[9] = 0  # no protocol fee: the exit earns exactly what a receipt pays
    h.apply_params(params)
    return h


def settle(h, op, payer, amount: int) -> int:
    """A session of `payer`'s own tailnet through `op` that pays `op` exactly `amount`."""
    deposit = max(amount, MIN_SESSION_DEPOSIT)
    tid = h.tailnet_with_exit(payer, op, deposit=deposit + MIN_TAILNET_DEPOSIT)
    sid = h.session(tid, payer, op, max_pay=deposit)
    with h.as_(op.account):
        h.vpn.settle_with_receipt(sid, 1, amount, h.receipt_sig(payer, sid, 1, amount))
    return sid


def test_the_largest_earnings_fit_and_one_more_unit_reverts_until_some_are_claimed(h, alice, bob):
    op = h.operator("op", price=BYTE_PRICE)
    settle(h, op, alice, EARNINGS_MAX)
    assert h.event("SessionSettled").earnings == EARNINGS_MAX
    assert h.vpn.get_earnings(op.address) == EARNINGS_MAX
    tid = h.tailnet_with_exit(bob, op)
    sid = h.session(tid, bob, op)
    with h.as_(op.account), boa.reverts("earnings above 2**128 - 1: claim some first"):
        h.vpn.settle_with_receipt(sid, 1, 1, h.receipt_sig(bob, sid, 1, 1))
    with h.as_(op.account):
        h.vpn.claim_earnings(1)
        h.vpn.settle_with_receipt(sid, 1, 1, h.receipt_sig(bob, sid, 1, 1))
    assert h.vpn.get_earnings(op.address) == EARNINGS_MAX


def test_reputation_stops_counting_at_its_width_and_leaves_the_other_fields_whole(h, alice, bob):
    op = h.operator("op", price=BYTE_PRICE)
    settle(h, op, alice, REPUTATION_MAX - 5)
    settle(h, op, bob, 10)
    assert h.event("SessionSettled").reputation == REPUTATION_MAX
    assert h.vpn.get_endpoint(op.address).reputation == REPUTATION_MAX
    assert h.vpn.get_earnings(op.address) == REPUTATION_MAX + 5
    assert not h.vpn.is_endpoint_slashed(op.address)


def test_a_slash_with_full_books_sets_only_the_flag_and_forfeits_the_earnings(h, alice):
    op = h.operator("op", price=BYTE_PRICE)
    settle(h, op, alice, EARNINGS_MAX)
    h.gov_slash(op.address)
    assert h.vpn.is_endpoint_slashed(op.address)
    assert h.vpn.get_earnings(op.address) == 0
    assert h.vpn.get_endpoint(op.address).reputation == REPUTATION_MAX
