import boa

from tests.contract.harness import MB, SESSION_DEPOSIT, SESSION_GRACE


def test_after_grace_the_deposit_returns_to_the_tailnet(open_session, bob):
    s = open_session
    before = s.h.vpn.get_tailnet(s.tailnet_id).treasury
    boa.env.time_travel(seconds=SESSION_GRACE)
    with s.h.as_(bob):
        s.h.vpn.claim_no_show(s.session_id)
    event = s.h.event("SessionRefunded")
    assert (event.session_id, event.reason) == (s.session_id, "no-show")
    assert s.h.vpn.get_session(s.session_id).status == 2
    assert s.h.vpn.get_tailnet(s.tailnet_id).treasury == before + SESSION_DEPOSIT


def test_before_grace_reverts(open_session, alice):
    s = open_session
    boa.env.time_travel(seconds=SESSION_GRACE - 1)
    with s.h.as_(alice), boa.reverts("grace not elapsed"):
        s.h.vpn.claim_no_show(s.session_id)


def test_settled_session_reverts(open_session, alice):
    s = open_session
    with s.h.as_(s.op.account):
        s.h.vpn.settle_with_receipt(s.session_id, 1, MB, s.h.receipt_sig(alice, s.session_id, 1, MB))
    boa.env.time_travel(seconds=SESSION_GRACE)
    with s.h.as_(alice), boa.reverts("session not open"):
        s.h.vpn.claim_no_show(s.session_id)


def test_refunded_session_cannot_be_settled(open_session, alice):
    s = open_session
    boa.env.time_travel(seconds=SESSION_GRACE)
    with s.h.as_(alice):
        s.h.vpn.claim_no_show(s.session_id)
    with s.h.as_(s.op.account), boa.reverts("session not open"):
        s.h.vpn.settle_with_receipt(s.session_id, 1, MB, s.h.receipt_sig(alice, s.session_id, 1, MB))


def test_unknown_session_reverts(open_session, alice):
    with open_session.h.as_(alice), boa.reverts("session not found"):
        open_session.h.vpn.claim_no_show(99)
