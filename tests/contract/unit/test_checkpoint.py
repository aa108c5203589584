"""checkpoint: the exit is paid for what a receipt proves above what was paid, while the session stays open."""

import boa

from tests.contract.harness import MB, SESSION_DEPOSIT, actor


def _checkpoint(s, signer, seq: int, used: int):
    with s.h.as_(s.op.account):
        s.h.vpn.checkpoint(s.session_id, seq, used, s.h.receipt_sig(signer, s.session_id, seq, used))
    return s.h.event("SessionCheckpointed")


def test_pays_the_exit_its_share_and_keeps_the_session_open(open_session, alice):
    s = open_session
    total, fee, net = s.h.pay_for(s.session_id, 300 * MB)
    treasury = s.h.vpn.get_tailnet(s.tailnet_id).treasury
    event = _checkpoint(s, alice, 3, 300 * MB)
    assert (event.seq, event.bytes_used, event.paid, event.earned) == (3, 300 * MB, total, net)
    assert s.h.vpn.get_earnings(s.op.address) == net
    record = s.h.vpn.get_session(s.session_id)
    assert (record.status, record.bytes_paid, record.deposit_left) == (0, 300 * MB, SESSION_DEPOSIT - total)
    # Nothing else moved: the fee stays in the deposit until the end, the tailnet gets nothing back yet.
    assert s.h.vpn.get_program_treasury() == 0
    assert s.h.vpn.get_tailnet(s.tailnet_id).treasury == treasury
    assert s.h.vpn.get_endpoint(s.op.address).reputation == 0


def test_a_later_checkpoint_pays_only_the_difference(open_session, alice):
    s = open_session
    _checkpoint(s, alice, 1, 100 * MB)
    second = _checkpoint(s, alice, 2, 250 * MB)
    _, _, net_all = s.h.pay_for(s.session_id, 250 * MB)
    _, _, net_first = s.h.pay_for(s.session_id, 100 * MB)
    assert second.earned == net_all - net_first
    assert s.h.vpn.get_earnings(s.op.address) == net_all


def test_the_settlement_after_checkpoints_pays_the_rest_and_the_fee_on_all_of_it(open_session, alice):
    s = open_session
    _checkpoint(s, alice, 1, 100 * MB)
    _checkpoint(s, alice, 2, 400 * MB)
    treasury = s.h.vpn.get_tailnet(s.tailnet_id).treasury
    total, fee, net = s.h.pay_for(s.session_id, 700 * MB)
    with s.h.as_(s.op.account):
        s.h.vpn.settle_with_receipt(s.session_id, 3, 700 * MB, s.h.receipt_sig(alice, s.session_id, 3, 700 * MB))
    settled = s.h.event("SessionSettled")
    assert (settled.total_paid, settled.protocol_fee, settled.refund) == (total, fee, SESSION_DEPOSIT - total)
    assert s.h.vpn.get_earnings(s.op.address) == net  # earned once in all, whatever the steps
    assert s.h.vpn.get_program_treasury() == fee
    assert s.h.vpn.get_tailnet(s.tailnet_id).treasury == treasury + SESSION_DEPOSIT - total
    assert s.h.vpn.get_endpoint(s.op.address).reputation == total


def test_the_same_bytes_are_never_paid_twice(open_session, alice):
    s = open_session
    _checkpoint(s, alice, 5, 200 * MB)
    for seq, used in ((5, 200 * MB), (4, 150 * MB), (6, 200 * MB)):
        with s.h.as_(s.op.account), boa.reverts("receipt adds nothing to what was paid"):
            s.h.vpn.checkpoint(s.session_id, seq, used, s.h.receipt_sig(alice, s.session_id, seq, used))
    with s.h.as_(s.op.account), boa.reverts("usage below what checkpoints paid"):
        s.h.vpn.settle_with_receipt(s.session_id, 4, 150 * MB, s.h.receipt_sig(alice, s.session_id, 4, 150 * MB))


def test_a_settlement_may_repeat_the_last_checkpoint(open_session, alice):
    """A device gone quiet after the last checkpoint: the exit ends the session with the receipt it has."""
    s = open_session
    _checkpoint(s, alice, 5, 200 * MB)
    earned = s.h.vpn.get_earnings(s.op.address)
    with s.h.as_(s.op.account):
        s.h.vpn.settle_with_receipt(s.session_id, 5, 200 * MB, s.h.receipt_sig(alice, s.session_id, 5, 200 * MB))
    assert s.h.event("SessionSettled").total_paid == s.h.pay_for(s.session_id, 200 * MB)[0]
    assert s.h.vpn.get_earnings(s.op.address) == earned


def test_usage_above_the_deposit_is_refused(open_session, alice):
    s = open_session
    price = s.h.vpn.get_session(s.session_id).price_per_mb
    over = SESSION_DEPOSIT * MB // price + MB
    with s.h.as_(s.op.account), boa.reverts("usage exceeds deposit"):
        s.h.vpn.checkpoint(s.session_id, 1, over, s.h.receipt_sig(alice, s.session_id, 1, over))


def test_only_the_sessions_exit(open_session, alice, bob):
    s = open_session
    with s.h.as_(bob), boa.reverts("not session exit"):
        s.h.vpn.checkpoint(s.session_id, 1, MB, s.h.receipt_sig(alice, s.session_id, 1, MB))


def test_a_receipt_not_signed_by_the_opener_or_its_device(open_session, bob):
    s = open_session
    with s.h.as_(s.op.account), boa.reverts("receipt not signed by the opener or its device"):
        s.h.vpn.checkpoint(s.session_id, 1, MB, s.h.receipt_sig(bob, s.session_id, 1, MB))
    with s.h.as_(s.op.account), boa.reverts("signature must be 65 bytes (r, s, v)"):
        s.h.vpn.checkpoint(s.session_id, 1, MB, b"\x01" * 64)


def test_a_revoked_device_proves_nothing(h, alice):
    op = h.operator("op")
    tid = h.tailnet_with_exit(alice, op)
    laptop = actor("laptop")
    h.register_device(alice, laptop)
    sid = h.session(tid, alice, op)
    with h.as_(alice):
        h.vpn.revoke_device(laptop.address)
    with h.as_(op.account), boa.reverts("receipt not signed by the opener or its device"):
        h.vpn.checkpoint(sid, 1, MB, h.receipt_sig(laptop, sid, 1, MB))


def test_a_slashed_exit_is_paid_nothing(open_session, alice):
    s = open_session
    s.h.gov_slash(s.op.address)
    with s.h.as_(s.op.account), boa.reverts("operator slashed"):
        s.h.vpn.checkpoint(s.session_id, 1, MB, s.h.receipt_sig(alice, s.session_id, 1, MB))


def test_an_ended_session(open_session, alice):
    s = open_session
    with s.h.as_(s.op.account):
        s.h.vpn.settle_with_receipt(s.session_id, 1, MB, s.h.receipt_sig(alice, s.session_id, 1, MB))
    with s.h.as_(s.op.account), boa.reverts("session not open"):
        s.h.vpn.checkpoint(s.session_id, 2, 2 * MB, s.h.receipt_sig(alice, s.session_id, 2, 2 * MB))


def test_refunds_after_checkpoints_return_only_what_was_not_paid(open_session, alice):
    s = open_session
    _checkpoint(s, alice, 1, 300 * MB)
    total, fee, net = s.h.pay_for(s.session_id, 300 * MB)
    treasury = s.h.vpn.get_tailnet(s.tailnet_id).treasury
    record = s.h.vpn.get_session(s.session_id)
    boa.env.time_travel(seconds=record.settle_by - s.h.vpn.clock())
    s.h.vpn.claim_no_show(s.session_id)
    refunded = s.h.event("SessionRefunded")
    assert refunded.treasury == treasury + SESSION_DEPOSIT - total
    assert refunded.program_treasury == fee == s.h.vpn.get_program_treasury()
    assert s.h.vpn.get_earnings(s.op.address) == net
    assert s.h.vpn.get_endpoint(s.op.address).reputation == total


def test_paused(open_session, alice):
    s = open_session
    with s.h.as_(s.h.owner):
        s.h.vpn.set_paused(True)
    with s.h.as_(s.op.account), boa.reverts("paused"):
        s.h.vpn.checkpoint(s.session_id, 1, MB, s.h.receipt_sig(alice, s.session_id, 1, MB))
