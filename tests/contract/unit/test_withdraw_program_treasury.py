import boa
import pytest

from tests.contract.harness import ZERO

MB = 10**6


@pytest.fixture
def fees(h, alice):
    sid = h.earn(h.operator("op"), alice, 4_000 * MB)
    fee = h.pay_for(sid, 4_000 * MB)[1]
    assert fee > 0 and h.vpn.get_program_treasury() == fee
    return fee


def test_owner_withdraws_fees(h, fees, bob):
    with h.as_(h.owner):
        h.vpn.withdraw_program_treasury(bob.address, fees)
    event = h.event("ProgramTreasuryWithdrawn")
    assert (event.to, event.amount) == (bob.address, fees)
    assert h.balance(bob) == fees
    assert h.vpn.get_program_treasury() == 0


def test_only_owner(h, fees, bob):
    with h.as_(bob), boa.reverts("not owner"):
        h.vpn.withdraw_program_treasury(bob.address, fees)


def test_zero_amount_reverts(h, fees, bob):
    with h.as_(h.owner), boa.reverts("amount > 0"):
        h.vpn.withdraw_program_treasury(bob.address, 0)


def test_more_than_treasury_reverts(h, fees, bob):
    with h.as_(h.owner), boa.reverts("treasury insufficient"):
        h.vpn.withdraw_program_treasury(bob.address, fees + 1)


def test_empty_receiver_reverts(h, fees):
    with h.as_(h.owner), boa.reverts("receiver is the empty address"):
        h.vpn.withdraw_program_treasury(ZERO, fees)
