"""top_up_session: the opener adds to an open session's deposit and moves its deadlines on, instead of opening
another session."""

import boa

from tests.contract.harness import ETHER, MB, SESSION_DEPOSIT, SESSION_GRACE, actor


def _age_the_tailnet(h):
    """Past the 30 days that keep a new tailnet's creation deposit in it."""
    boa.env.time_travel(seconds=31 * 86_400)


def test_adds_to_the_deposit_and_gives_a_full_grace_from_now(open_session, alice):
    s = open_session
    before = s.h.vpn.get_session(s.session_id)
    treasury = s.h.vpn.get_tailnet(s.tailnet_id).treasury
    boa.env.time_travel(seconds=3_600)
    with s.h.as_(alice):
        s.h.vpn.top_up_session(s.session_id, SESSION_DEPOSIT)
    event = s.h.event("SessionToppedUp")
    assert (event.amount, event.deposit, event.treasury) == (
        SESSION_DEPOSIT,
        2 * SESSION_DEPOSIT,
        treasury - SESSION_DEPOSIT,
    )
    after = s.h.vpn.get_session(s.session_id)
    assert after.settle_by == before.settle_by + 3_600 == s.h.vpn.clock() + SESSION_GRACE
    assert after.sweep_after == before.sweep_after + 3_600
    assert (after.price_per_mb, after.exit, after.opener) == (before.price_per_mb, before.exit, before.opener)


def test_the_topped_up_deposit_pays(open_session, alice):
    s = open_session
    price = s.h.vpn.get_session(s.session_id).price_per_mb
    beyond_the_first = SESSION_DEPOSIT * MB // price + MB
    with s.h.as_(alice):
        s.h.vpn.top_up_session(s.session_id, SESSION_DEPOSIT)
    with s.h.as_(s.op.account):
        sig = s.h.receipt_sig(alice, s.session_id, 1, beyond_the_first)
        s.h.vpn.settle_with_receipt(s.session_id, 1, beyond_the_first, sig)
    settled = s.h.event("SessionSettled")
    assert settled.refund == 2 * SESSION_DEPOSIT - settled.total_paid


def test_zero_only_extends_and_deadlines_never_move_earlier(h, alice):
    op = h.operator("op")
    tid = h.tailnet_with_exit(alice, op)
    sid = h.session(tid, alice, op)
    before = h.vpn.get_session(sid)
    # A shorter grace since: a top-up must not cut the window the exit was promised.
    params = list(h.vpn.get_params())
    params[2] = SESSION_GRACE // 4
    h.apply_params(tuple(params))
    with h.as_(alice):
        h.vpn.top_up_session(sid, 0)
    after = h.vpn.get_session(sid)
    assert after.deposit == before.deposit
    assert after.settle_by == max(before.settle_by, h.vpn.clock() + SESSION_GRACE // 4)
    assert after.sweep_after >= before.sweep_after


def test_only_the_opener(open_session, bob):
    s = open_session
    with s.h.as_(bob), boa.reverts("not session opener"):
        s.h.vpn.top_up_session(s.session_id, 1)


def test_a_removed_member_cannot_spend_the_treasury(h, alice, bob):
    op = h.operator("op")
    tid = h.tailnet_with_exit(alice, op)
    with h.as_(alice):
        h.vpn.add_member(tid, bob.address)
    h.fund(bob, ETHER)
    sid = h.session(tid, bob, op)
    with h.as_(alice):
        h.vpn.remove_member(tid, bob.address)
    with h.as_(bob), boa.reverts("not a member"):
        h.vpn.top_up_session(sid, 1)


def test_a_revoked_device_cannot_either(h, alice):
    op = h.operator("op")
    tid = h.tailnet_with_exit(alice, op)
    phone = actor("phone")
    h.register_device(alice, phone)
    sid = h.session(tid, phone, op)
    with h.as_(alice):
        h.vpn.revoke_device(phone.address)
    with h.as_(phone), boa.reverts("not a member"):
        h.vpn.top_up_session(sid, 1)


def test_an_exit_the_tailnet_no_longer_allows(open_session, alice):
    s = open_session
    with s.h.as_(alice):
        s.h.vpn.remove_tailnet_exit(s.tailnet_id, s.op.address)
    with s.h.as_(alice), boa.reverts("exit not configured"):
        s.h.vpn.top_up_session(s.session_id, 1)


def test_an_exit_that_left(open_session, alice):
    s = open_session
    with s.h.as_(s.op.account):
        s.h.vpn.retire_endpoint()
    with s.h.as_(alice), boa.reverts("exit inactive"):
        s.h.vpn.top_up_session(s.session_id, 1)


def test_an_exit_that_raised_its_price_takes_no_more_at_the_old_one(open_session, alice):
    s = open_session
    price = s.h.vpn.get_session(s.session_id).price_per_mb
    with s.h.as_(s.op.account):
        s.h.vpn.update_endpoint("198.51.100.7:51820", "eu-west", price + 1)
    with s.h.as_(alice), boa.reverts("exit raised its price: open a new session"):
        s.h.vpn.top_up_session(s.session_id, 1)
    with s.h.as_(s.op.account):
        s.h.vpn.update_endpoint("198.51.100.7:51820", "eu-west", price - 1)
    with s.h.as_(alice):
        s.h.vpn.top_up_session(s.session_id, 1)  # cheaper now: the session keeps its own price


def test_the_treasury_must_cover_it_and_the_creation_deposit_stays(open_session, alice):
    s = open_session
    treasury = s.h.vpn.get_tailnet(s.tailnet_id).treasury
    with s.h.as_(alice), boa.reverts("the creation deposit stays for 30 days"):
        s.h.vpn.top_up_session(s.session_id, treasury)
    _age_the_tailnet(s.h)
    with s.h.as_(alice), boa.reverts("treasury insufficient"):
        s.h.vpn.top_up_session(s.session_id, treasury + 1)


def test_an_ended_session(open_session, alice):
    s = open_session
    with s.h.as_(s.op.account):
        s.h.vpn.settle_with_receipt(s.session_id, 1, MB, s.h.receipt_sig(alice, s.session_id, 1, MB))
    with s.h.as_(alice), boa.reverts("session not open"):
        s.h.vpn.top_up_session(s.session_id, 1)


def test_paused(open_session, alice):
    s = open_session
    with s.h.as_(s.h.owner):
        s.h.vpn.set_paused(True)
    with s.h.as_(alice), boa.reverts("paused"):
        s.h.vpn.top_up_session(s.session_id, 1)
