"""The network map a device builds: only announcements the chain backs count, whatever an indexer serves; what
an indexer withholds stays; two devices never share a WireGuard key or a name; nothing raises."""

import json

from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from octravpn.acl import compile_device, parse_policy
from octravpn.acl.evaluate import Resolver
from octravpn.chain.client import ChainEvent
from octravpn.mesh.netmap import build_netmap, take_announcements
from octravpn.mesh.roster import Roster, roster
from octravpn.protocol.announce import Announcement, SignedAnnouncement
from octravpn.protocol.eip712 import Domain, sign

DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
ALICE, BOB, LAPTOP, OUTSIDER = (Account.from_key(bytes([i]) * 32) for i in (1, 2, 3, 4))
NOW = 1_800_000_000
ROSTER = Roster(
    members=frozenset({ALICE.address.lower(), BOB.address.lower()}),
    keys=(
        (ALICE.address.lower(), ALICE.address.lower()),
        (BOB.address.lower(), BOB.address.lower()),
        (LAPTOP.address.lower(), ALICE.address.lower()),
    ),
)


def _signed(signer, *, tailnet=0, device=None, seq=1, hostname=None, key=None, since=None, expires=None) -> dict:
    announcement = Announcement(
        tailnet_id=tailnet,
        device=device or signer.address,
        wg_pubkey=key or bytes([signer.key[0] + 0x10]) * 32,
        hostname=hostname or f"h{signer.address[2:8].lower()}",
        hostname_since=seq if since is None else since,
        endpoints=("198.51.100.7:41641",),
        seq=seq,
        expires=NOW + 3600 if expires is None else expires,
    )
    return SignedAnnouncement(announcement=announcement, signature=sign(DOMAIN, announcement, signer.key)).to_json()


def _map(served, *, held=None, previous=None, seen=None, members=ROSTER, tags=None, now=NOW):
    held, refused = take_announcements(DOMAIN, 0, members, held or {}, served, now=now, seen=seen or {})
    netmap = build_netmap(0, members, held, now=now, tags=tags, previous=previous)
    return netmap, held, {**refused, **netmap.refused}


def test_announcements_of_roster_keys_make_the_map_with_chain_derived_addresses():
    netmap, _, refused = _map([_signed(ALICE, hostname="desk"), _signed(LAPTOP, hostname="laptop")])
    assert set(netmap.peers) == {ALICE.address.lower(), LAPTOP.address.lower()} and refused == {}
    laptop = netmap.peers[LAPTOP.address.lower()]
    assert laptop.owner == ALICE.address.lower() and laptop.name == "laptop" and netmap.by_name("laptop") == laptop
    # Every key on the roster is in the policy's network, announced or not; addresses come from chain order.
    assert [d.key for d in netmap.network.devices] == [k for k, _ in ROSTER.keys]
    assert netmap.network.device(LAPTOP.address).addresses == laptop.addresses


def test_what_an_indexer_cannot_do_changes_nothing():
    genuine = _signed(ALICE, hostname="desk", seq=5)
    served = [
        genuine,
        _signed(BOB, device=ALICE.address, seq=9, hostname="evil"),  # another key signed for alice's device
        {**genuine, "hostname": "evil", "seq": 6},  # the body changed after signing
        _signed(OUTSIDER),  # a key the chain does not know
        _signed(ALICE, tailnet=1, seq=7),  # another tailnet's
        _signed(ALICE, seq=4, hostname="old"),  # older than the one served beside it
        {"not": "an announcement"},
        [1, 2],
    ]
    netmap, _, refused = _map(served)
    assert list(netmap.peers) == [ALICE.address.lower()] and netmap.peers[ALICE.address.lower()].hostname == "desk"
    assert "not a member's key on chain" in refused[OUTSIDER.address.lower()]
    assert "signed by" in refused[ALICE.address.lower()] or "tailnet 1" in refused[ALICE.address.lower()]
    # A replay of an announcement older than one this device already took is refused too.
    replayed, _, refused = _map([_signed(ALICE, seq=3)], seen={ALICE.address.lower(): 5})
    assert replayed.peers == {} and "a replay" in refused[ALICE.address.lower()]


def test_a_failed_or_empty_fetch_keeps_the_last_verified_map():
    """An indexer that is down, or serves nothing, once emptied the map: every peer and name went for a step."""
    first, held, _ = _map([_signed(ALICE, hostname="desk"), _signed(BOB, hostname="bob")])
    again, held_again, _ = _map([], held=held, previous=first)
    assert held_again == held and again.peers == first.peers and again.by_name("bob").key == BOB.address.lower()


def test_only_the_chain_a_newer_announcement_or_the_expiry_takes_a_device_away():
    first, held, _ = _map([_signed(ALICE, hostname="desk"), _signed(LAPTOP, hostname="laptop", seq=2)])
    newer, held, _ = _map([_signed(LAPTOP, hostname="tablet", seq=3)], held=held, previous=first)
    assert newer.peers[LAPTOP.address.lower()].hostname == "tablet"
    without_laptop = Roster(members=ROSTER.members, keys=ROSTER.keys[:2])  # revoked on chain
    gone, _, _ = _map([], held=held, previous=newer, members=without_laptop)
    assert list(gone.peers) == [ALICE.address.lower()]
    expired, _, _ = _map([], held=held, previous=newer, now=NOW + 3600)  # its announcement's expiry
    assert expired.peers == {}


def test_an_announcement_expired_or_signed_for_too_long_is_refused():
    _, _, refused = _map([_signed(ALICE, expires=NOW - 1), _signed(BOB, expires=NOW + 2 * 86_400)])
    assert "expired" in refused[ALICE.address.lower()] and "from now" in refused[BOB.address.lower()]


def test_a_device_announcing_another_devices_wireguard_key_is_refused_not_fatal():
    """One announcement, no transaction: it once made the interface builder raise on every device paired with both."""
    key = b"\x42" * 32
    netmap, _, refused = _map([_signed(BOB, key=key, seq=9), _signed(LAPTOP, key=key, seq=2)])
    assert netmap.peers[BOB.address.lower()].wg_pubkey == key  # the first on the roster
    assert LAPTOP.address.lower() not in netmap.peers and "WireGuard key of" in refused[LAPTOP.address.lower()]
    # A device that held the key in the last map keeps it, whoever copies it later.
    first, held, _ = _map([_signed(LAPTOP, key=key, seq=2)])
    later, _, refused = _map([_signed(ALICE, key=key, seq=20)], held=held, previous=first)
    assert later.peers[LAPTOP.address.lower()].wg_pubkey == key and ALICE.address.lower() not in later.peers


def test_a_hostname_stays_with_the_device_that_announced_it_first():
    """A long-standing member's device once took any later device's name (DNS and ping reached the thief)."""
    first, held, _ = _map([_signed(LAPTOP, hostname="bob-box", seq=100)])
    stolen, _, refused = _map([_signed(ALICE, hostname="bob-box", seq=200)], held=held, previous=first)
    assert stolen.by_name("bob-box").key == LAPTOP.address.lower()
    assert "held by " + LAPTOP.address.lower() in refused[ALICE.address.lower()]
    assert ALICE.address.lower() in stolen.peers and stolen.peers[ALICE.address.lower()].name == ""  # still a peer
    # A device with no memory of the name gives it to whoever has used it the longest, not to chain order.
    fresh, _, _ = _map(
        [
            _signed(ALICE, hostname="bob-box", seq=200, since=200),
            _signed(LAPTOP, hostname="bob-box", seq=300, since=100),
        ]
    )
    assert fresh.by_name("bob-box").key == LAPTOP.address.lower()
    # The holder renames: the name is free.
    renamed, _, _ = _map(
        [_signed(LAPTOP, hostname="laptop", seq=400), _signed(ALICE, hostname="bob-box", seq=401)],
        held=held,
        previous=stolen,
    )
    assert renamed.by_name("bob-box").key == ALICE.address.lower()


def test_tags_come_from_the_chain_and_the_policy_decides_what_they_allow():
    policy = parse_policy(
        json.dumps(
            {
                "tagOwners": {"tag:db": [ALICE.address]},
                "acls": [{"action": "accept", "src": [BOB.address], "dst": ["tag:db:5432"]}],
            }
        )
    )
    netmap, _, _ = _map(
        [_signed(LAPTOP, hostname="db"), _signed(BOB)], tags={LAPTOP.address.lower(): frozenset({"tag:db"})}
    )
    resolver = Resolver(policy, netmap.network)
    laptop = compile_device(resolver, LAPTOP.address)
    assert BOB.address.lower() in laptop.peers  # bob may reach the db alice tagged
    bob = netmap.peers[BOB.address.lower()].addresses[0]
    assert laptop.admits(bob, laptop.addresses[0], 6, 5432) and not laptop.admits(bob, laptop.addresses[0], 6, 22)


def _signed_with_endpoints(signer, endpoints, *, key=b"\x23", hostname="laptop") -> dict:
    announcement = Announcement(
        tailnet_id=0,
        device=signer.address,
        wg_pubkey=key * 32,
        hostname=hostname,
        hostname_since=1,
        endpoints=endpoints,
        seq=1,
        expires=NOW + 60,
    )
    return SignedAnnouncement(announcement=announcement, signature=sign(DOMAIN, announcement, signer.key)).to_json()


def test_the_mesh_interface_has_exactly_the_announced_peers_the_policy_allows():
    from octravpn.mesh.interface import mesh_config

    policy = parse_policy(
        json.dumps({"acls": [{"action": "accept", "src": [BOB.address], "dst": [f"{ALICE.address}:*"]}]})
    )
    served = [
        _signed(ALICE, hostname="desk", key=b"\x21" * 32),
        _signed(BOB, hostname="bob", key=b"\x22" * 32),
        _signed_with_endpoints(LAPTOP, ("[2001:db8::9]:41641",)),
    ]
    netmap, _, _ = _map(served)

    def config_of(account):
        device = compile_device(Resolver(policy, netmap.network), account.address)
        return device, mesh_config(netmap, device, name="ovpnm0", private_key=b"\x31" * 32, listen_port=41641)

    desk, config = config_of(ALICE)
    bob = netmap.peers[BOB.address.lower()]
    # Bob may reach alice's devices: he is the desk's only peer (the laptop, alice's too, is not).
    assert [p.public_key for p in config.peers] == [b"\x22" * 32]
    (peer,) = config.peers
    assert [str(n) for n in peer.allowed_ips] == [f"{bob.addresses[0]}/32", f"{bob.addresses[1]}/128"]
    assert peer.endpoint == "198.51.100.7:41641" and peer.persistent_keepalive == 25
    assert [str(a) for a in config.addresses] == [f"{desk.addresses[0]}/32", f"{desk.addresses[1]}/128"]
    _, from_bob = config_of(BOB)
    endpoints = {p.endpoint for p in from_bob.peers}
    assert endpoints == {"198.51.100.7:41641", "[2001:db8::9]:41641"}  # an IPv6 endpoint stays in brackets


# ------------------------------------------------------------------------------------------------ never raises
KEYS = [Account.from_key(bytes([i]) * 32) for i in range(1, 7)]
ADDRESSES = [k.address for k in KEYS]
chain_events = st.lists(
    st.one_of(
        st.builds(lambda m: ("TailnetMemberAdded", {"tailnet_id": 0, "member": m}), st.sampled_from(ADDRESSES)),
        st.builds(lambda m: ("TailnetMemberRemoved", {"tailnet_id": 0, "member": m}), st.sampled_from(ADDRESSES)),
        st.builds(
            lambda w, d: ("DeviceRegistered", {"wallet": w, "device": d}),
            st.sampled_from(ADDRESSES),
            st.sampled_from(ADDRESSES),
        ),
        st.builds(
            lambda w, d: ("DeviceRevoked", {"wallet": w, "device": d}),
            st.sampled_from(ADDRESSES),
            st.sampled_from(ADDRESSES),
        ),
    ),
    max_size=12,
)
announcements = st.lists(
    st.one_of(
        st.builds(
            lambda signer, key, host, seq, since: _signed(
                signer, key=bytes([key]) * 32, hostname=host, seq=seq, since=min(since, seq)
            ),
            st.sampled_from(KEYS),
            st.integers(1, 3),
            st.sampled_from(["a", "b", "c"]),
            st.integers(1, 5),
            st.integers(0, 5),
        ),
        st.dictionaries(st.sampled_from(["device", "seq", "hostname"]), st.one_of(st.integers(), st.text())),
        st.lists(st.integers(), max_size=2),
    ),
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(chain_events, announcements, announcements)
def test_nothing_the_chain_or_an_indexer_says_makes_the_map_raise(events, first, second):
    members = roster([ChainEvent(n, a, i, "0x", 0) for i, (n, a) in enumerate(events)], 0)
    assert len({k for k, _ in members.keys}) == len(members.keys)  # each key once
    previous, held, _ = _map(first, members=members)
    netmap, _, _ = _map(second, held=held, previous=previous, members=members)
    keys = [p.wg_pubkey for p in netmap.peers.values()]
    names = [p.hostname for p in netmap.peers.values() if p.named]
    assert len(set(keys)) == len(keys) and len(set(names)) == len(names)
    policy = parse_policy('{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}')
    for device in netmap.network.devices:
        compile_device(Resolver(policy, netmap.network), device.key)
