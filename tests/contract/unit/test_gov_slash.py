"""schedule_slash / execute_slash / cancel_slash: a governance slash is announced, waits GOV_DELAY on the clock,
lapses if not executed within its window, can be cancelled, and burns what it announced and the unclaimed earnings
(finding 4: the owner took 100 % before)."""

import boa

from tests.contract.harness import ETHER, GOV_DELAY

EVIDENCE = b"\x42" * 32
WINDOW = 7 * 86_400  # GOV_EXECUTION_WINDOW


def _schedule(h, op):
    with h.as_(h.owner):
        return h.vpn.schedule_slash(op.address, EVIDENCE)


def test_slash_burns_live_and_unbonding_stake_and_earnings_and_pays_the_owner_nothing(h, alice):
    op = h.operator("op", stake=2 * ETHER)
    h.earn(op, alice, 10**6)
    earned = h.vpn.get_earnings(op.address)
    assert earned > 0
    with h.as_(op.account):
        h.vpn.unbond_endpoint()
    owner_before = h.balance(h.owner)
    treasury_before = h.vpn.get_program_treasury()
    vpn_before = h.vpn_balance()

    eta = _schedule(h, op)
    event = h.event("GovSlashScheduled")
    assert (
        (event.addr, event.evidence, event.eta, event.stake)
        == (op.address, EVIDENCE, h.vpn.clock() + GOV_DELAY, 2 * ETHER)
        == (op.address, EVIDENCE, eta, 2 * ETHER)
    )
    assert h.vpn.get_gov_slash_eta(op.address) == eta
    boa.env.time_travel(seconds=GOV_DELAY)
    with h.as_(h.owner):
        h.vpn.execute_slash(op.address)

    event = h.event("OperatorSlashed")
    assert (event.stake, event.treasury_amt, event.bounty_amt, event.forfeited_earnings, event.burned_amt) == (
        2 * ETHER,
        0,
        0,
        0,
        2 * ETHER + earned,
    )
    assert h.balance(h.owner) == owner_before
    assert h.vpn.get_program_treasury() == treasury_before
    assert h.vpn.get_burned() == 2 * ETHER + earned
    assert h.vpn_balance() == vpn_before  # burned stays in the contract, owned by no one
    assert h.vpn.is_endpoint_slashed(op.address)
    assert (h.vpn.get_endpoint_unbonding(op.address), h.vpn.get_earnings(op.address)) == (0, 0)
    assert h.vpn.get_gov_slash_eta(op.address) == 0


def test_a_slash_takes_at_most_the_stake_it_announced(h):
    """Found in review: a schedule never tied to the stake it announced burned a stake bonded later."""
    op = h.operator("op", stake=ETHER)
    _schedule(h, op)
    h.bond(op.account, 3 * ETHER)  # bonded after the announcement
    boa.env.time_travel(seconds=GOV_DELAY)
    with h.as_(h.owner):
        h.vpn.execute_slash(op.address)
    event = h.event("OperatorSlashed")
    assert (event.stake, event.burned_amt, event.unbonding_left) == (ETHER, ETHER, 3 * ETHER)
    assert h.vpn.is_endpoint_slashed(op.address) and h.vpn.get_endpoint_unbonding(op.address) == 3 * ETHER
    boa.env.time_travel(seconds=h.vpn.get_params().unbond_grace)
    before = h.balance(op.account)
    with h.as_(op.account):
        h.vpn.finalize_unbond()
    assert h.balance(op.account) == before + 3 * ETHER


def test_a_slash_not_executed_in_its_window_lapses(hn):
    op = hn.operator("op")
    eta = _schedule(hn, op)
    boa.env.time_travel(seconds=GOV_DELAY + WINDOW - 1)
    assert hn.vpn.get_gov_slash_eta(op.address) == eta
    boa.env.time_travel(seconds=1)
    assert hn.vpn.get_gov_slash_eta(op.address) == 0
    with hn.as_(hn.owner), boa.reverts("the announcement lapsed: schedule it again"):
        hn.vpn.execute_slash(op.address)
    _schedule(hn, op)  # announced again, with the evidence published again
    boa.env.time_travel(seconds=GOV_DELAY)
    with hn.as_(hn.owner):
        hn.vpn.execute_slash(op.address)
    assert hn.vpn.is_endpoint_slashed(op.address)


def test_a_pause_stops_a_slashs_timelock(hn):
    op = hn.operator("op")
    with hn.as_(hn.owner):
        hn.vpn.set_paused(True)
    _schedule(hn, op)
    boa.env.time_travel(seconds=GOV_DELAY)
    with hn.as_(hn.owner):
        hn.vpn.set_paused(False)
        with boa.reverts("timelock not elapsed"):
            hn.vpn.execute_slash(op.address)
    with hn.as_(op.account):  # the operator saw it coming and leaves; its stake stays slashable while unbonding
        hn.vpn.unbond_endpoint()


def test_execute_before_the_delay_reverts(hn):
    op = hn.operator("op")
    _schedule(hn, op)
    boa.env.time_travel(seconds=GOV_DELAY - 1)
    with hn.as_(hn.owner), boa.reverts("timelock not elapsed"):
        hn.vpn.execute_slash(op.address)


def test_cancelled_slash_cannot_execute(hn):
    op = hn.operator("op")
    _schedule(hn, op)
    with hn.as_(hn.owner):
        hn.vpn.cancel_slash(op.address)
    assert hn.event("GovSlashCancelled").addr == op.address
    boa.env.time_travel(seconds=GOV_DELAY)
    with hn.as_(hn.owner), boa.reverts("no slash scheduled"):
        hn.vpn.execute_slash(op.address)
    with hn.as_(hn.owner), boa.reverts("no slash scheduled"):
        hn.vpn.cancel_slash(op.address)
    assert not hn.vpn.is_endpoint_slashed(op.address)


def test_slash_retires_an_active_exit(hn):
    op = hn.operator("op")
    hn.gov_slash(op.address)
    assert hn.event("EndpointRetired").addr == op.address
    assert not hn.vpn.is_endpoint_active(op.address)


def test_only_owner(hn, alice):
    op = hn.operator("op")
    with hn.as_(alice), boa.reverts("not owner"):
        hn.vpn.schedule_slash(op.address, EVIDENCE)
    _schedule(hn, op)
    boa.env.time_travel(seconds=GOV_DELAY)
    for function in (hn.vpn.execute_slash, hn.vpn.cancel_slash):
        with hn.as_(alice), boa.reverts("not owner"):
            function(op.address)


def test_scheduling_twice_reverts(hn):
    op = hn.operator("op")
    _schedule(hn, op)
    with hn.as_(hn.owner), boa.reverts("slash already scheduled"):
        hn.vpn.schedule_slash(op.address, EVIDENCE)


def test_no_stake_reverts(hn, alice):
    with hn.as_(hn.owner), boa.reverts("no stake to slash"):
        hn.vpn.schedule_slash(alice.address, EVIDENCE)


def test_slash_of_an_operator_slashed_meanwhile_reverts(hn, alice):
    op = hn.operator("op")
    _schedule(hn, op)
    tid = hn.tailnet_with_exit(alice, op)
    sid = hn.session(tid, alice, op)
    with hn.as_(op.account):
        hn.vpn.settle_claim(sid, 1)
        hn.vpn.settle_claim(sid, 2)  # slashes itself
    boa.env.time_travel(seconds=GOV_DELAY)
    with hn.as_(hn.owner), boa.reverts("already slashed"):
        hn.vpn.execute_slash(op.address)
