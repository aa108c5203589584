"""Which tags each device of a tailnet carries, from the chain alone. Pure.

A member grants a device its tags on chain (`set_device_tags`); the grant holds if, under the policy in force
at that point of the chain, the member may apply every tag it adds or takes away (`acl.tags`). Grants are
judged in chain order, each against the policy of its time, as Tailscale judges a tagging when it is made:
a later change to tagOwners does not silently untag a device. A device that is never granted a tag carries
none, whatever it says about itself, and cannot drop one: it is no member, so it cannot send a grant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from octravpn.acl.policy import Policy
from octravpn.acl.tags import grant_refusal
from octravpn.mesh.roster import Roster


def device_tags(
    events: Iterable, tailnet_id: int, roster: Roster, policy_of: Callable[[bytes], Policy | None]
) -> tuple[dict[str, frozenset[str]], dict[str, str]]:
    """(tags by device key, why a device's latest grant did not hold) for the keys on the roster. `events`: the
    contract's, in chain order; `policy_of(document)`: the parsed policy, or None if it does not parse."""
    policy: Policy | None = None
    carried: dict[str, frozenset[str]] = {}
    refused: dict[str, str] = {}
    for event in events:
        if event.args.get("tailnet_id") != tailnet_id:
            continue
        if event.name == "TailnetAclUpdated":
            policy = policy_of(bytes(event.args["document"]))
        elif event.name == "DeviceTagsSet":
            device, by = event.args["device"].lower(), event.args["by"].lower()
            tags = tuple(event.args["tags"])
            why = grant_refusal(policy, by, carried.get(device, frozenset()), tags, carried.get(by, frozenset()))
            if why is None:
                carried[device] = frozenset(tags)
                refused.pop(device, None)
            else:
                refused[device] = why
    on_roster = {key for key, _ in roster.keys}
    return (
        {key: tags for key, tags in carried.items() if key in on_roster and tags},
        {key: why for key, why in refused.items() if key in on_roster},
    )
