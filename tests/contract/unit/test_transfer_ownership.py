import boa

from tests.contract.harness import ZERO


def test_new_owner_governs_and_old_does_not(hn, alice):
    with hn.as_(hn.owner):
        hn.vpn.transfer_ownership(alice.address)
    event = hn.event("OwnershipTransferred")
    assert (event.previous_owner, event.new_owner) == (hn.owner.address, alice.address)
    assert hn.vpn.owner() == alice.address
    with hn.as_(alice):
        hn.vpn.set_paused(True)
    with hn.as_(hn.owner), boa.reverts("not owner"):
        hn.vpn.set_paused(False)


def test_only_owner(hn, alice):
    with hn.as_(alice), boa.reverts("not owner"):
        hn.vpn.transfer_ownership(alice.address)


def test_empty_address_reverts(hn):
    with hn.as_(hn.owner), boa.reverts("new owner is the empty address"):
        hn.vpn.transfer_ownership(ZERO)
