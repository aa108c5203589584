import boa

from tests.contract.harness import MIN_STAKE


def test_unbond_moves_stake_to_unbonding_and_retires_exit(h):
    op = h.operator("op")
    with h.as_(op.account):
        h.vpn.unbond_endpoint()
    retired = h.event("EndpointRetired")
    started = h.event("StakeUnbondingStarted")
    unlock = boa.env.timestamp + h.vpn.get_params().unbond_grace
    assert retired.addr == op.address
    assert (started.addr, started.stake, started.unlock_at) == (op.address, MIN_STAKE, unlock)
    assert h.vpn.get_endpoint_stake(op.address) == 0
    assert h.vpn.get_endpoint_unbonding(op.address) == MIN_STAKE
    assert h.vpn.get_endpoint_unlock(op.address) == unlock
    assert not h.vpn.is_endpoint_active(op.address)
    assert h.vpn_balance() == MIN_STAKE


def test_unbond_without_registration_emits_no_retire(hn, alice):
    hn.bond(alice)
    with hn.as_(alice):
        hn.vpn.unbond_endpoint()
    assert hn.events("EndpointRetired") == []


def test_no_stake_reverts(hn, alice):
    with hn.as_(alice), boa.reverts("no stake"):
        hn.vpn.unbond_endpoint()


def test_second_unbond_reverts(hn, alice):
    hn.bond(alice)
    with hn.as_(alice):
        hn.vpn.unbond_endpoint()
        with boa.reverts("no stake"):
            hn.vpn.unbond_endpoint()
