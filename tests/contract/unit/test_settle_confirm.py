import boa

from tests.contract.harness import MB, SESSION_DEPOSIT


def test_matching_confirmation_settles(open_session, alice):
    s = open_session
    used = 3_333 * MB + 17
    total, fee, net = s.h.pay_for(s.session_id, used)
    treasury_before = s.h.vpn.get_tailnet(s.tailnet_id).treasury
    with s.h.as_(s.op.account):
        s.h.vpn.settle_claim(s.session_id, used)
    with s.h.as_(alice):
        assert s.h.vpn.settle_confirm(s.session_id, used) is True
    confirmed = s.h.event("SettleConfirmed")
    settled = s.h.event("SessionSettled")
    assert (confirmed.session_id, confirmed.opener, confirmed.bytes_used) == (s.session_id, alice.address, used)
    assert (settled.exit, settled.bytes_used, settled.total_paid, settled.protocol_fee, settled.refund) == (
        s.op.address,
        used,
        total,
        fee,
        SESSION_DEPOSIT - total,
    )
    assert (settled.earned, settled.earnings) == (net, net)
    assert total == used * s.h.vpn.get_session(s.session_id).price_per_mb // 1_000_000
    assert s.h.vpn.get_session(s.session_id).status == 1
    assert s.h.vpn.get_earnings(s.op.address) == net
    assert s.h.vpn.get_program_treasury() == fee
    assert s.h.vpn.get_tailnet(s.tailnet_id).treasury == treasury_before + SESSION_DEPOSIT - total
    assert s.h.vpn.get_endpoint(s.op.address).reputation == total  # value settled for a tailnet it does not own
    confirm = s.h.vpn.get_client_confirm(s.session_id)
    assert (confirm.is_set, confirm.bytes_used) == (True, used)


def test_pay_rounds_down_in_the_clients_favour(open_session, alice):
    s = open_session
    with s.h.as_(s.op.account):
        s.h.vpn.settle_claim(s.session_id, 1)  # 1 byte at PRICE per MB rounds to 0
    with s.h.as_(alice):
        s.h.vpn.settle_confirm(s.session_id, 1)
    assert s.h.event("SessionSettled").total_paid == 2 * 10**12 // 1_000_000


def test_mismatch_records_a_dispute_and_moves_nothing(open_session, alice):
    s = open_session
    before = s.h.vpn.get_tailnet(s.tailnet_id).treasury
    with s.h.as_(s.op.account):
        s.h.vpn.settle_claim(s.session_id, 9 * MB)
    with s.h.as_(alice):
        assert s.h.vpn.settle_confirm(s.session_id, 7 * MB) is False
    dispute = s.h.event("SettleDispute")
    assert (dispute.session_id, dispute.operator_bytes, dispute.client_bytes) == (s.session_id, 9 * MB, 7 * MB)
    assert s.h.vpn.get_session(s.session_id).status == 0
    assert s.h.vpn.get_earnings(s.op.address) == 0
    assert s.h.vpn.get_tailnet(s.tailnet_id).treasury == before
    assert s.h.vpn.get_client_confirm(s.session_id).bytes_used == 7 * MB


def test_dispute_is_resolved_by_the_clients_signed_receipt(open_session, alice):
    s = open_session
    with s.h.as_(s.op.account):
        s.h.vpn.settle_claim(s.session_id, 9 * MB)
    with s.h.as_(alice):
        s.h.vpn.settle_confirm(s.session_id, 7 * MB)
    with s.h.as_(s.op.account):
        s.h.vpn.settle_with_receipt(s.session_id, 4, 7 * MB, s.h.receipt_sig(alice, s.session_id, 4, 7 * MB))
    assert s.h.event("SessionSettled").bytes_used == 7 * MB


def test_not_the_opener_reverts(open_session, bob):
    s = open_session
    with s.h.as_(s.op.account):
        s.h.vpn.settle_claim(s.session_id, MB)
    with s.h.as_(bob), boa.reverts("not session opener"):
        s.h.vpn.settle_confirm(s.session_id, MB)


def test_before_the_exits_claim_reverts(open_session, alice):
    s = open_session
    with s.h.as_(alice), boa.reverts("operator has not claimed yet"):
        s.h.vpn.settle_confirm(s.session_id, MB)


def test_slashed_exit_cannot_be_paid(open_session, alice):
    s = open_session
    with s.h.as_(s.op.account):
        s.h.vpn.settle_claim(s.session_id, MB)
    s.h.gov_slash(s.op.address)
    with s.h.as_(alice), boa.reverts("operator slashed"):
        s.h.vpn.settle_confirm(s.session_id, MB)


def test_usage_above_the_deposit_reverts(open_session, alice):
    s = open_session
    too_much = SESSION_DEPOSIT * 1_000_000 // s.h.vpn.get_session(s.session_id).price_per_mb + 1_000_000
    with s.h.as_(s.op.account):
        s.h.vpn.settle_claim(s.session_id, too_much)
    with s.h.as_(alice), boa.reverts("usage exceeds deposit"):
        s.h.vpn.settle_confirm(s.session_id, too_much)


def test_settled_session_cannot_be_confirmed_again(open_session, alice):
    s = open_session
    with s.h.as_(s.op.account):
        s.h.vpn.settle_claim(s.session_id, MB)
    with s.h.as_(alice):
        s.h.vpn.settle_confirm(s.session_id, MB)
        with boa.reverts("session not open"):
            s.h.vpn.settle_confirm(s.session_id, MB)
