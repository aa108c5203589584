"""What a device reads from the chain for its mesh, block by block: who is in which tailnet, which keys act
for whom, which policy is in force (the document travels in its event), and which tags members granted.

Each poll asks only for the blocks since the last one (`eth_getLogs` over a range) and keeps the events that
matter to the mesh, so a device follows the chain with two small requests a second. Everything else is
derived from those events: the roster (`mesh.roster`), the tailnets a wallet is a member of, the wallet a
device key acts for, a tailnet's policy, and its devices' tags (`mesh.tagging`). The derivations do no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from octravpn.mesh.roster import Roster, roster
from octravpn.mesh.tagging import device_tags

MESH_EVENTS = frozenset(
    {
        "TailnetCreated",
        "TailnetMemberAdded",
        "TailnetMemberRemoved",
        "TailnetAclUpdated",
        "DeviceRegistered",
        "DeviceRevoked",
        "DeviceTagsSet",
    }
)
MAX_BLOCKS_PER_POLL = 10_000  # one getLogs range: RPC nodes refuse much wider ones


@dataclass
class ChainFeed:
    events: list = field(default_factory=list)  # the mesh's events, in chain order
    next_block: int = 0
    head: int = -1  # the last block read

    def poll(self, client) -> bool:
        """Read the blocks since the last poll; True if any mesh event came with them."""
        latest = client.block_number()
        added = False
        while self.next_block <= latest:
            last = min(latest, self.next_block + MAX_BLOCKS_PER_POLL - 1)
            new = [e for e in client.events(self.next_block, last) if e.name in MESH_EVENTS]
            self.events.extend(new)
            added |= bool(new)
            self.next_block, self.head = last + 1, last
        return added

    # ---------------------------------------------------------- derived
    def roster(self, tailnet_id: int) -> Roster:
        return roster(self.events, tailnet_id)

    def wallet_of(self, device: str) -> str | None:
        """The member wallet a device key currently acts for (None: not registered, or revoked)."""
        device, wallet = device.lower(), None
        for event in self.events:
            if event.name == "DeviceRegistered" and event.args["device"].lower() == device:
                wallet = event.args["wallet"].lower()
            elif event.name == "DeviceRevoked" and event.args["device"].lower() == device:
                wallet = None
        return wallet

    def tailnets_of(self, wallet: str) -> list[int]:
        """The tailnets `wallet` is a member of now, in id order."""
        wallet, member_of = wallet.lower(), set()
        for event in self.events:
            if event.name in ("TailnetMemberAdded", "TailnetMemberRemoved") and event.args["member"].lower() == wallet:
                if event.name == "TailnetMemberAdded":
                    member_of.add(event.args["tailnet_id"])
                else:
                    member_of.discard(event.args["tailnet_id"])
        return sorted(member_of)

    def policy(self, tailnet_id: int) -> tuple[bytes, bytes]:
        """The keccak-256 of the tailnet's policy document in force, and the document (32 zero bytes and b"":
        none was ever set)."""
        found = (bytes(32), b"")
        for event in self.events:
            if event.name == "TailnetAclUpdated" and event.args["tailnet_id"] == tailnet_id:
                found = (bytes(event.args["acl_policy"]), bytes(event.args["document"]))
        return found

    def tags(self, tailnet_id: int, members: Roster, policy_of) -> tuple[dict[str, frozenset[str]], dict[str, str]]:
        """The tags each key on the roster carries, and why a grant did not hold (see `mesh.tagging`)."""
        return device_tags(self.events, tailnet_id, members, policy_of)


@dataclass(frozen=True)
class Place:
    """Where this device stands in the mesh, as the chain says: the tailnet it is on, for which member, and the
    tailnet's roster."""

    tailnet: int
    wallet: str
    roster: Roster


def place(feed: ChainFeed, device: str, wanted_tailnet: int | None) -> Place | dict:
    """This device's place (`device` lower case), or the view that says why it has none (a `state` and an
    `error`). Pure: it reads only what the feed holds."""
    wallet = feed.wallet_of(device) or (device if feed.tailnets_of(device) else None)
    if wallet is None:
        return {"state": "not-registered", "error": f"this device ({device}) acts for no member"}
    tailnets = feed.tailnets_of(wallet)
    tailnet = wanted_tailnet if wanted_tailnet is not None else (tailnets[0] if len(tailnets) == 1 else None)
    if tailnet is None or tailnet not in tailnets:
        if not tailnets:
            return {"state": "no-tailnet", "error": f"member {wallet} is in no tailnet"}
        if tailnet is None:
            return {
                "state": "choose-tailnet",
                "error": f"member {wallet} is in tailnets {', '.join(map(str, tailnets))}: choose one with "
                "`octravpn set --tailnet ID`",
            }
        return {"state": "no-tailnet", "error": f"member {wallet} is not in tailnet {tailnet} (set --tailnet)"}
    members = feed.roster(tailnet)
    if device not in dict(members.keys):
        reason = members.refused.get(device, "")
        return {"state": "not-registered", "error": f"this device is not on tailnet {tailnet}'s roster {reason}"}
    return Place(tailnet=tailnet, wallet=wallet, roster=members)
