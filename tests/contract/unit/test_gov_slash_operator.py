import boa

from tests.contract.harness import ETHER


def test_slash_takes_live_and_unbonding_stake_and_earnings(h, alice):
    op = h.operator("op", stake=2 * ETHER)
    h.earn(op, alice, 10**6)
    earned = h.vpn.get_earnings(op.address)
    assert earned > 0
    with h.as_(op.account):
        h.vpn.unbond_endpoint()
    owner_before = h.balance(h.owner)
    treasury_before = h.vpn.get_program_treasury()

    with h.as_(h.owner):
        h.vpn.gov_slash_operator(op.address)

    event = h.event("OperatorSlashed")
    to_treasury = 2 * ETHER * 9_000 // 10_000
    bounty = 2 * ETHER - to_treasury
    assert (event.addr, event.stake, event.treasury_amt, event.bounty_amt, event.forfeited_earnings) == (
        op.address, 2 * ETHER, to_treasury, bounty, earned,
    )
    assert h.balance(h.owner) == owner_before + bounty
    assert h.vpn.get_program_treasury() == treasury_before + to_treasury + earned
    assert h.vpn.is_endpoint_slashed(op.address)
    assert h.vpn.get_endpoint_unbonding(op.address) == 0
    assert h.vpn.get_endpoint_unlock(op.address) == 0
    assert h.vpn.get_earnings(op.address) == 0


def test_slash_retires_an_active_exit(hn):
    op = hn.operator("op")
    with hn.as_(hn.owner):
        hn.vpn.gov_slash_operator(op.address)
    assert hn.event("EndpointRetired").addr == op.address
    assert not hn.vpn.get_endpoint(op.address).active
    assert not hn.vpn.is_endpoint_active(op.address)


def test_only_owner(hn, alice):
    op = hn.operator("op")
    with hn.as_(alice), boa.reverts("not owner"):
        hn.vpn.gov_slash_operator(op.address)


def test_already_slashed_reverts(hn):
    op = hn.operator("op")
    with hn.as_(hn.owner):
        hn.vpn.gov_slash_operator(op.address)
        with boa.reverts("already slashed"):
            hn.vpn.gov_slash_operator(op.address)


def test_no_stake_reverts(hn, alice):
    with hn.as_(hn.owner), boa.reverts("no stake to slash"):
        hn.vpn.gov_slash_operator(alice.address)
