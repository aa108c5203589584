"""A device's side of relaying: both ends of a pair rank the tailnet's relays alike, pass over one that does not
answer (a member with a bogus relay once blackholed every relayed pair: all used the lowest-keyed), and meet at
the best one both reach (real relays on loopback)."""

import time

import pytest
from eth_account import Account

from octravpn.acl.network import Network
from octravpn.chain.devnet import free_port
from octravpn.mesh.netmap import MeshPeer, NetMap
from octravpn.mesh.relay import RelayServer
from octravpn.mesh.relaying import RELAY_AFTER, RelayClient, relays_for
from octravpn.protocol.eip712 import Domain

DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
LAPTOP, PHONE = Account.from_key(b"\x21" * 32), Account.from_key(b"\x22" * 32)
RELAYS = [Account.from_key(bytes([0x30 + i]) * 32) for i in range(3)]


def _peer(account, *, relay: str = "") -> MeshPeer:
    return MeshPeer(
        key=account.address.lower(),
        owner=account.address.lower(),
        wg_pubkey=bytes(32),
        hostname=f"h{account.address[2:6].lower()}",
        named=True,
        endpoints=(),
        tags=frozenset(),
        seq=1,
        expires=2**40,
        addresses=(),
        relay=relay,
    )


def _netmap(relay_endpoints: dict) -> NetMap:
    peers = {a.address.lower(): _peer(a) for a in (LAPTOP, PHONE)}
    for account, endpoint in relay_endpoints.items():
        peers[account.address.lower()] = _peer(account, relay=endpoint)
    return NetMap(tailnet_id=0, network=Network(members=frozenset()), peers=peers)


@pytest.fixture
def relays():
    servers = [
        RelayServer(relay=r.address, tailnet_id=0, domain=DOMAIN, allowed=lambda d, p: None, port=0) for r in RELAYS
    ]
    yield servers
    for server in servers:
        server.close()


def _pair_up(netmap: NetMap) -> tuple[RelayClient, RelayClient]:
    laptop, phone = RelayClient(account=LAPTOP, domain=DOMAIN), RelayClient(account=PHONE, domain=DOMAIN)
    start = time.time()
    for client, peer in ((laptop, PHONE), (phone, LAPTOP)):
        client.path(netmap, peer.address.lower(), fresh=False, now=start)
    for round_ in range(3):  # each asks; the second round finds the other asked too
        now = start + RELAY_AFTER + round_ * 5
        for client, peer in ((laptop, PHONE), (phone, LAPTOP)):
            client.path(netmap, peer.address.lower(), fresh=False, now=now)
    return laptop, phone


def test_both_ends_rank_the_relays_alike_and_meet_at_the_best(relays):
    netmap = _netmap({r: f"127.0.0.1:{s.port}" for r, s in zip(RELAYS, relays, strict=True)})
    me, peer = LAPTOP.address.lower(), PHONE.address.lower()
    assert [r.key for r in relays_for(netmap, me, peer)] == [r.key for r in relays_for(netmap, peer, me)]
    laptop, phone = _pair_up(netmap)
    best = relays_for(netmap, me, peer)[0].key
    assert laptop.relayed[peer].relay_key == phone.relayed[me].relay_key == best


def test_a_relay_that_does_not_answer_is_passed_over(relays):
    ranked = relays_for(_netmap({r: "127.0.0.1:1" for r in RELAYS}), LAPTOP.address.lower(), PHONE.address.lower())
    dead = next(r for r in RELAYS if r.address.lower() == ranked[0].key)  # the best ranked is a bogus endpoint
    endpoints = {r: f"127.0.0.1:{s.port}" for r, s in zip(RELAYS, relays, strict=True)}
    endpoints[dead] = f"127.0.0.1:{free_port()}"
    netmap = _netmap(endpoints)
    laptop, phone = _pair_up(netmap)
    me, peer = LAPTOP.address.lower(), PHONE.address.lower()
    assert laptop.relayed[peer].relay_key == phone.relayed[me].relay_key == ranked[1].key
    assert laptop.resting[ranked[0].key] > time.time()  # passed over for a while
