"""Following the chain for the mesh: only new blocks are read, in bounded ranges, and the mesh's facts follow."""

from octravpn.chain.client import ChainEvent
from octravpn.mesh import chainfeed
from octravpn.mesh.chainfeed import ChainFeed

ALICE, BOB, LAPTOP, PHONE = ("0x" + c * 40 for c in "abcd")


def _event(name, block, **args):
    return ChainEvent(name, args, block, "0x", 0)


class Chain:
    def __init__(self, events):
        self.events_by_block, self.head, self.asked = events, 0, []

    def block_number(self):
        return self.head

    def events(self, first, last):
        self.asked.append((first, last))
        return [e for e in self.events_by_block if first <= e.block_number <= last]


HISTORY = [
    _event("TailnetCreated", 1, tailnet_id=0, owner=ALICE, acl_policy=b"\x01" * 32, deposit=5),
    _event("TailnetMemberAdded", 1, tailnet_id=0, member=ALICE),
    _event("TailnetMemberAdded", 2, tailnet_id=0, member=BOB),
    _event("SessionOpened", 2, session_id=1),  # not the mesh's: dropped
    _event("DeviceRegistered", 3, wallet=BOB, device=LAPTOP),
    _event("DeviceRegistered", 3, wallet=BOB, device=PHONE),
    _event("TailnetAclUpdated", 4, tailnet_id=0, acl_policy=b"\x02" * 32, document=b"{}"),
    _event("TailnetMemberAdded", 4, tailnet_id=1, member=BOB),
    _event("DeviceRevoked", 5, wallet=BOB, device=PHONE),
    _event("TailnetMemberRemoved", 6, tailnet_id=1, member=BOB),
]


def test_each_poll_reads_only_the_blocks_since_the_last_one():
    chain, feed = Chain(HISTORY), ChainFeed()
    chain.head = 3
    assert feed.poll(chain) is True and chain.asked == [(0, 3)]
    assert feed.poll(chain) is False and chain.asked == [(0, 3)]  # no new block: nothing asked
    chain.head = 6
    assert feed.poll(chain) is True and chain.asked[-1] == (4, 6)
    assert all(e.name in chainfeed.MESH_EVENTS for e in feed.events) and len(feed.events) == 9


def test_a_long_way_behind_is_read_in_bounded_ranges(monkeypatch):
    monkeypatch.setattr(chainfeed, "MAX_BLOCKS_PER_POLL", 2)
    chain, feed = Chain(HISTORY), ChainFeed()
    chain.head = 6
    feed.poll(chain)
    assert chain.asked == [(0, 1), (2, 3), (4, 5), (6, 6)] and feed.head == 6


def test_membership_devices_and_the_policy_hash_follow_from_the_events():
    chain, feed = Chain(HISTORY), ChainFeed()
    chain.head = 4
    feed.poll(chain)
    assert feed.wallet_of(PHONE.upper().replace("0X", "0x")) == BOB.lower()
    assert feed.tailnets_of(BOB) == [0, 1] and feed.policy(0) == (b"\x02" * 32, b"{}")
    assert feed.policy(7) == (bytes(32), b"")  # never set
    assert [k for k, _ in feed.roster(0).keys] == [ALICE, BOB, LAPTOP, PHONE]
    chain.head = 6
    feed.poll(chain)
    assert feed.wallet_of(PHONE) is None and feed.tailnets_of(BOB) == [0]  # revoked; removed from tailnet 1
    assert [k for k, _ in feed.roster(0).keys] == [ALICE, BOB, LAPTOP]


def test_a_key_that_is_both_a_member_and_a_device_is_on_the_roster_once_as_the_member():
    """What an older contract allowed (a reusable invite let one person hold both): the roster held the key twice
    and every device's map failed on it, for good."""
    chain, feed = (
        Chain(
            [
                _event("TailnetMemberAdded", 1, tailnet_id=0, member=ALICE),
                _event("TailnetMemberAdded", 2, tailnet_id=0, member=BOB),
                _event("DeviceRegistered", 3, wallet=ALICE, device=BOB),
            ]
        ),
        ChainFeed(),
    )
    chain.head = 3
    feed.poll(chain)
    members = feed.roster(0)
    assert [k for k, _ in members.keys] == [ALICE, BOB] and members.owner(BOB) == BOB
    assert "also registered as a device of " + ALICE in members.refused[BOB]
