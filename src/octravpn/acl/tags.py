"""Who may put a tag on a device: the policy's `tagOwners`, as Tailscale's control plane applies them. Pure.

A tag is applied by someone, never asserted by the device that carries it: on chain a member grants a device
its tags (`set_device_tags`), and a grant holds only if that member may apply every tag it adds or takes away:
the member is listed for the tag, is in a group listed for it, or carries (as its own device) a tag listed for
it (tags can own tags). A tagged device then belongs to no user (see `acl.evaluate`).
"""

from __future__ import annotations

from octravpn.acl.policy import Policy
from octravpn.names import MAX_TAGS, TAG


def applicable(
    policy: Policy, applier: str, requested: frozenset[str], applier_tags: frozenset[str] = frozenset()
) -> frozenset[str]:
    """The requested tags `applier` (a wallet, lower-case) may apply: those it owns through a user or group
    entry, through a tag it carries, or through another requested tag it may apply (tags can own tags)."""
    granted: set[str] = set()
    carried = set(applier_tags)
    changed = True
    while changed:
        changed = False
        for tag in requested - granted:
            for owner in policy.tag_owners.get(tag, ()):
                if (
                    owner.kind == "user"
                    and owner.name == applier
                    or owner.kind == "group"
                    and applier in policy.groups[owner.named]
                    or owner.kind == "tag"
                    and (owner.name in granted or owner.name in carried)
                ):
                    granted.add(tag)
                    changed = True
                    break
    return frozenset(granted)


def grant_refusal(
    policy: Policy | None,
    by: str,
    before: frozenset[str],
    after: tuple[str, ...],
    by_tags: frozenset[str] = frozenset(),
) -> str | None:
    """Why a grant by `by` that takes a device from tags `before` to `after` does not hold (None: it holds)."""
    bad = [tag for tag in after if not isinstance(tag, str) or not TAG.fullmatch(tag)]
    if bad:
        return f"a grant by {by} names {bad[0]!r}, which is not tag:NAME"
    if len(after) > MAX_TAGS:
        return f"a grant by {by} names {len(after)} tags; a device carries at most {MAX_TAGS}"
    if policy is None:
        return f"a grant by {by} came while no policy was in force: nobody owned a tag"
    changed = before.symmetric_difference(after)
    unowned = sorted(changed - applicable(policy, by, changed, by_tags))
    if unowned:
        return f"{by} may not apply or remove {unowned[0]} (the policy's tagOwners do not name it)"
    return None
