"""set_paused: pause stops new business, never withdrawals of what users own nor an exit's leaving, stops every
deadline (finding 4), and ends by itself: at most MAX_PAUSE, then a cool-down before the next."""

import boa
import pytest

from tests.contract.harness import ACL_DOCUMENT, ETHER, MB, MIN_STAKE, SESSION_DEPOSIT, SESSION_GRACE, WG_KEY

X = "0x" + "ab" * 20
SIG = b"\x01" * 65
GATED = [
    ("bond_endpoint", (1,)),
    ("execute_slash", (X,)),
    ("register_endpoint", ("h:1", WG_KEY, "r", 1, X, SIG)),
    ("rotate_keys", (WG_KEY,)),
    ("create_tailnet", (ACL_DOCUMENT, 1)),
    ("add_member", (0, X)),
    ("remove_member", (0, X)),
    ("deposit_to_tailnet", (0, 1)),
    ("configure_tailnet_exit", (0, X)),
    ("remove_tailnet_exit", (0, X)),
    ("update_acl", (0, ACL_DOCUMENT)),
    ("set_device_tags", (0, X, [])),
    ("precommit_join_token", (0, X, 2**40, 1)),
    ("redeem_join_token", (0, X, SIG)),
    ("revoke_join_token", (0, X)),
    ("register_device", (X, SIG)),
    ("revoke_device", (X,)),
    ("open_session", (0, X, 1, 1)),
    ("settle_claim", (0, 1)),
    ("settle_confirm", (0, 1)),
    ("settle_with_receipt", (0, 1, 1, SIG)),
    ("checkpoint", (0, 1, 1, SIG)),
    ("top_up_session", (0, 1)),
    ("settle_batch", ([],)),
    ("claim_no_show", (0,)),
    ("sweep_expired_session", (0,)),
    ("commit_slash_report", (b"\x01" * 32,)),
    ("slash_double_sign", (X, 0, 1, 1, SIG, 2, SIG)),
    ("close_session", (0,)),
]
# What users own, paid also while paused; and governance, which pause exists to serve.
WITHDRAWALS = {"claim_earnings", "finalize_unbond", "withdraw_from_tailnet", "withdraw_program_treasury"}
# An exit leaving, or changing its listing: a pause must not hold operators in while governance acts.
LEAVING = {"unbond_endpoint", "retire_endpoint", "update_endpoint"}
MAX_PAUSE = COOLDOWN = 7 * 86_400
GOVERNANCE = {
    "schedule_params",
    "execute_params",
    "cancel_params",
    "set_paused",
    "transfer_ownership",
    "schedule_slash",
    "cancel_slash",
    "release_slash_bounty",
}


def test_pause_and_unpause_emit_events(hn):
    with hn.as_(hn.owner):
        hn.vpn.set_paused(True)
        assert hn.event("PauseSet").paused is True
        assert hn.vpn.paused()
        hn.vpn.set_paused(False)
        assert hn.event("PauseSet").paused is False
    assert not hn.vpn.paused()
    hn.bond(hn.owner)  # works again


def test_only_owner(hn, alice):
    with hn.as_(alice), boa.reverts("not owner"):
        hn.vpn.set_paused(True)


def test_setting_the_same_state_reverts(hn):
    with hn.as_(hn.owner), boa.reverts("already in that state"):
        hn.vpn.set_paused(False)


@pytest.mark.parametrize("function, args", GATED, ids=[name for name, _ in GATED])
def test_every_state_changing_function_refuses_while_paused(hn, owner, function, args):
    with hn.as_(owner):
        hn.vpn.set_paused(True)
    with hn.as_(owner), boa.reverts("paused"):
        getattr(hn.vpn, function)(*args)


def test_the_gated_list_covers_every_mutator_but_withdrawals_and_governance(hn):
    mutators = {
        item["name"]
        for item in hn.vpn.abi
        if item["type"] == "function" and item["stateMutability"] in ("nonpayable", "payable")
    }
    assert mutators - WITHDRAWALS - GOVERNANCE - LEAVING == {name for name, _ in GATED}


def _pause(h):
    with h.as_(h.owner):
        h.vpn.set_paused(True)


def test_users_withdraw_what_they_own_while_paused(h, alice, bob):
    """The attack: paused, users could withdraw nothing while the owner withdrew the treasury."""
    op = h.operator("op")
    h.earn(op, bob, 100 * MB)
    unbonder = h.operator("unbonder")
    with h.as_(unbonder.account):
        h.vpn.unbond_endpoint()
    boa.env.time_travel(seconds=h.vpn.get_params().unbond_grace)
    tid = h.tailnet(alice)
    boa.env.time_travel(seconds=30 * 86_400)  # past the creation deposit's lock
    _pause(h)

    earnings = h.vpn.get_earnings(op.address)
    before = h.balance(op.account)
    with h.as_(op.account):
        h.vpn.claim_earnings(earnings)
    assert h.balance(op.account) == before + earnings
    before = h.balance(unbonder.account)
    with h.as_(unbonder.account):
        h.vpn.finalize_unbond()
    assert h.balance(unbonder.account) == before + MIN_STAKE
    before = h.balance(alice)
    with h.as_(alice):
        h.vpn.withdraw_from_tailnet(tid, alice.address, ETHER)
    assert h.balance(alice) == before + ETHER
    fees = h.vpn.get_program_treasury()
    with h.as_(h.owner):
        h.vpn.withdraw_program_treasury(h.owner.address, fees)


def test_the_settlement_grace_stands_still_while_paused(h, alice):
    """The attack: the grace ran while paused, and at unpause claim_no_show beat the exit's receipt."""
    op = h.operator("op")
    tid = h.tailnet_with_exit(alice, op)
    sid = h.session(tid, alice, op, SESSION_DEPOSIT)
    receipt = h.receipt_sig(alice, sid, 1, 4 * MB)
    boa.env.time_travel(seconds=SESSION_GRACE // 2)
    clock_before = h.vpn.clock()
    _pause(h)
    boa.env.time_travel(seconds=SESSION_GRACE)
    assert h.vpn.clock() == clock_before
    with h.as_(h.owner):
        h.vpn.set_paused(False)
    with boa.reverts("grace not elapsed"):
        h.vpn.claim_no_show(sid)
    with h.as_(op.account):
        h.vpn.settle_with_receipt(sid, 1, 4 * MB, receipt)
    assert h.vpn.get_session(sid).status == 1


def test_unbonding_grace_excludes_paused_time_but_a_finished_one_stays_finished(hn):
    early, late = hn.operator("early"), hn.operator("late")
    with hn.as_(early.account):
        hn.vpn.unbond_endpoint()
    grace = hn.vpn.get_params().unbond_grace
    boa.env.time_travel(seconds=grace)
    with hn.as_(late.account):
        hn.vpn.unbond_endpoint()
    boa.env.time_travel(seconds=grace - 3 * 86_400)
    _pause(hn)
    boa.env.time_travel(seconds=3 * 86_400)  # the rest of the grace, paused: it does not count
    with hn.as_(hn.owner):
        hn.vpn.set_paused(False)
    with hn.as_(early.account):
        hn.vpn.finalize_unbond()
    with hn.as_(late.account), boa.reverts("grace not elapsed"):
        hn.vpn.finalize_unbond()
    boa.env.time_travel(seconds=3 * 86_400)
    with hn.as_(late.account):
        hn.vpn.finalize_unbond()


def test_an_exit_leaves_or_changes_its_listing_while_paused(hn):
    """Found in review: paused, operators could not unbond, retire or update, while the owner's timelock ran."""
    leaving, retiring, repricing = hn.operator("leaving"), hn.operator("retiring"), hn.operator("repricing")
    _pause(hn)
    with hn.as_(leaving.account):
        hn.vpn.unbond_endpoint()
    with hn.as_(retiring.account):
        hn.vpn.retire_endpoint()
    with hn.as_(repricing.account):
        hn.vpn.update_endpoint("198.51.100.9:51820", "eu-west", 1)
    assert hn.vpn.get_endpoint_unbonding(leaving.address) == MIN_STAKE
    assert not hn.vpn.is_endpoint_active(retiring.address)
    assert hn.vpn.get_endpoint(repricing.address).price_per_mb == 1


def test_a_pause_ends_by_itself_and_its_time_is_all_the_clock_loses(hn):
    """Found in review: a long pause kept stakes from unbonding and deposits from coming back for as long as the
    owner liked."""
    clock = hn.vpn.clock()
    _pause(hn)
    boa.env.time_travel(seconds=MAX_PAUSE - 1)
    assert hn.vpn.paused() and hn.vpn.clock() == clock
    boa.env.time_travel(seconds=1)
    assert not hn.vpn.paused()
    boa.env.time_travel(seconds=100)
    assert hn.vpn.clock() == clock + 100
    hn.bond(hn.owner)  # new business again, with no unpause
    with hn.as_(hn.owner), boa.reverts("already in that state"):
        hn.vpn.set_paused(False)


def test_the_next_pause_waits_out_a_cooldown_from_the_end_of_the_last(hn):
    _pause(hn)
    boa.env.time_travel(seconds=86_400)
    with hn.as_(hn.owner):
        hn.vpn.set_paused(False)
    boa.env.time_travel(seconds=COOLDOWN - 1)
    with hn.as_(hn.owner), boa.reverts("a pause may start 7 days after the last one ended"):
        hn.vpn.set_paused(True)
    boa.env.time_travel(seconds=1)
    _pause(hn)
    boa.env.time_travel(seconds=MAX_PAUSE + COOLDOWN - 1)  # this one lapsed, and the cool-down runs from its end
    with hn.as_(hn.owner), boa.reverts("a pause may start 7 days after the last one ended"):
        hn.vpn.set_paused(True)
    boa.env.time_travel(seconds=1)
    _pause(hn)
    assert hn.vpn.paused()
