"""Who is in a tailnet, from its chain events: members, and the keys that act for them, in chain order."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Roster:
    members: frozenset[str]  # lower-case wallets
    keys: tuple[tuple[str, str], ...]  # (key, owner wallet), lower-case, in the chain order addresses follow


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
    keys = [((position, 0), member, member) for member, position in joined.items()]
    keys += [
        ((max(position, joined[wallet]), 1), device, wallet)
        for device, (wallet, position) in devices.items()
        if wallet in joined
    ]
    return Roster(members=frozenset(joined), keys=tuple((key, owner) for _, key, owner in sorted(keys)))
