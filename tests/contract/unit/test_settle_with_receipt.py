import boa
from eth_account import Account
from eth_account.messages import encode_typed_data

from octravpn.protocol import Receipt, typed_data
from tests.contract.harness import MB, SESSION_DEPOSIT, actor


def _eth_account_signature(h, signer, session_id, seq, bytes_used) -> bytes:
    """Sign with eth-account's typed-data signer, not the project's own code."""
    message = encode_typed_data(
        full_message=typed_data(h.domain(), Receipt(session_id=session_id, seq=seq, bytes_used=bytes_used))
    )
    return bytes(Account.sign_message(message, signer.key).signature)


def _exit_tailnet_and_device(h, wallet, device_alias):
    """An exit, `wallet`'s tailnet allowing it, and a device key registered to `wallet`."""
    op = h.operator("op")
    tid = h.tailnet_with_exit(wallet, op)
    device = actor(device_alias)
    h.register_device(wallet, device)
    return op, tid, device


def test_exit_settles_alone_with_a_receipt_signed_by_eth_account(open_session, alice):
    s = open_session
    used = 1_234 * MB
    total, fee, net = s.h.pay_for(s.session_id, used)
    with s.h.as_(s.op.account):
        s.h.vpn.settle_with_receipt(s.session_id, 12, used, _eth_account_signature(s.h, alice, s.session_id, 12, used))
    by_receipt = s.h.event("SettledByReceipt")
    settled = s.h.event("SessionSettled")
    assert (by_receipt.session_id, by_receipt.seq, by_receipt.bytes_used) == (s.session_id, 12, used)
    assert (settled.total_paid, settled.protocol_fee, settled.refund) == (total, fee, SESSION_DEPOSIT - total)
    assert s.h.vpn.get_earnings(s.op.address) == net
    assert s.h.vpn.get_session(s.session_id).status == 1


def test_tampered_byte_count_is_rejected(open_session, alice):
    s = open_session
    signature = _eth_account_signature(s.h, alice, s.session_id, 12, MB)
    with s.h.as_(s.op.account), boa.reverts("receipt not signed by the opener or its device"):
        s.h.vpn.settle_with_receipt(s.session_id, 12, 2 * MB, signature)


def test_receipt_for_another_session_is_rejected(open_session, alice):
    s = open_session
    other = s.h.session(s.tailnet_id, alice, s.op)
    signature = _eth_account_signature(s.h, alice, other, 1, MB)
    with s.h.as_(s.op.account), boa.reverts("receipt not signed by the opener or its device"):
        s.h.vpn.settle_with_receipt(s.session_id, 1, MB, signature)


def test_receipt_from_someone_else_is_rejected(open_session, bob):
    s = open_session
    with s.h.as_(s.op.account), boa.reverts("receipt not signed by the opener or its device"):
        s.h.vpn.settle_with_receipt(s.session_id, 1, MB, s.h.receipt_sig(bob, s.session_id, 1, MB))


def test_receipt_signed_by_the_openers_device(h, alice):
    op, tid, phone = _exit_tailnet_and_device(h, alice, "phone")
    sid = h.session(tid, phone, op)
    with h.as_(op.account):
        with boa.reverts("receipt not signed by the opener or its device"):
            h.vpn.settle_with_receipt(sid, 1, MB, h.receipt_sig(alice, sid, 1, MB))
        h.vpn.settle_with_receipt(sid, 1, MB, h.receipt_sig(phone, sid, 1, MB))


def test_receipt_signed_by_a_device_of_the_opener_wallet_settles(h, alice):
    """The attack: the exit served a client signing with a device key, then could never settle: free bandwidth."""
    op, tid, laptop = _exit_tailnet_and_device(h, alice, "laptop")
    sid = h.session(tid, alice, op)
    assert h.vpn.is_receipt_signer(sid, laptop.address) and h.vpn.is_receipt_signer(sid, alice.address)
    with h.as_(op.account):
        h.vpn.settle_with_receipt(sid, 1, 40 * MB, h.receipt_sig(laptop, sid, 1, 40 * MB))
    assert h.event("SessionSettled").bytes_used == 40 * MB


def test_a_revoked_device_signs_for_no_open_session_whoever_opened_it(h, alice):
    """Found in review: a device revoked after its wallet opened a session stayed a valid signer for it, so a
    stolen laptop and a colluding exit took the whole deposit (and the owner could not close the session: its
    opener still acted for a member)."""
    op, tid, laptop = _exit_tailnet_and_device(h, alice, "laptop")
    sid = h.session(tid, alice, op)
    stolen = h.receipt_sig(laptop, sid, 1, 40 * MB)
    boa.env.time_travel(seconds=60)
    with h.as_(alice):
        h.vpn.revoke_device(laptop.address)
    assert not h.vpn.is_receipt_signer(sid, laptop.address) and h.vpn.is_receipt_signer(sid, alice.address)
    with h.as_(op.account), boa.reverts("receipt not signed by the opener or its device"):
        h.vpn.settle_with_receipt(sid, 1, 40 * MB, stolen)
    with h.as_(op.account):  # what the member itself signs still settles
        h.vpn.settle_with_receipt(sid, 1, 2 * MB, h.receipt_sig(alice, sid, 1, 2 * MB))


def test_a_revoked_device_that_opened_the_session_signs_for_it_no_more(h, alice):
    op, tid, laptop = _exit_tailnet_and_device(h, alice, "laptop")
    sid = h.session(tid, laptop, op)
    with h.as_(alice):
        h.vpn.revoke_device(laptop.address)
    assert not h.vpn.is_receipt_signer(sid, laptop.address)
    with h.as_(op.account), boa.reverts("receipt not signed by the opener or its device"):
        h.vpn.settle_with_receipt(sid, 1, MB, h.receipt_sig(laptop, sid, 1, MB))


def test_a_device_revoked_before_the_session_opened_is_refused(h, alice, bob):
    op, tid, laptop = _exit_tailnet_and_device(h, alice, "laptop")
    stranger_device = actor("bobs-phone")
    h.register_device(bob, stranger_device)
    with h.as_(alice):
        h.vpn.revoke_device(laptop.address)
    boa.env.time_travel(seconds=1)
    sid = h.session(tid, alice, op)
    for key in (laptop, stranger_device):
        assert not h.vpn.is_receipt_signer(sid, key.address)
        with h.as_(op.account), boa.reverts("receipt not signed by the opener or its device"):
            h.vpn.settle_with_receipt(sid, 1, MB, h.receipt_sig(key, sid, 1, MB))
    with boa.reverts("session not found"):
        h.vpn.is_receipt_signer(sid + 1, alice.address)


def test_only_the_exit_may_settle_by_receipt(open_session, alice):
    s = open_session
    with s.h.as_(alice), boa.reverts("not session exit"):
        s.h.vpn.settle_with_receipt(s.session_id, 1, 0, s.h.receipt_sig(alice, s.session_id, 1, 0))


def test_receipt_cannot_settle_twice(open_session, alice):
    s = open_session
    signature = s.h.receipt_sig(alice, s.session_id, 1, MB)
    with s.h.as_(s.op.account):
        s.h.vpn.settle_with_receipt(s.session_id, 1, MB, signature)
        with boa.reverts("session not open"):
            s.h.vpn.settle_with_receipt(s.session_id, 1, MB, signature)


def test_slashed_exit_reverts(open_session, alice):
    s = open_session
    s.h.gov_slash(s.op.address)
    with s.h.as_(s.op.account), boa.reverts("operator slashed"):
        s.h.vpn.settle_with_receipt(s.session_id, 1, MB, s.h.receipt_sig(alice, s.session_id, 1, MB))


def test_usage_above_deposit_reverts(open_session, alice):
    s = open_session
    price = s.h.vpn.get_session(s.session_id).price_per_mb
    over = (SESSION_DEPOSIT + 1) * 1_000_000 // price + 1
    with s.h.as_(s.op.account), boa.reverts("usage exceeds deposit"):
        s.h.vpn.settle_with_receipt(s.session_id, 1, over, s.h.receipt_sig(alice, s.session_id, 1, over))


def test_usage_that_would_overflow_reverts_with_a_reason(open_session, alice):
    s = open_session
    huge = 2**256 - 1
    with s.h.as_(s.op.account), boa.reverts("usage exceeds deposit"):
        s.h.vpn.settle_with_receipt(s.session_id, 1, huge, s.h.receipt_sig(alice, s.session_id, 1, huge))


def test_usage_exactly_at_the_deposit_settles_with_no_refund(open_session, alice):
    s = open_session
    price = s.h.vpn.get_session(s.session_id).price_per_mb
    exact = SESSION_DEPOSIT * 1_000_000 // price
    with s.h.as_(s.op.account):
        s.h.vpn.settle_with_receipt(s.session_id, 1, exact, s.h.receipt_sig(alice, s.session_id, 1, exact))
    assert s.h.event("SessionSettled").refund == 0


def test_malformed_signature_reverts(open_session, alice):
    s = open_session
    with s.h.as_(s.op.account), boa.reverts("signature must be 65 bytes (r, s, v)"):
        s.h.vpn.settle_with_receipt(s.session_id, 1, MB, b"\x00" * 10)
