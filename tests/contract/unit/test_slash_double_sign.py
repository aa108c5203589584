import boa

from tests.contract.harness import MB, MIN_STAKE, actor


def _evidence(s, seq=3, a=MB, b=2 * MB, key=None):
    key = key or s.op.receipt_key
    return (
        s.op.address, s.session_id, seq,
        a, s.h.receipt_sig(key, s.session_id, seq, a),
        b, s.h.receipt_sig(key, s.session_id, seq, b),
    )


def test_two_conflicting_operator_receipts_slash_with_bounty(open_session, carol):
    s = open_session
    with s.h.as_(carol):
        s.h.vpn.slash_double_sign(*_evidence(s))
    event = s.h.event("OperatorSlashed")
    bounty = MIN_STAKE - MIN_STAKE * 9_000 // 10_000
    assert (event.addr, event.stake, event.bounty_amt) == (s.op.address, MIN_STAKE, bounty)
    assert s.h.balance(carol) == bounty
    assert s.h.vpn.is_endpoint_slashed(s.op.address)


def test_honest_receipts_for_successive_seqs_are_not_evidence(open_session, carol):
    # An honest exit signs a new receipt per seq: different seqs never slash.
    s = open_session
    sig_a = s.h.receipt_sig(s.op.receipt_key, s.session_id, 1, MB)
    with s.h.as_(carol), boa.reverts("both receipts must be signed by the operator's receipt key"):
        s.h.vpn.slash_double_sign(s.op.address, s.session_id, 2, MB, sig_a, 2 * MB,
                                  s.h.receipt_sig(s.op.receipt_key, s.session_id, 2, 2 * MB))


def test_identical_receipts_revert(open_session, carol):
    s = open_session
    with s.h.as_(carol), boa.reverts("receipts do not conflict"):
        s.h.vpn.slash_double_sign(*_evidence(s, a=MB, b=MB))


def test_unknown_session_reverts(open_session, carol):
    s = open_session
    evidence = list(_evidence(s))
    evidence[1] = 42
    with s.h.as_(carol), boa.reverts("session not found"):
        s.h.vpn.slash_double_sign(*evidence)


def test_session_of_another_exit_reverts(open_session, carol):
    s = open_session
    other = s.h.operator("other")
    evidence = list(_evidence(s))
    evidence[0] = other.address
    with s.h.as_(carol), boa.reverts("session is not served by operator"):
        s.h.vpn.slash_double_sign(*evidence)


def test_receipts_by_another_key_revert(open_session, alice, carol):
    s = open_session
    with s.h.as_(carol), boa.reverts("both receipts must be signed by the operator's receipt key"):
        s.h.vpn.slash_double_sign(*_evidence(s, key=alice))


def test_key_retired_by_reregistration_still_binds(open_session, carol):
    s = open_session
    with s.h.as_(s.op.account):
        s.h.vpn.retire_endpoint()
        new_key = actor("op-receipts-new")
        s.h.vpn.register_endpoint("h:1", bytes.fromhex("33" * 32), s.op.earnings.public,
                                  s.op.earnings.encrypt_zero(9), "r", 1, new_key.address)
    with s.h.as_(carol):
        s.h.vpn.slash_double_sign(*_evidence(s))
    assert s.h.vpn.is_endpoint_slashed(s.op.address)


def test_already_slashed_reverts(open_session, carol):
    s = open_session
    with s.h.as_(s.h.owner):
        s.h.vpn.gov_slash_operator(s.op.address)
    with s.h.as_(carol), boa.reverts("already slashed"):
        s.h.vpn.slash_double_sign(*_evidence(s))
