"""commit_slash_report + slash_double_sign: equivocation is proven by a report committed in an earlier block, and
the bounty, held for the report window, goes to the earliest committed report revealed by then, so it cannot be
front-run, not even by the accused slashing itself or racing a whistleblower from a second wallet (finding 5)."""

import boa

from tests.contract.harness import MB, MIN_STAKE, actor

BOUNTY = MIN_STAKE - MIN_STAKE * 9_000 // 10_000
REPORT_WINDOW = 86_400


def _paid_after_the_window(h, operator: str) -> None:
    boa.env.time_travel(seconds=REPORT_WINDOW)
    h.vpn.release_slash_bounty(operator)


def _evidence(s, seq=3, a=MB, b=2 * MB, key=None):
    key = key or s.op.receipt_key
    return (
        s.op.address,
        s.session_id,
        seq,
        a,
        s.h.receipt_sig(key, s.session_id, seq, a),
        b,
        s.h.receipt_sig(key, s.session_id, seq, b),
    )


def test_two_conflicting_operator_receipts_slash_with_bounty(open_session, carol):
    s = open_session
    s.h.report_double_sign(carol, *_evidence(s))
    event = s.h.event("OperatorSlashed")
    assert (event.addr, event.stake, event.bounty_amt, event.held_bounty) == (s.op.address, MIN_STAKE, BOUNTY, BOUNTY)
    claimed = s.h.event("SlashBountyClaimed")
    assert (claimed.addr, claimed.reporter) == (s.op.address, carol.address)
    assert s.h.vpn.is_endpoint_slashed(s.op.address) and s.h.balance(carol) == 0  # held for the window
    _paid_after_the_window(s.h, s.op.address)
    paid = s.h.event("SlashBountyPaid")
    assert (paid.addr, paid.reporter, paid.amount) == (s.op.address, carol.address, BOUNTY)
    assert s.h.balance(carol) == BOUNTY


def test_a_copied_reveal_without_its_own_earlier_commitment_reverts(open_session, carol):
    """The attack: a front-runner copied the reporter's transaction and took the bounty."""
    s = open_session
    evidence = _evidence(s)
    s.h.commit_report(carol, *evidence[:4], evidence[5])
    boa.env.time_travel(blocks=1)
    thief = actor("thief")
    with s.h.as_(thief), boa.reverts("commit the report in an earlier block first"):
        s.h.vpn.slash_double_sign(*evidence)
    s.h.commit_report(thief, *evidence[:4], evidence[5])  # committing now is too late: it reveals next block
    with s.h.as_(thief), boa.reverts("commit the report in an earlier block first"):
        s.h.vpn.slash_double_sign(*evidence)
    with s.h.as_(carol):
        s.h.vpn.slash_double_sign(*evidence)
    _paid_after_the_window(s.h, s.op.address)
    assert s.h.balance(carol) == BOUNTY and s.h.balance(thief) == 0


def test_the_earliest_committed_report_gets_the_bounty_whoever_reveals_first(open_session, carol):
    """Found in review: the operator, holding its own receipt key, saw a whistleblower's commitment, committed the
    same evidence from a second wallet and revealed first, taking the bounty back."""
    s = open_session
    evidence = _evidence(s)
    s.h.commit_report(carol, *evidence[:4], evidence[5])
    accomplice = actor("accomplice")
    s.h.commit_report(accomplice, *evidence[:4], evidence[5])  # later in the order of commitments
    boa.env.time_travel(blocks=1)
    with s.h.as_(accomplice):
        s.h.vpn.slash_double_sign(*evidence)  # revealed first: it slashes, and claims for now
    with s.h.as_(carol):
        s.h.vpn.slash_double_sign(*evidence)  # committed first: the claim is hers
    assert s.h.vpn.get_slash_record(s.op.address).claimant == carol.address
    _paid_after_the_window(s.h, s.op.address)
    assert (s.h.balance(carol), s.h.balance(accomplice)) == (BOUNTY, 0)


def test_a_later_commitment_cannot_take_the_claim(open_session, carol):
    s = open_session
    evidence = _evidence(s)
    s.h.commit_report(carol, *evidence[:4], evidence[5])
    late = actor("late")
    s.h.commit_report(late, *evidence[:4], evidence[5])
    boa.env.time_travel(blocks=1)
    with s.h.as_(carol):
        s.h.vpn.slash_double_sign(*evidence)
    with s.h.as_(late), boa.reverts("a report committed earlier claims the bounty"):
        s.h.vpn.slash_double_sign(*evidence)


def test_commit_emits_and_cannot_repeat(open_session, carol):
    s = open_session
    commitment = s.h.report_commitment(carol, s.op.address, s.session_id, 3, MB, 2 * MB)
    with s.h.as_(carol):
        s.h.vpn.commit_slash_report(commitment)
        event = s.h.event("SlashReportCommitted")
        assert (event.reporter, event.commitment) == (carol.address, commitment)
        with boa.reverts("report already committed"):
            s.h.vpn.commit_slash_report(commitment)


def test_a_report_committed_before_the_operator_slashes_itself_keeps_its_bounty(open_session, carol):
    """The attack: seeing a report coming, the operator slashed itself (two claims), leaving the reporter nothing."""
    s = open_session
    evidence = _evidence(s)
    s.h.commit_report(carol, *evidence[:4], evidence[5])
    with s.h.as_(s.op.account):
        s.h.vpn.settle_claim(s.session_id, 1)
        s.h.vpn.settle_claim(s.session_id, 2)
    slashed = s.h.event("OperatorSlashed")
    assert (slashed.bounty_amt, slashed.held_bounty) == (BOUNTY, BOUNTY)
    boa.env.time_travel(blocks=1)
    with s.h.as_(carol):
        s.h.vpn.slash_double_sign(*evidence)
    _paid_after_the_window(s.h, s.op.address)
    paid = s.h.event("SlashBountyPaid")
    assert (paid.addr, paid.reporter, paid.amount) == (s.op.address, carol.address, BOUNTY)
    assert s.h.balance(carol) == BOUNTY
    assert s.h.vpn.get_slash_record(s.op.address).held_bounty == 0


def test_a_report_committed_after_the_slash_gets_nothing(open_session, carol):
    s = open_session
    with s.h.as_(s.op.account):
        s.h.vpn.settle_claim(s.session_id, 1)
        s.h.vpn.settle_claim(s.session_id, 2)
    boa.env.time_travel(blocks=1)
    with boa.reverts("already slashed"):
        s.h.report_double_sign(carol, *_evidence(s))


def test_honest_receipts_for_successive_seqs_are_not_evidence(open_session, carol):
    # An honest exit signs a new receipt per seq: different seqs never slash.
    s = open_session
    sig_a = s.h.receipt_sig(s.op.receipt_key, s.session_id, 1, MB)
    with boa.reverts("both receipts must be signed by the operator's receipt key"):
        s.h.report_double_sign(
            carol,
            s.op.address,
            s.session_id,
            2,
            MB,
            sig_a,
            2 * MB,
            s.h.receipt_sig(s.op.receipt_key, s.session_id, 2, 2 * MB),
        )


def test_identical_receipts_revert(open_session, carol):
    s = open_session
    with boa.reverts("receipts do not conflict"):
        s.h.report_double_sign(carol, *_evidence(s, a=MB, b=MB))


def test_unknown_session_reverts(open_session, carol):
    s = open_session
    evidence = list(_evidence(s))
    evidence[1] = 42
    with boa.reverts("session not found"):
        s.h.report_double_sign(carol, *evidence)


def test_session_of_another_exit_reverts(open_session, carol):
    s = open_session
    other = s.h.operator("other")
    evidence = list(_evidence(s))
    evidence[0] = other.address
    with boa.reverts("session is not served by operator"):
        s.h.report_double_sign(carol, *evidence)


def test_receipts_by_another_key_revert(open_session, alice, carol):
    s = open_session
    with boa.reverts("both receipts must be signed by the operator's receipt key"):
        s.h.report_double_sign(carol, *_evidence(s, key=alice))


def test_key_retired_by_reregistration_still_binds(open_session, carol):
    s = open_session
    with s.h.as_(s.op.account):
        s.h.vpn.retire_endpoint()
        new_key = actor("op-receipts-new")
        s.h.vpn.register_endpoint(
            "h:1",
            bytes.fromhex("33" * 32),
            "r",
            1,
            new_key.address,
            s.h.signer_sig(new_key, s.op.account),
        )
    s.h.report_double_sign(carol, *_evidence(s))
    assert s.h.vpn.is_endpoint_slashed(s.op.address)


def test_already_slashed_reverts(open_session, carol):
    s = open_session
    s.h.gov_slash(s.op.address)
    with boa.reverts("already slashed"):
        s.h.report_double_sign(carol, *_evidence(s))
