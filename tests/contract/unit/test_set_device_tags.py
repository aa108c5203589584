"""set_device_tags: a member records which tags a device of the tailnet carries; devices apply it under the
policy's tagOwners (the contract cannot read the policy, so it records who asked)."""

import boa

from tests.contract.harness import actor


def test_a_member_tags_a_device_of_the_tailnet(hn, alice, bob):
    tid = hn.tailnet(alice)
    server = actor("server")
    with hn.as_(alice):
        hn.vpn.add_member(tid, bob.address)
    hn.register_device(bob, server)
    with hn.as_(alice):
        hn.vpn.set_device_tags(tid, server.address, ["tag:server", "tag:db"])
    event = hn.event("DeviceTagsSet")
    assert (event.tailnet_id, event.device, event.by, list(event.tags)) == (
        tid,
        server.address,
        alice.address,
        ["tag:server", "tag:db"],
    )
    with hn.as_(bob):
        hn.vpn.set_device_tags(tid, bob.address, [])  # a member's own wallet acting as a device; no tags
    assert list(hn.event("DeviceTagsSet").tags) == []


def test_a_device_key_cannot_tag_itself_or_anyone(hn, alice):
    tid = hn.tailnet(alice)
    server = actor("server")
    hn.register_device(alice, server)
    with hn.as_(server), boa.reverts("only a member grants tags"):
        hn.vpn.set_device_tags(tid, server.address, [])


def test_only_members_grant_tags(hn, alice, bob):
    tid = hn.tailnet(alice)
    with hn.as_(bob), boa.reverts("only a member grants tags"):
        hn.vpn.set_device_tags(tid, alice.address, ["tag:x"])


def test_the_device_must_be_on_the_roster(hn, alice, bob):
    tid = hn.tailnet(alice)
    stranger, revoked = actor("stranger"), actor("revoked")
    hn.register_device(alice, revoked)
    with hn.as_(alice):
        hn.vpn.revoke_device(revoked.address)
    for device in (stranger, bob, revoked):  # no one's device, a non-member's wallet, a revoked key
        with hn.as_(alice), boa.reverts("device is not on the tailnet's roster"):
            hn.vpn.set_device_tags(tid, device.address, ["tag:x"])


def test_unknown_tailnet_reverts(hn, alice):
    with hn.as_(alice), boa.reverts("tailnet not found"):
        hn.vpn.set_device_tags(3, alice.address, [])


def test_more_than_16_tags_revert(hn, alice):
    tid = hn.tailnet(alice)
    with hn.as_(alice), boa.reverts():  # the ABI decoder refuses it: the command line checks first
        hn.vpn.set_device_tags(tid, alice.address, [f"tag:t{i}" for i in range(17)])
