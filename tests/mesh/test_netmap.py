"""The network map a device builds: only announcements the chain backs count, whatever an indexer serves."""

import json

from eth_account import Account

from octravpn.acl import compile_device, parse_policy
from octravpn.acl.evaluate import Resolver
from octravpn.mesh.netmap import build_netmap
from octravpn.mesh.roster import Roster
from octravpn.protocol.announce import Announcement, SignedAnnouncement
from octravpn.protocol.eip712 import Domain, sign

DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
ALICE, BOB, LAPTOP, OUTSIDER = (Account.from_key(bytes([i]) * 32) for i in (1, 2, 3, 4))
ROSTER = Roster(
    members=frozenset({ALICE.address.lower(), BOB.address.lower()}),
    keys=(
        (ALICE.address.lower(), ALICE.address.lower()),
        (BOB.address.lower(), BOB.address.lower()),
        (LAPTOP.address.lower(), ALICE.address.lower()),
    ),
)


def _signed(signer, *, tailnet=0, device=None, seq=1, hostname=None, tags=(), key=b"\x11") -> dict:
    announcement = Announcement(
        tailnet_id=tailnet,
        device=device or signer.address,
        wg_pubkey=key * 32,
        hostname=hostname or f"h{signer.address[2:8].lower()}",
        endpoints=("198.51.100.7:41641",),
        tags=tags,
        seq=seq,
    )
    return SignedAnnouncement(announcement=announcement, signature=sign(DOMAIN, announcement, signer.key)).to_json()


def test_announcements_of_roster_keys_make_the_map_with_chain_derived_addresses():
    netmap = build_netmap(DOMAIN, 0, ROSTER, [_signed(ALICE, hostname="desk"), _signed(LAPTOP, hostname="laptop")])
    assert set(netmap.peers) == {ALICE.address.lower(), LAPTOP.address.lower()} and netmap.refused == {}
    laptop = netmap.peers[LAPTOP.address.lower()]
    assert laptop.owner == ALICE.address.lower() and laptop.hostname == "laptop" and netmap.by_name("laptop") == laptop
    # Every key on the roster is in the policy's network, announced or not; addresses come from chain order.
    assert [d.key for d in netmap.network.devices] == [k for k, _ in ROSTER.keys]
    assert netmap.network.device(LAPTOP.address).addresses == laptop.addresses


def test_what_an_indexer_cannot_do_changes_nothing():
    genuine = _signed(ALICE, hostname="desk", seq=5)
    served = [
        genuine,
        _signed(BOB, device=ALICE.address, seq=9, hostname="evil"),  # another key signed for alice's device
        {**genuine, "hostname": "evil"},  # the body changed after signing
        _signed(OUTSIDER),  # a key the chain does not know
        _signed(ALICE, tailnet=1, seq=7),  # another tailnet's
        _signed(ALICE, seq=4, hostname="old"),  # older than the one served beside it
        {"not": "an announcement"},
    ]
    netmap = build_netmap(DOMAIN, 0, ROSTER, served)
    assert list(netmap.peers) == [ALICE.address.lower()] and netmap.peers[ALICE.address.lower()].hostname == "desk"
    assert "not a member's key on chain" in netmap.refused[OUTSIDER.address.lower()]
    assert any("signed by" in why for why in netmap.refused.values())
    # A replay of an announcement older than one this device already took is refused too.
    replayed = build_netmap(DOMAIN, 0, ROSTER, [_signed(ALICE, seq=3)], seen={ALICE.address.lower(): 5})
    assert replayed.peers == {} and "a replay" in replayed.refused[ALICE.address.lower()]


def test_a_removed_member_or_revoked_device_drops_out_with_the_roster():
    without_laptop = Roster(members=ROSTER.members, keys=ROSTER.keys[:2])
    netmap = build_netmap(DOMAIN, 0, without_laptop, [_signed(LAPTOP, hostname="laptop"), _signed(BOB)])
    assert list(netmap.peers) == [BOB.address.lower()] and LAPTOP.address.lower() in netmap.refused


def test_a_contested_hostname_stays_with_the_device_that_joined_first():
    netmap = build_netmap(DOMAIN, 0, ROSTER, [_signed(LAPTOP, hostname="same"), _signed(ALICE, hostname="same")])
    assert netmap.by_name("same").key == ALICE.address.lower()
    assert "taken by a device that joined before" in netmap.refused[LAPTOP.address.lower()]


def test_requested_tags_reach_the_policy_which_decides_whether_they_hold():
    policy = parse_policy(
        json.dumps(
            {
                "tagOwners": {"tag:db": [ALICE.address]},
                "acls": [{"action": "accept", "src": [BOB.address], "dst": ["tag:db:5432"]}],
            }
        )
    )
    netmap = build_netmap(DOMAIN, 0, ROSTER, [_signed(LAPTOP, tags=("tag:db",), hostname="db"), _signed(BOB)])
    resolver = Resolver(policy, netmap.network)
    laptop = compile_device(resolver, LAPTOP.address)
    assert BOB.address.lower() in laptop.peers  # bob may reach the db its owner alice tagged
    bob = netmap.peers[BOB.address.lower()].addresses[0]
    assert laptop.admits(bob, laptop.addresses[0], 6, 5432) and not laptop.admits(bob, laptop.addresses[0], 6, 22)


def _signed_with_endpoints(signer, endpoints, *, key=b"\x23", hostname="laptop") -> dict:
    announcement = Announcement(
        tailnet_id=0, device=signer.address, wg_pubkey=key * 32, hostname=hostname, endpoints=endpoints, tags=(), seq=1
    )
    return SignedAnnouncement(announcement=announcement, signature=sign(DOMAIN, announcement, signer.key)).to_json()


def test_the_mesh_interface_has_exactly_the_announced_peers_the_policy_allows():
    from octravpn.mesh.interface import mesh_config

    policy = parse_policy(
        json.dumps({"acls": [{"action": "accept", "src": [BOB.address], "dst": [f"{ALICE.address}:*"]}]})
    )
    served = [
        _signed(ALICE, hostname="desk", key=b"\x21"),
        _signed(BOB, hostname="bob", key=b"\x22"),
        _signed_with_endpoints(LAPTOP, ("[2001:db8::9]:41641",)),
    ]
    netmap = build_netmap(DOMAIN, 0, ROSTER, served)

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
