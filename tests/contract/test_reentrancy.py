"""Every payout is made to a hostile receiver that tries to call back in.

The re-entering call is one that succeeds on its own (a withdrawal from the
hostile's own tailnet, defined in OctraVPN; an ACL update, which OctraVPN
forwards to its extension; a view of the parameters, which the extension
forwards on to the governance extension), so a refusal can only come from the
reentrancy lock; the test proves that by making the same call directly afterwards. On an ERC-20
deployment the token calls the receiver back after each transfer (ERC-777
style), so both assets are covered.
"""

import boa
import pytest

from tests.contract.deployers import reentrant_deployer
from tests.contract.harness import ETHER, MIN_STAKE, SESSION_GRACE, Operator, actor

MB = 10**6
REPORT_WINDOW = 86_400


REENTRIES = {
    "withdraw_from_tailnet": lambda tid, hostile: (tid, hostile, 1),
    "update_acl": lambda tid, hostile: (tid, b"{}"),
    "get_params": lambda tid, hostile: (),
}


def _hostile(h, reentry="withdraw_from_tailnet"):
    hostile = reentrant_deployer().deploy(h.vpn.address)
    if not h.native:
        h.token.set_hooked(hostile.address, True)
    tid = h.tailnet(hostile.address, ETHER)
    hostile.arm(getattr(h.vpn, reentry).prepare_calldata(*REENTRIES[reentry](tid, hostile.address)))
    return hostile, tid


def _earning_operator(h, account, payer):
    op = Operator(account, actor("hostile-receipts"))
    h.bond(account.address if hasattr(account, "address") else account)
    h.register(op)
    h.earn(op, payer, 4_000 * MB)
    return h.vpn.get_earnings(op.address)


class HostileAccount:
    """Lets the harness treat the hostile contract like an actor."""

    def __init__(self, contract):
        self.address = contract.address

    def __str__(self):
        return self.address


def finalize_unbond(h, hostile, alice):
    h.bond(hostile.address, 2 * ETHER)
    with h.as_(hostile.address):
        h.vpn.unbond_endpoint()
    boa.env.time_travel(seconds=h.vpn.get_params().unbond_grace)
    return (lambda: h.vpn.finalize_unbond(sender=hostile.address)), 2 * ETHER


def claim_earnings(h, hostile, alice):
    earned = _earning_operator(h, HostileAccount(hostile), alice)
    return (lambda: h.vpn.claim_earnings(earned, sender=hostile.address)), earned


def _committed_report(h, hostile, alice):
    op = h.operator("victim")
    tid = h.tailnet_with_exit(alice, op)
    sid = h.session(tid, alice, op)
    evidence = (
        op.address,
        sid,
        1,
        MB,
        h.receipt_sig(op.receipt_key, sid, 1, MB),
        2 * MB,
        h.receipt_sig(op.receipt_key, sid, 1, 2 * MB),
    )
    h.commit_report(hostile.address, op.address, sid, 1, MB, 2 * MB)
    boa.env.time_travel(blocks=1)
    return op, sid, evidence


def _paid_bounty(h, hostile, op, evidence):
    """The hostile reporter's claim, and the call that pays it once the report window is over."""
    h.vpn.slash_double_sign(*evidence, sender=hostile.address)
    boa.env.time_travel(seconds=REPORT_WINDOW)
    return (lambda: h.vpn.release_slash_bounty(op.address, sender=hostile.address)), MIN_STAKE // 10


def double_sign_bounty(h, hostile, alice):
    op, _, evidence = _committed_report(h, hostile, alice)
    return _paid_bounty(h, hostile, op, evidence)


def held_bounty(h, hostile, alice):
    op, sid, evidence = _committed_report(h, hostile, alice)
    with h.as_(op.account):
        h.vpn.settle_claim(sid, 1)
        h.vpn.settle_claim(sid, 2)
    return _paid_bounty(h, hostile, op, evidence)


def program_treasury(h, hostile, alice):
    _earning_operator(h, actor("honest-op"), alice)
    fees = h.vpn.get_program_treasury()
    return (lambda: h.vpn.withdraw_program_treasury(hostile.address, fees, sender=h.owner.address)), fees


def tailnet_withdrawal(h, hostile, alice):
    tid = h.tailnet(alice, ETHER)
    return (lambda: h.vpn.withdraw_from_tailnet(tid, hostile.address, ETHER // 2, sender=alice.address)), ETHER // 2


def sweep_bounty(h, hostile, alice):
    op = h.operator("op")
    tid = h.tailnet_with_exit(alice, op)
    sid = h.session(tid, alice, op, 10**16)
    boa.env.time_travel(seconds=SESSION_GRACE * h.vpn.get_params().sweep_grace_multiplier)
    bounty = 10**16 * h.vpn.get_params().sweep_bounty_bps // 10_000
    return (lambda: h.vpn.sweep_expired_session(sid, sender=hostile.address)), bounty


PAYOUTS = [
    finalize_unbond,
    claim_earnings,
    double_sign_bounty,
    held_bounty,
    program_treasury,
    tailnet_withdrawal,
    sweep_bounty,
]


@pytest.mark.parametrize("reentry", list(REENTRIES))
@pytest.mark.parametrize("scenario", PAYOUTS, ids=[f.__name__ for f in PAYOUTS])
def test_payout_receiver_cannot_reenter(h, alice, scenario, reentry):
    hostile, hostile_tid = _hostile(h, reentry)
    trigger, payout = scenario(h, hostile, alice)
    hostile_before, vpn_before = h.balance(hostile.address), h.vpn_balance()

    trigger()

    assert hostile.reentry_attempted(), "the payout never reached the receiver"
    assert not hostile.reentry_succeeded()
    assert h.balance(hostile.address) == hostile_before + payout
    assert h.vpn_balance() == vpn_before - payout
    # The refused call was valid on its own: only the lock stopped it.
    getattr(h.vpn, reentry)(*REENTRIES[reentry](hostile_tid, hostile.address), sender=hostile.address)


def test_claim_cannot_be_doubled_by_reentry(h, alice):
    hostile = reentrant_deployer().deploy(h.vpn.address)
    if not h.native:
        h.token.set_hooked(hostile.address, True)
    earned = _earning_operator(h, HostileAccount(hostile), alice)
    half = earned // 2
    hostile.arm(h.vpn.claim_earnings.prepare_calldata(earned - half))
    h.vpn.claim_earnings(half, sender=hostile.address)
    assert hostile.reentry_attempted() and not hostile.reentry_succeeded()
    assert h.balance(hostile.address) == half
    assert h.vpn.get_earnings(hostile.address) == earned - half


def test_every_contract_source_enables_the_lock():
    # The pragma is per source file: a module without it exports unlocked functions.
    from pathlib import Path

    sources = sorted((Path(__file__).resolve().parents[2] / "contracts").rglob("*.vy"))
    assert sources
    missing = [str(path) for path in sources if "# pragma nonreentrancy on" not in path.read_text()]
    assert missing == []
