"""schedule_params / execute_params / cancel_params: parameter changes are announced, wait GOV_DELAY on the clock
(a pause stops it), lapse if not executed within GOV_EXECUTION_WINDOW, can be cancelled, are bounded both ways, and
never reach open sessions (finding 4)."""

import boa
import pytest

from tests.contract.harness import (
    GOV_DELAY,
    MIN_SESSION_DEPOSIT,
    MIN_STAKE,
    MIN_TAILNET_DEPOSIT,
    SESSION_DEPOSIT,
    SESSION_GRACE,
    ZERO,
)

WINDOW = 7 * 86_400  # GOV_EXECUTION_WINDOW
AMOUNTS = "minimum amounts must be > 0 and within 10x of their deployed values"
LOW = dict(
    min_session_deposit=MIN_SESSION_DEPOSIT // 10,
    min_tailnet_deposit=MIN_TAILNET_DEPOSIT // 10,
    session_grace=3_600,
    sweep_grace_multiplier=2,
    sweep_bounty_bps=0,
    min_endpoint_stake=MIN_STAKE // 10,
    unbond_grace=3 * 86_400,
    slash_burn_bps=5_000,
    slash_bounty_bps=5_000,
    protocol_fee_bps=0,
)
HIGH = dict(
    min_session_deposit=MIN_SESSION_DEPOSIT * 10,
    min_tailnet_deposit=MIN_TAILNET_DEPOSIT * 10,
    session_grace=30 * 86_400,
    sweep_grace_multiplier=100,
    sweep_bounty_bps=1_000,
    min_endpoint_stake=MIN_STAKE * 10,
    unbond_grace=90 * 86_400,
    slash_burn_bps=10_000,
    slash_bounty_bps=0,
    protocol_fee_bps=200,
)


def _params(base=LOW, **overrides):
    return tuple({**base, **overrides}.values())


def test_defaults(hn):
    assert tuple(hn.vpn.get_params()) == (10**15, 10**16, 86_400, 10, 100, MIN_STAKE, 30 * 86_400, 9_000, 1_000, 50)
    assert tuple(hn.vpn.get_pending_params()[0]) == (0,) * 10 and hn.vpn.get_pending_params()[1] == 0


@pytest.mark.parametrize("edge", [LOW, HIGH], ids=["floors", "ceilings"])
def test_schedule_then_execute_after_the_delay_at_the_edge_of_every_bound(hn, edge):
    before = tuple(hn.vpn.get_params())
    with hn.as_(hn.owner):
        eta = hn.vpn.schedule_params(_params(edge))
    event = hn.event("ParamsScheduled")
    assert (tuple(event.params), event.eta) == (_params(edge), hn.vpn.clock() + GOV_DELAY) == (_params(edge), eta)
    assert tuple(hn.vpn.get_params()) == before  # nothing changes at announcement
    boa.env.time_travel(seconds=GOV_DELAY - 1)
    with hn.as_(hn.owner), boa.reverts("timelock not elapsed"):
        hn.vpn.execute_params()
    boa.env.time_travel(seconds=1)
    with hn.as_(hn.owner):
        hn.vpn.execute_params()
    assert tuple(hn.event("ParamsUpdated").params) == _params(edge)
    assert tuple(hn.vpn.get_params()) == _params(edge)
    with hn.as_(hn.owner), boa.reverts("no change scheduled"):
        hn.vpn.execute_params()


def test_a_pause_stops_the_timelock(hn):
    """Found in review: the timelock ran on wall time while operators, paused, could not leave: pause, announce,
    wait, execute, unpause, and nobody could react."""
    with hn.as_(hn.owner):
        hn.vpn.set_paused(True)
        eta = hn.vpn.schedule_params(_params())
        boa.env.time_travel(seconds=GOV_DELAY)
        with boa.reverts("timelock not elapsed"):
            hn.vpn.execute_params()
        hn.vpn.set_paused(False)
        with boa.reverts("timelock not elapsed"):
            hn.vpn.execute_params()
        boa.env.time_travel(seconds=GOV_DELAY)
        assert hn.vpn.clock() == eta
        hn.vpn.execute_params()
    assert hn.vpn.get_params().protocol_fee_bps == _params()[-1]


def test_an_announcement_not_executed_in_its_window_lapses(hn):
    """Found in review: a change announced long ago could be applied at any later time."""
    with hn.as_(hn.owner):
        eta = hn.vpn.schedule_params(_params())
        assert hn.vpn.get_pending_params()[1] == eta
        boa.env.time_travel(seconds=GOV_DELAY + WINDOW - 1)
        assert hn.vpn.get_pending_params()[1] == eta
        boa.env.time_travel(seconds=1)
        assert hn.vpn.get_pending_params()[1] == 0
        with boa.reverts("the announcement lapsed: schedule it again"):
            hn.vpn.execute_params()
        hn.vpn.schedule_params(_params())  # a lapsed one stands in the way of nothing
        boa.env.time_travel(seconds=GOV_DELAY)
        hn.vpn.execute_params()


def test_cancel_drops_the_change(hn):
    with hn.as_(hn.owner):
        hn.vpn.schedule_params(_params())
        with boa.reverts("a change is already scheduled: execute or cancel it"):
            hn.vpn.schedule_params(_params())
        hn.vpn.cancel_params()
        assert tuple(hn.event("ParamsCancelled").params) == _params()
        boa.env.time_travel(seconds=GOV_DELAY)
        with boa.reverts("no change scheduled"):
            hn.vpn.execute_params()
        with boa.reverts("no change scheduled"):
            hn.vpn.cancel_params()
    assert hn.vpn.get_params().protocol_fee_bps == 50


def test_only_owner(hn, alice):
    for call in (lambda: hn.vpn.schedule_params(_params()), hn.vpn.execute_params, hn.vpn.cancel_params):
        with hn.as_(alice), boa.reverts("not owner"):
            call()


@pytest.mark.parametrize(
    "overrides, reason",
    [
        (dict(min_session_deposit=0), AMOUNTS),
        (dict(min_session_deposit=MIN_SESSION_DEPOSIT // 10 - 1), AMOUNTS),
        (dict(min_session_deposit=MIN_SESSION_DEPOSIT * 10 + 1), AMOUNTS),
        (dict(min_tailnet_deposit=MIN_TAILNET_DEPOSIT // 10 - 1), AMOUNTS),
        (dict(min_tailnet_deposit=MIN_TAILNET_DEPOSIT * 10 + 1), AMOUNTS),
        (dict(min_endpoint_stake=MIN_STAKE // 10 - 1), AMOUNTS),
        (dict(min_endpoint_stake=MIN_STAKE * 10 + 1), AMOUNTS),
        (dict(min_endpoint_stake=2**256 - 1), AMOUNTS),
        (dict(session_grace=3_599), "session grace outside 1 h .. 30 d"),
        (dict(session_grace=30 * 86_400 + 1), "session grace outside 1 h .. 30 d"),
        (dict(sweep_grace_multiplier=1), "sweep multiplier outside 2 .. 100"),
        (dict(sweep_grace_multiplier=101), "sweep multiplier outside 2 .. 100"),
        (dict(sweep_bounty_bps=1_001), "sweep bounty <= 10%"),
        (dict(unbond_grace=3 * 86_400 - 1), "unbond grace outside 3 d .. 90 d"),
        (dict(unbond_grace=2**256 - 1), "unbond grace outside 3 d .. 90 d"),
        (dict(slash_burn_bps=4_999, slash_bounty_bps=5_001), "burn share too low"),
        (dict(slash_burn_bps=9_000, slash_bounty_bps=999), "slash bps sum"),
        (dict(protocol_fee_bps=201), "protocol fee > 2%"),
    ],
)
def test_out_of_bounds_reverts_at_announcement(hn, overrides, reason):
    with hn.as_(hn.owner), boa.reverts(reason):
        hn.vpn.schedule_params(_params(**overrides))


def test_open_sessions_keep_the_terms_they_opened_with(h, alice):
    """The attack: raising the sweep bounty and shortening the grace swept 2-second-old deposits."""
    op = h.operator("op")
    tid = h.tailnet_with_exit(alice, op)
    sid = h.session(tid, alice, op, SESSION_DEPOSIT)
    opened = h.vpn.get_session(sid)
    assert (opened.protocol_fee_bps, opened.sweep_bounty_bps) == (50, 100)
    assert opened.settle_by == h.vpn.clock() + SESSION_GRACE
    assert opened.sweep_after == h.vpn.clock() + SESSION_GRACE * 10
    h.apply_params(_params(HIGH, session_grace=3_600, sweep_grace_multiplier=2))
    assert h.vpn.get_session(sid) == opened
    with boa.reverts("sweep grace not elapsed"):
        h.vpn.sweep_expired_session(sid)
    # settled under the old fee (0.5 %), not the new one (2 %)
    with h.as_(op.account):
        h.vpn.settle_with_receipt(sid, 1, 10**9, h.receipt_sig(alice, sid, 1, 10**9))
    settled = h.event("SessionSettled")
    assert settled.protocol_fee == settled.total_paid * 50 // 10_000


# The parameters are packed: every minimum amount, up to ten times its deployed value, fits 96 bits.
LARGEST_MINIMUM = (2**96 - 1) // 10
TOO_LARGE = "minimum amounts above (2**96 - 1) / 10"


@pytest.mark.parametrize(
    "args, reason",
    [
        ((0, 1, 3_600, MIN_STAKE), AMOUNTS),
        ((1, 0, 3_600, MIN_STAKE), AMOUNTS),
        ((1, 1, 3_599, MIN_STAKE), "session grace outside 1 h .. 30 d"),
        ((1, 1, 3_600, 0), AMOUNTS),
        ((1, 1, 3_600, LARGEST_MINIMUM + 1), TOO_LARGE),
        ((LARGEST_MINIMUM + 1, 1, 3_600, MIN_STAKE), TOO_LARGE),
        ((1, LARGEST_MINIMUM + 1, 3_600, MIN_STAKE), TOO_LARGE),
    ],
)
def test_constructor_rejects_bad_parameters(args, reason):
    from tests.contract.deployers import deploy_vpn

    with boa.reverts(reason):
        deploy_vpn(ZERO, *args)


def test_the_largest_parameters_that_fit_their_packing_read_back_whole():
    from tests.contract.deployers import deploy_vpn

    vpn = deploy_vpn(ZERO, LARGEST_MINIMUM, LARGEST_MINIMUM, 30 * 86_400, LARGEST_MINIMUM)
    largest = list(vpn.get_params())
    assert largest[:3] == [LARGEST_MINIMUM, LARGEST_MINIMUM, 30 * 86_400]
    # Each field at the top of its bounds, the amounts at ten times their deployed values.
    largest = [LARGEST_MINIMUM * 10, LARGEST_MINIMUM * 10, 30 * 86_400, 100, 1_000, LARGEST_MINIMUM * 10]
    largest += [90 * 86_400, 10_000, 0, 200]
    vpn.schedule_params(tuple(largest))
    boa.env.time_travel(seconds=2 * 86_400)
    vpn.execute_params()
    assert list(vpn.get_params()) == largest
    assert vpn.get_min_endpoint_stake() == LARGEST_MINIMUM * 10 and vpn.get_protocol_fee_bps() == 200
