"""Which endpoint a device sends a peer's packets to: the same LAN first, the others in turn, a working one kept."""

import ipaddress

from octravpn.mesh.paths import FRESH_SECONDS, TRY_SECONDS, Attempt, candidates, choose

LAN = (ipaddress.ip_network("10.0.1.0/24"),)
PEER = ("203.0.113.9:41641", "10.0.1.7:41641", "[2001:db8::9]:41641")


def test_an_endpoint_on_this_devices_own_network_comes_first_then_the_announced_order():
    assert candidates(PEER, LAN) == ["10.0.1.7:41641", "203.0.113.9:41641", "[2001:db8::9]:41641"]
    assert candidates(PEER, ()) == list(PEER)
    assert candidates(("not an endpoint", "203.0.113.9:1"), ()) == ["203.0.113.9:1"]


def test_each_candidate_gets_its_time_then_the_next_round_and_round():
    first = choose(PEER, (), attempt=None, live_endpoint=None, last_handshake=0, now=100.0)
    assert first.endpoint == PEER[0] and first.since == 100.0
    assert choose(PEER, (), attempt=first, live_endpoint=None, last_handshake=0, now=100 + TRY_SECONDS - 1) == first
    second = choose(PEER, (), attempt=first, live_endpoint=None, last_handshake=0, now=100 + TRY_SECONDS)
    assert second.endpoint == PEER[1]
    third = choose(PEER, (), attempt=second, live_endpoint=None, last_handshake=0, now=second.since + TRY_SECONDS)
    again = choose(PEER, (), attempt=third, live_endpoint=None, last_handshake=0, now=third.since + TRY_SECONDS)
    assert third.endpoint == PEER[2] and again.endpoint == PEER[0]


def test_a_handshake_keeps_the_endpoint_wireguard_has_and_new_announced_endpoints_start_over():
    tried = Attempt(PEER[0], 100.0, tuple(PEER))
    # A handshake after the attempt began: it works, keep it (also after TRY_SECONDS).
    kept = choose(PEER, (), attempt=tried, live_endpoint=PEER[0], last_handshake=101, now=500.0)
    assert kept == tried
    # WireGuard followed the peer to another address (it roamed): that one, not the announced ones.
    roamed = choose(PEER, (), attempt=tried, live_endpoint="198.51.100.4:5555", last_handshake=499, now=500.0)
    assert roamed.endpoint == "198.51.100.4:5555"
    # A handshake too old to mean anything: back to the candidates.
    stale = choose(PEER, (), attempt=roamed, live_endpoint="198.51.100.4:5555", last_handshake=1, now=1 + FRESH_SECONDS)
    assert stale.endpoint == PEER[0]
    # The peer announced other endpoints: the best of them first.
    moved = choose(("192.0.2.1:41641",), (), attempt=tried, live_endpoint=None, last_handshake=0, now=101.0)
    assert moved.endpoint == "192.0.2.1:41641"
    assert choose((), (), attempt=None, live_endpoint=None, last_handshake=0, now=1.0) is None
