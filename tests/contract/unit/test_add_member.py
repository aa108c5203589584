import boa

from tests.contract.harness import ZERO, actor


def test_owner_adds_member(hn, alice, bob):
    tid = hn.tailnet(alice)
    with hn.as_(alice):
        hn.vpn.add_member(tid, bob.address)
    event = hn.event("TailnetMemberAdded")
    assert (event.tailnet_id, event.member) == (tid, bob.address)
    assert hn.vpn.is_tailnet_member(tid, bob.address)
    assert hn.vpn.get_tailnet(tid).member_count == 2


def test_not_owner_reverts(hn, alice, bob):
    tid = hn.tailnet(alice)
    with hn.as_(bob), boa.reverts("not tailnet owner"):
        hn.vpn.add_member(tid, bob.address)


def test_unknown_tailnet_reverts(hn, alice, bob):
    with hn.as_(alice), boa.reverts("tailnet not found"):
        hn.vpn.add_member(0, bob.address)


def test_already_member_reverts(hn, alice):
    tid = hn.tailnet(alice)
    with hn.as_(alice), boa.reverts("already member"):
        hn.vpn.add_member(tid, alice.address)


def test_empty_address_reverts(hn, alice):
    tid = hn.tailnet(alice)
    with hn.as_(alice), boa.reverts("member is the empty address"):
        hn.vpn.add_member(tid, ZERO)


def test_a_live_device_key_cannot_become_a_member(hn, alice, bob):
    """Else the roster would hold the key twice, as bob's device and as a member (issue: one member could stop
    everyone's mesh)."""
    tid = hn.tailnet(alice)
    laptop = actor("laptop")
    hn.register_device(bob, laptop)
    with hn.as_(alice), boa.reverts("a live device key cannot be a member: revoke it first"):
        hn.vpn.add_member(tid, laptop.address)
    with hn.as_(bob):
        hn.vpn.revoke_device(laptop.address)
    with hn.as_(alice):
        hn.vpn.add_member(tid, laptop.address)  # a revoked key never acts as a device again
    assert hn.vpn.is_tailnet_member(tid, laptop.address)
