"""Who is in a tailnet, from its chain events: members, and the keys that act for them, in chain order.

Every key is on the roster once: a member's wallet as itself, or a live device key as its wallet's. The
contract keeps the two apart (a member's wallet cannot be registered as a device, a live device key cannot
become a member), but a roster is built from whatever the events say, so a key that is both is kept as the
member and its device binding refused, with a reason. Nothing here raises on what the chain can say.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Roster:
    members: frozenset[str]  # lower-case wallets
    keys: tuple[tuple[str, str], ...]  # (key, owner wallet), lower-case, in the chain order addresses follow
    refused: dict[str, str] = field(default_factory=dict)  # key -> why it is not on the roster as the chain says

    def owner(self, key: str) -> str | None:
        return dict(self.keys).get(key)


def roster(events, tailnet_id: int) -> Roster:
    """`events`: the contract's events in chain order (name, args, block_number, log_index)."""
    joined: dict[str, tuple[int, int]] = {}  # member -> position of the event that made it one
    devices: dict[str, tuple[str, tuple[int, int]]] = {}  # key -> (wallet, position of its registration)
    for event in events:
        position = (event.block_number, event.log_index)
        if event.name in ("DeviceRegistered", "DeviceRevoked"):
            device = event.args["device"].lower()
            if event.name == "DeviceRegistered":
                devices[device] = (event.args["wallet"].lower(), position)
            else:
                devices.pop(device, None)
        elif event.args.get("tailnet_id") == tailnet_id:
            if event.name == "TailnetMemberAdded":
                joined[event.args["member"].lower()] = position
            elif event.name == "TailnetMemberRemoved":
                joined.pop(event.args["member"].lower(), None)
    refused = {}
    keys = [((position, 0), member, member) for member, position in joined.items()]
    for device, (wallet, position) in devices.items():
        if wallet not in joined:
            continue
        if device in joined:
            refused[device] = f"a member's wallet, also registered as a device of {wallet}: kept as the member"
            continue
        keys.append(((max(position, joined[wallet]), 1), device, wallet))
    return Roster(
        members=frozenset(joined), keys=tuple((key, owner) for _, key, owner in sorted(keys)), refused=refused
    )
