import boa

from tests.contract.harness import SESSION_DEPOSIT


def _sweep_grace(h):
    params = h.vpn.get_params()
    return params.session_grace * params.sweep_grace_multiplier


def test_sweeper_earns_bounty_rest_returns_to_tailnet(open_session, carol):
    s = open_session
    before = s.h.vpn.get_tailnet(s.tailnet_id).treasury
    bounty = SESSION_DEPOSIT * s.h.vpn.get_params().sweep_bounty_bps // 10_000
    boa.env.time_travel(seconds=_sweep_grace(s.h))
    with s.h.as_(carol):
        s.h.vpn.sweep_expired_session(s.session_id)
    event = s.h.event("SessionSwept")
    assert (event.session_id, event.sweeper, event.bounty) == (s.session_id, carol.address, bounty)
    assert s.h.balance(carol) == bounty
    assert s.h.vpn.get_tailnet(s.tailnet_id).treasury == before + SESSION_DEPOSIT - bounty
    assert s.h.vpn.get_session(s.session_id).status == 2


def test_before_sweep_grace_reverts(open_session, carol):
    s = open_session
    boa.env.time_travel(seconds=_sweep_grace(s.h) - 1)
    with s.h.as_(carol), boa.reverts("sweep grace not elapsed"):
        s.h.vpn.sweep_expired_session(s.session_id)


def test_closed_session_reverts(open_session, carol):
    s = open_session
    boa.env.time_travel(seconds=_sweep_grace(s.h))
    with s.h.as_(carol):
        s.h.vpn.claim_no_show(s.session_id)
        with boa.reverts("session not open"):
            s.h.vpn.sweep_expired_session(s.session_id)


def test_unknown_session_reverts(open_session, carol):
    with open_session.h.as_(carol), boa.reverts("session not found"):
        open_session.h.vpn.sweep_expired_session(5)
