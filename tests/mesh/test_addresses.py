"""Tailnet addresses derived from chain facts: the same everywhere, in range, unique, stable."""

import ipaddress
from dataclasses import dataclass

from octravpn.mesh import addresses
from octravpn.mesh.addresses import V4_NETWORK, assign_addresses
from octravpn.mesh.roster import roster

KEYS = [f"0x{i:040x}" for i in range(1, 401)]


def test_every_device_computes_the_same_addresses_in_range_and_unique():
    first, again = assign_addresses(7, KEYS), assign_addresses(7, list(KEYS))
    assert first == again
    v4 = [a for a, _ in first.values()]
    v6 = [b for _, b in first.values()]
    assert len(set(v4)) == len(set(v6)) == len(KEYS)
    assert all(a in V4_NETWORK and a not in (V4_NETWORK.network_address, V4_NETWORK.broadcast_address) for a in v4)
    assert all(b in ipaddress.ip_network("fd7a:7670:6e00:7::/64") for b in v6)  # the tailnet's own /64
    assert assign_addresses(8, KEYS)[KEYS[0]] != first[KEYS[0]]  # another tailnet, other addresses


def test_a_later_key_does_not_move_an_earlier_one():
    before = assign_addresses(1, KEYS[:10])
    after = assign_addresses(1, KEYS[:10] + KEYS[200:210])
    assert all(after[key] == before[key] for key in KEYS[:10])


def test_a_collision_goes_to_the_later_key(monkeypatch):
    real = addresses._candidate
    # The second key's first candidates are made to equal the first key's: it must take its next ones.
    monkeypatch.setattr(
        addresses,
        "_candidate",
        lambda label, tailnet, key, attempt: (
            real(label, tailnet, KEYS[0], 0) if key == KEYS[1] and attempt == 0 else real(label, tailnet, key, attempt)
        ),
    )
    assigned = assign_addresses(3, KEYS[:2])
    assert assigned[KEYS[0]] == assign_addresses(3, KEYS[:1])[KEYS[0]]
    assert assigned[KEYS[1]][0] != assigned[KEYS[0]][0] and assigned[KEYS[1]][1] != assigned[KEYS[0]][1]


@dataclass
class Event:
    name: str
    args: dict
    block_number: int
    log_index: int = 0


def test_the_roster_is_members_and_their_live_devices_in_chain_order():
    alice, bob, carol = "0x" + "a1" * 20, "0x" + "b2" * 20, "0x" + "c3" * 20
    laptop, phone, old = "0x" + "01" * 20, "0x" + "02" * 20, "0x" + "03" * 20
    events = [
        Event("DeviceRegistered", {"wallet": bob, "device": laptop}, 1),  # before bob joins: ordered at his joining
        Event("TailnetMemberAdded", {"tailnet_id": 5, "member": alice}, 2),
        Event("TailnetMemberAdded", {"tailnet_id": 6, "member": carol}, 3),  # another tailnet
        Event("TailnetMemberAdded", {"tailnet_id": 5, "member": bob}, 4),
        Event("DeviceRegistered", {"wallet": alice, "device": phone}, 5),
        Event("DeviceRegistered", {"wallet": alice, "device": old}, 6),
        Event("DeviceRevoked", {"wallet": alice, "device": old}, 7),
    ]
    found = roster(events, 5)
    assert found.members == {alice, bob}
    assert found.keys == ((alice, alice), (bob, bob), (laptop, bob), (phone, alice))
    removed = roster([*events, Event("TailnetMemberRemoved", {"tailnet_id": 5, "member": bob}, 8)], 5)
    assert removed.keys == ((alice, alice), (phone, alice))  # bob and the laptop acting for him are gone
