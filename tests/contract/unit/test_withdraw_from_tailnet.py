import boa

from tests.contract.harness import ETHER, ZERO


def test_owner_withdraws_unlocked_funds(h, alice, bob):
    tid = h.tailnet(alice, ETHER)
    with h.as_(alice):
        h.vpn.withdraw_from_tailnet(tid, bob.address, ETHER // 4)
    event = h.event("TailnetWithdrawal")
    assert (event.tailnet_id, event.to, event.amount, event.new_treasury) == (
        tid,
        bob.address,
        ETHER // 4,
        ETHER * 3 // 4,
    )
    assert h.balance(bob) == ETHER // 4
    assert h.vpn_balance() == ETHER * 3 // 4


def test_deposits_locked_in_sessions_are_not_withdrawable(h, alice, bob):
    op = h.operator("op")
    tid = h.tailnet_with_exit(alice, op, ETHER)
    h.session(tid, alice, op, ETHER // 2)
    with h.as_(alice), boa.reverts("treasury insufficient"):
        h.vpn.withdraw_from_tailnet(tid, bob.address, ETHER // 2 + 1)


def test_not_owner_reverts(hn, alice, bob):
    tid = hn.tailnet(alice)
    with hn.as_(bob), boa.reverts("not tailnet owner"):
        hn.vpn.withdraw_from_tailnet(tid, bob.address, 1)


def test_unknown_tailnet_reverts(hn, alice):
    with hn.as_(alice), boa.reverts("tailnet not found"):
        hn.vpn.withdraw_from_tailnet(0, alice.address, 1)


def test_zero_amount_reverts(hn, alice):
    tid = hn.tailnet(alice)
    with hn.as_(alice), boa.reverts("amount > 0"):
        hn.vpn.withdraw_from_tailnet(tid, alice.address, 0)


def test_empty_receiver_reverts(hn, alice):
    tid = hn.tailnet(alice)
    with hn.as_(alice), boa.reverts("receiver is the empty address"):
        hn.vpn.withdraw_from_tailnet(tid, ZERO, 1)


def test_the_creation_deposit_stays_for_30_days(h, alice):
    """The attack: the minimum deposit could be withdrawn at once, so creating tailnets cost only gas."""
    tid = h.tailnet(alice, ETHER)
    reserve = h.vpn.get_tailnet(tid).reserve
    assert reserve == h.vpn.get_params().min_tailnet_deposit
    with h.as_(alice):
        h.vpn.withdraw_from_tailnet(tid, alice.address, ETHER - reserve)
        with boa.reverts("the creation deposit stays for 30 days"):
            h.vpn.withdraw_from_tailnet(tid, alice.address, 1)
    boa.env.time_travel(seconds=30 * 86_400)
    with h.as_(alice):
        h.vpn.withdraw_from_tailnet(tid, alice.address, reserve)
    assert h.vpn.get_tailnet(tid).treasury == 0


def test_withdrawing_to_the_contract_itself_reverts(h, alice):
    """The attack: an ERC-20 withdrawn to the contract's own address was stranded outside every ledger."""
    tid = h.tailnet(alice, ETHER)
    with h.as_(alice), boa.reverts("receiver is this contract"):
        h.vpn.withdraw_from_tailnet(tid, h.vpn.address, ETHER // 2)
