"""Tags are granted on chain by whom the policy's tagOwners name, judged under the policy of their time; a device
can neither give itself a tag nor drop one."""

import json

from octravpn.acl import parse_policy
from octravpn.acl.errors import PolicyError
from octravpn.chain.client import ChainEvent
from octravpn.mesh.roster import roster
from octravpn.mesh.tagging import device_tags

ALICE, BOB, SERVER, LAPTOP = ("0x" + c * 40 for c in "abcd")
POLICY = json.dumps({"groups": {"group:ops": [BOB]}, "tagOwners": {"tag:server": [ALICE], "tag:db": ["group:ops"]}})


def _policy_of(document: bytes):
    try:
        return parse_policy(document.decode())
    except (PolicyError, UnicodeDecodeError):
        return None


def _tags(*events):
    log = [
        ChainEvent("TailnetMemberAdded", {"tailnet_id": 0, "member": ALICE}, 1, "0x", 0),
        ChainEvent("TailnetMemberAdded", {"tailnet_id": 0, "member": BOB}, 1, "0x", 1),
        ChainEvent("DeviceRegistered", {"wallet": ALICE, "device": SERVER}, 2, "0x", 0),
        ChainEvent("DeviceRegistered", {"wallet": BOB, "device": LAPTOP}, 2, "0x", 1),
        ChainEvent("TailnetAclUpdated", {"tailnet_id": 0, "document": POLICY.encode()}, 2, "0x", 2),
        *(ChainEvent(name, {"tailnet_id": 0, **args}, 3 + i, "0x", 0) for i, (name, args) in enumerate(events)),
    ]
    return device_tags(log, 0, roster(log, 0), _policy_of)


def _grant(device, by, *tags):
    return "DeviceTagsSet", {"device": device, "by": by, "tags": list(tags)}


def test_a_tag_owner_grants_a_tag_and_a_group_member_grants_its_groups():
    tags, refused = _tags(_grant(SERVER, ALICE, "tag:server"), _grant(LAPTOP, BOB, "tag:db"))
    assert tags == {SERVER: {"tag:server"}, LAPTOP: {"tag:db"}} and refused == {}


def test_a_member_who_owns_no_tag_cannot_grant_or_take_it_away():
    tags, refused = _tags(_grant(SERVER, BOB, "tag:server"))
    assert tags == {} and "may not apply or remove tag:server" in refused[SERVER]
    # Once alice tagged it, bob (its owner's fellow member) cannot untag it to give it alice's identity back.
    tags, refused = _tags(_grant(SERVER, ALICE, "tag:server"), _grant(SERVER, BOB))
    assert tags == {SERVER: {"tag:server"}} and "tag:server" in refused[SERVER]
    tags, _ = _tags(_grant(SERVER, ALICE, "tag:server"), _grant(SERVER, ALICE))  # its owner may
    assert tags == {}


def test_a_grant_is_judged_under_the_policy_of_its_time():
    later = json.dumps({"tagOwners": {"tag:server": [BOB]}})
    tags, _ = _tags(_grant(SERVER, ALICE, "tag:server"), ("TailnetAclUpdated", {"document": later.encode()}))
    assert tags == {SERVER: {"tag:server"}}  # a later policy does not silently untag it
    tags, refused = _tags(("TailnetAclUpdated", {"document": b"{not a policy"}), _grant(SERVER, ALICE, "tag:server"))
    assert tags == {} and "no policy was in force" in refused[SERVER]


def test_malformed_grants_are_refused_with_why():
    tags, refused = _tags(_grant(SERVER, ALICE, "server"), _grant(LAPTOP, BOB, *(f"tag:t{i}" for i in range(17))))
    assert tags == {} and "not tag:NAME" in refused[SERVER] and "at most 16" in refused[LAPTOP]
