import boa


def test_owner_removes_member(hn, alice, bob):
    tid = hn.tailnet(alice)
    with hn.as_(alice):
        hn.vpn.add_member(tid, bob.address)
        hn.vpn.remove_member(tid, bob.address)
    event = hn.event("TailnetMemberRemoved")
    assert (event.tailnet_id, event.member) == (tid, bob.address)
    assert not hn.vpn.is_tailnet_member(tid, bob.address)
    assert hn.vpn.get_tailnet(tid).member_count == 1


def test_not_owner_reverts(hn, alice, bob):
    tid = hn.tailnet(alice)
    with hn.as_(alice):
        hn.vpn.add_member(tid, bob.address)
    with hn.as_(bob), boa.reverts("not tailnet owner"):
        hn.vpn.remove_member(tid, bob.address)


def test_cannot_remove_owner(hn, alice):
    tid = hn.tailnet(alice)
    with hn.as_(alice), boa.reverts("cannot remove owner"):
        hn.vpn.remove_member(tid, alice.address)


def test_not_member_reverts(hn, alice, bob):
    tid = hn.tailnet(alice)
    with hn.as_(alice), boa.reverts("not member"):
        hn.vpn.remove_member(tid, bob.address)
