import boa

from tests.contract.harness import MIN_STAKE


def _unbond(h, who):
    h.bond(who)
    with h.as_(who):
        h.vpn.unbond_endpoint()


def test_finalize_pays_out_after_grace(h, alice):
    _unbond(h, alice)
    before = h.balance(alice)
    boa.env.time_travel(seconds=h.vpn.get_params().unbond_grace)
    with h.as_(alice):
        h.vpn.finalize_unbond()
    event = h.event("StakeUnbondingFinalized")
    assert (event.addr, event.amount) == (alice.address, MIN_STAKE)
    assert h.balance(alice) == before + MIN_STAKE
    assert h.vpn.get_endpoint_unbonding(alice.address) == 0
    assert h.vpn.get_endpoint_unlock(alice.address) == 0
    assert h.vpn_balance() == 0


def test_can_bond_again_after_finalize(hn, alice):
    _unbond(hn, alice)
    boa.env.time_travel(seconds=hn.vpn.get_params().unbond_grace)
    with hn.as_(alice):
        hn.vpn.finalize_unbond()
    hn.bond(alice)
    assert hn.vpn.get_endpoint_stake(alice.address) == MIN_STAKE


def test_grace_not_elapsed_reverts(hn, alice):
    _unbond(hn, alice)
    boa.env.time_travel(seconds=hn.vpn.get_params().unbond_grace - 1)
    with hn.as_(alice), boa.reverts("grace not elapsed"):
        hn.vpn.finalize_unbond()


def test_nothing_unbonding_reverts(hn, alice):
    hn.bond(alice)
    with hn.as_(alice), boa.reverts("no unbonding"):
        hn.vpn.finalize_unbond()


def test_stake_slashed_while_unbonding_is_not_paid(hn, alice):
    _unbond(hn, alice)
    hn.gov_slash(alice.address)
    boa.env.time_travel(seconds=hn.vpn.get_params().unbond_grace)
    with hn.as_(alice), boa.reverts("no unbonding"):
        hn.vpn.finalize_unbond()


def test_receiver_refusing_payment_reverts_and_keeps_stake(hn):
    from tests.contract.deployers import reentrant_deployer

    hostile = reentrant_deployer().deploy(hn.vpn.address)
    hn.fund(hostile.address, MIN_STAKE)
    hostile.execute(hn.vpn.bond_endpoint.prepare_calldata(MIN_STAKE), MIN_STAKE)
    hostile.execute(hn.vpn.unbond_endpoint.prepare_calldata(), 0)
    hostile.set_refuse_payment(True)
    boa.env.time_travel(seconds=hn.vpn.get_params().unbond_grace)
    with boa.reverts("payout failed: receiver refused the coin"):
        hostile.execute(hn.vpn.finalize_unbond.prepare_calldata(), 0)
    assert hn.vpn.get_endpoint_unbonding(hostile.address) == MIN_STAKE
