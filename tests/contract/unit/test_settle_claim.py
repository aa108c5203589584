import boa

from tests.contract.harness import MB, MIN_STAKE, SESSION_DEPOSIT


def test_exit_records_its_claim(open_session):
    s = open_session
    with s.h.as_(s.op.account):
        assert s.h.vpn.settle_claim(s.session_id, 5 * MB) is True
    event = s.h.event("SettleClaimed")
    assert (event.session_id, event.exit, event.bytes_used) == (s.session_id, s.op.address, 5 * MB)
    claim = s.h.vpn.get_operator_claim(s.session_id)
    assert (claim.is_set, claim.bytes_used, claim.claimed_at) == (True, 5 * MB, boa.env.timestamp)


def test_same_claim_again_is_a_no_op(open_session):
    s = open_session
    with s.h.as_(s.op.account):
        s.h.vpn.settle_claim(s.session_id, 5 * MB)
        assert s.h.vpn.settle_claim(s.session_id, 5 * MB) is True
    assert s.h.events() == []


def test_different_claim_is_equivocation_slashed_and_refunded(open_session, alice):
    s = open_session
    treasury_before = s.h.vpn.get_tailnet(s.tailnet_id).treasury
    with s.h.as_(s.op.account):
        s.h.vpn.settle_claim(s.session_id, 5 * MB)
        assert s.h.vpn.settle_claim(s.session_id, 6 * MB) is False
    slashed = s.h.event("OperatorSlashed")
    held = MIN_STAKE - MIN_STAKE * 9_000 // 10_000  # for a report committed before this slash
    assert (slashed.stake, slashed.treasury_amt, slashed.bounty_amt, slashed.held_bounty) == (
        MIN_STAKE,
        MIN_STAKE - held,
        held,
        held,
    )
    assert s.h.event("SessionRefunded").reason == "operator-equivocation"
    assert s.h.vpn.get_session(s.session_id).status == 2
    assert s.h.vpn.get_tailnet(s.tailnet_id).treasury == treasury_before + SESSION_DEPOSIT
    assert s.h.vpn.get_program_treasury() == MIN_STAKE - held
    assert s.h.vpn.is_endpoint_slashed(s.op.address)


def test_not_the_exit_reverts(open_session, alice):
    s = open_session
    with s.h.as_(alice), boa.reverts("not session exit"):
        s.h.vpn.settle_claim(s.session_id, MB)


def test_unknown_session_reverts(open_session):
    s = open_session
    with s.h.as_(s.op.account), boa.reverts("session not found"):
        s.h.vpn.settle_claim(s.session_id + 1, MB)


def test_closed_session_reverts(open_session, alice):
    s = open_session
    with s.h.as_(s.op.account):
        s.h.vpn.settle_with_receipt(s.session_id, 1, MB, s.h.receipt_sig(alice, s.session_id, 1, MB))
        with boa.reverts("session not open"):
            s.h.vpn.settle_claim(s.session_id, MB)


def test_slashed_exit_reverts(open_session):
    s = open_session
    s.h.gov_slash(s.op.address)
    with s.h.as_(s.op.account), boa.reverts("operator slashed"):
        s.h.vpn.settle_claim(s.session_id, MB)


def test_an_absurdly_large_stake_can_still_be_slashed(h, alice):
    """The attack: the basis-points helper overflowed above ~1.16e73 base units, so such a stake was unslashable."""
    whale = h.operator("whale", stake=2**250)
    tid = h.tailnet_with_exit(alice, whale)
    sid = h.session(tid, alice, whale)
    with h.as_(whale.account):
        h.vpn.settle_claim(sid, 1)
        h.vpn.settle_claim(sid, 2)
    slashed = h.event("OperatorSlashed")
    assert slashed.stake == 2**250
    assert (
        slashed.treasury_amt == 2**250 // 10_000 * 9_000 + 2**250 % 10_000 * 9_000 // 10_000
        and slashed.treasury_amt + slashed.held_bounty == 2**250
    )
