import boa

from tests.contract.harness import ETHER


def test_anyone_can_top_up(h, alice, bob):
    tid = h.tailnet(alice, ETHER)
    h.pay(bob, "deposit_to_tailnet", tid, amount=ETHER // 4)
    event = h.event("TailnetDeposit")
    assert (event.tailnet_id, event.sender, event.amount, event.new_treasury) == (
        tid,
        bob.address,
        ETHER // 4,
        ETHER * 5 // 4,
    )
    assert h.vpn.get_tailnet(tid).treasury == ETHER * 5 // 4
    assert h.vpn_balance() == ETHER * 5 // 4


def test_unknown_tailnet_reverts(h, bob):
    with boa.reverts("tailnet not found"):
        h.pay(bob, "deposit_to_tailnet", 3, amount=ETHER)


def test_zero_amount_reverts(h, alice):
    tid = h.tailnet(alice)
    with boa.reverts("amount > 0"):
        h.pay(alice, "deposit_to_tailnet", tid, amount=0)
