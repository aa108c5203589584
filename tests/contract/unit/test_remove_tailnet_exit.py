import boa

from tests.contract.harness import PRICE


def test_removed_exit_takes_no_new_sessions_but_open_ones_settle(hn, alice):
    op = hn.operator("op")
    tid = hn.tailnet_with_exit(alice, op)
    sid = hn.session(tid, alice, op)
    with hn.as_(alice):
        hn.vpn.remove_tailnet_exit(tid, op.address)
    event = hn.event("TailnetExitRemoved")
    assert (event.tailnet_id, event.exit_addr) == (tid, op.address)
    assert not hn.vpn.is_tailnet_exit(tid, op.address)
    assert hn.vpn.get_tailnet(tid).exit_count == 0
    with hn.as_(alice), boa.reverts("exit not configured"):
        hn.vpn.open_session(tid, op.address, 10**16, PRICE)
    with hn.as_(op.account):
        hn.vpn.settle_with_receipt(sid, 1, 10**6, hn.receipt_sig(alice, sid, 1, 10**6))
    assert hn.vpn.get_session(sid).status == 1


def test_not_owner_reverts(hn, alice, bob):
    op = hn.operator("op")
    tid = hn.tailnet_with_exit(alice, op)
    with hn.as_(bob), boa.reverts("not tailnet owner"):
        hn.vpn.remove_tailnet_exit(tid, op.address)


def test_unconfigured_exit_reverts(hn, alice):
    op = hn.operator("op")
    tid = hn.tailnet(alice)
    with hn.as_(alice), boa.reverts("exit not configured"):
        hn.vpn.remove_tailnet_exit(tid, op.address)
