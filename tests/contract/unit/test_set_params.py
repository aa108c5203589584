import boa
import pytest

from tests.contract.harness import MIN_STAKE

POSITIVE = "min deposits, session grace and sweep multiplier must be > 0"
GOOD = dict(
    min_session_deposit=1,
    min_tailnet_deposit=2,
    session_grace=3_600,
    sweep_grace_multiplier=5,
    sweep_bounty_bps=1_000,
    min_endpoint_stake=MIN_STAKE // 10,
    unbond_grace=10_000,
    slash_burn_bps=5_000,
    slash_bounty_bps=5_000,
    protocol_fee_bps=200,
)


def _params(**overrides):
    return tuple({**GOOD, **overrides}.values())


def test_defaults(hn):
    params = hn.vpn.get_params()
    assert tuple(params) == (10**15, 10**16, 86_400, 10, 100, MIN_STAKE, 30 * 86_400, 9_000, 1_000, 50)
    assert hn.vpn.get_min_endpoint_stake() == MIN_STAKE
    assert hn.vpn.get_protocol_fee_bps() == 50
    assert hn.vpn.stake_floor() == MIN_STAKE // 10


def test_owner_sets_every_parameter_at_the_edge_of_its_bounds(hn):
    with hn.as_(hn.owner):
        hn.vpn.set_params(_params())
    assert tuple(hn.event("ParamsUpdated").params) == _params()
    assert tuple(hn.vpn.get_params()) == _params()


def test_only_owner(hn, alice):
    with hn.as_(alice), boa.reverts("not owner"):
        hn.vpn.set_params(_params())


@pytest.mark.parametrize(
    "overrides, reason",
    [
        (dict(min_session_deposit=0), POSITIVE),
        (dict(min_tailnet_deposit=0), POSITIVE),
        (dict(session_grace=0), POSITIVE),
        (dict(sweep_grace_multiplier=0), POSITIVE),
        (dict(sweep_bounty_bps=1_001), "sweep bounty <= 10%"),
        (dict(min_endpoint_stake=MIN_STAKE // 10 - 1), "stake floor too low"),
        (dict(unbond_grace=9_999), "unbond grace too short"),
        (dict(slash_burn_bps=4_999, slash_bounty_bps=5_001), "burn share too low"),
        (dict(slash_burn_bps=9_000, slash_bounty_bps=999), "slash bps sum"),
        (dict(protocol_fee_bps=201), "protocol fee > 2%"),
    ],
)
def test_out_of_bounds_reverts(hn, overrides, reason):
    with hn.as_(hn.owner), boa.reverts(reason):
        hn.vpn.set_params(_params(**overrides))


@pytest.mark.parametrize(
    "args, reason",
    [
        ((0, 1, 1, MIN_STAKE), "session deposit > 0"),
        ((1, 0, 1, MIN_STAKE), "tailnet deposit > 0"),
        ((1, 1, 0, MIN_STAKE), "session grace > 0"),
        ((1, 1, 1, 9), "min endpoint stake too low"),
    ],
)
def test_constructor_rejects_bad_parameters(args, reason):
    from tests.contract.deployers import vpn_deployer
    from tests.contract.harness import ZERO

    with boa.reverts(reason):
        vpn_deployer().deploy(ZERO, *args)
