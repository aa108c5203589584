"""close_session: a tailnet owner ends sessions that outlived their opener's authority (finding 7: a revoked device
of a removed member signed away its session's whole deposit), and the exit keeps the settlement window it was
promised at opening (found in review: a close once cut it to 6 h, so the paying side could remove its own second
wallet and close to leave an honest exit short)."""

import boa

from tests.contract.harness import MB, SESSION_DEPOSIT, SESSION_GRACE, actor


def _device_session(h, owner, member):
    op = h.operator("op")
    tid = h.tailnet_with_exit(owner, op)
    with h.as_(owner):
        h.vpn.add_member(tid, member.address)
    laptop = actor("laptop")
    h.register_device(member, laptop)
    return op, tid, laptop, h.session(tid, laptop, op, SESSION_DEPOSIT)


def test_owner_closes_a_removed_members_session_and_the_exit_keeps_its_window(h, alice, bob):
    op, tid, laptop, sid = _device_session(h, alice, bob)
    served = h.receipt_sig(laptop, sid, 3, 5 * MB)
    settle_by = h.vpn.get_session(sid).settle_by
    with h.as_(alice):
        h.vpn.remove_member(tid, bob.address)
        h.vpn.close_session(sid)
    event = h.event("SessionClosed")
    assert (event.session_id, event.settle_by) == (sid, settle_by)
    assert h.vpn.get_session(sid).settle_by == settle_by
    boa.env.time_travel(seconds=SESSION_GRACE - 1)  # far past the 6 h a close once left
    with boa.reverts("grace not elapsed"):
        h.vpn.claim_no_show(sid)
    with h.as_(op.account):
        h.vpn.settle_with_receipt(sid, 3, 5 * MB, served)
    assert h.event("SessionSettled").bytes_used == 5 * MB


def test_after_the_window_the_deposit_goes_back(h, alice, bob):
    _, tid, laptop, sid = _device_session(h, alice, bob)
    with h.as_(alice):
        h.vpn.remove_member(tid, bob.address)
        h.vpn.close_session(sid)
    treasury = h.vpn.get_tailnet(tid).treasury
    boa.env.time_travel(seconds=SESSION_GRACE)
    h.vpn.claim_no_show(sid)
    assert h.vpn.get_tailnet(tid).treasury == treasury + SESSION_DEPOSIT


def test_a_session_whose_opener_still_acts_for_a_member_cannot_be_closed(hn, alice, bob):
    _, tid, laptop, sid = _device_session(hn, alice, bob)
    with hn.as_(alice), boa.reverts("opener still acts for a member"):
        hn.vpn.close_session(sid)
    with hn.as_(bob):
        hn.vpn.revoke_device(laptop.address)
    with hn.as_(bob), boa.reverts("not tailnet owner"):
        hn.vpn.close_session(sid)
    with hn.as_(alice):
        hn.vpn.close_session(sid)


def test_a_removed_member_wallet_session_can_be_closed(hn, alice, bob):
    op = hn.operator("op")
    tid = hn.tailnet_with_exit(alice, op)
    with hn.as_(alice):
        hn.vpn.add_member(tid, bob.address)
    sid = hn.session(tid, bob, op)
    with hn.as_(alice):
        hn.vpn.remove_member(tid, bob.address)
        hn.vpn.close_session(sid)
    with hn.as_(op.account):
        hn.vpn.settle_with_receipt(sid, 1, MB, hn.receipt_sig(bob, sid, 1, MB))
    with hn.as_(alice), boa.reverts("session not open"):
        hn.vpn.close_session(sid)
