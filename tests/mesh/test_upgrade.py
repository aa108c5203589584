"""Leaving a relay for a direct path: the trial's plan and schedule (pure), the proposal and its answer (real UDP
on loopback), and what a device takes from a peer's proposal. The whole path, from a relay to direct through two
NATs, is `tests/e2e/test_mesh_nat.py`."""

import ipaddress

import pytest

from octravpn.acl.compile import DeviceFilter
from octravpn.acl.network import Network
from octravpn.daemon.mesh_paths import PeerPaths
from octravpn.daemon.mesh_view import MapInForce
from octravpn.mesh import upgrade
from octravpn.mesh.netmap import MeshPeer, NetMap
from octravpn.mesh.peerapi import (
    PROPOSAL,
    PeerService,
    parse_proposal_reply,
    parse_slots,
    proposal_reply,
    propose,
)
from octravpn.mesh.relaying import Relayed
from octravpn.mesh.upgrade import MAX_PROPOSALS, MAX_SLOTS, PROPOSE_AGAIN, SLOT_SECONDS, Slot, Upgrades

LOW, HIGH = "0x" + "11" * 20, "0x" + "ee" * 20
VIEW = (("198.51.100.2:41641", "10.0.2.2:41641"), ("203.0.113.1:41641",))


def test_the_plan_pairs_both_ends_candidates_best_first_and_is_bounded():
    slots = upgrade.plan(["a:1", "b:1", "c:1"], ["x:1", "y:1"])
    assert slots == (Slot("a:1", "x:1"), Slot("a:1", "y:1"), Slot("b:1", "x:1"), Slot("b:1", "y:1"))
    assert len(upgrade.plan([f"10.0.0.{i}:1" for i in range(8)], [f"10.1.0.{i}:1" for i in range(8)])) == MAX_SLOTS
    assert upgrade.plan([], ["x:1"]) == () and upgrade.plan(["a:1"], []) == ()


def test_a_receiver_sends_only_to_endpoints_the_proposer_announced():
    slots = (Slot("198.51.100.9:1", "203.0.113.1:41641"), Slot("198.51.100.9:1", "192.0.2.66:53"))
    assert upgrade.accepted(slots, ("203.0.113.1:41641",)) == slots[:1]


def test_a_trial_runs_its_slots_one_after_the_other_then_is_over():
    trial = upgrade.Trial((Slot("a:1", "x:1"), Slot("b:1", "y:1")), since=100.0, proposer=True)
    assert trial.sends_to(100.0) == "a:1" and trial.sends_to(100.0 + SLOT_SECONDS) == "b:1"
    assert trial.sends_to(100.0 + 2 * SLOT_SECONDS) is None and trial.sends_to(99.0) is None
    assert upgrade.Trial(trial.slots, 100.0, proposer=False).sends_to(100.0) == "x:1"


def test_one_trial_per_view_of_the_pairs_endpoints():
    upgrades = Upgrades()
    assert upgrades.due(HIGH, VIEW, now=0.0)
    assert upgrades.begin(HIGH, (Slot("a:1", "x:1"),), proposer=True, view=VIEW, now=0.0)
    assert not upgrades.due(HIGH, VIEW, now=1.0)  # running
    assert upgrades.outcome(HIGH) == "trying"
    assert upgrades.running(HIGH, now=SLOT_SECONDS + 1) is None  # its one slot is over
    assert upgrades.outcome(HIGH).startswith("failed")
    assert not upgrades.due(HIGH, VIEW, now=1000.0)  # the same endpoints are not tried again
    moved = (VIEW[0], ("203.0.113.7:41641",))
    assert upgrades.due(HIGH, moved, now=1000.0)  # this device's endpoint changed: a new trial


def test_a_proposal_nobody_answers_is_made_again_then_given_up():
    upgrades, now = Upgrades(), 0.0
    for _ in range(MAX_PROPOSALS):
        assert upgrades.due(HIGH, VIEW, now)
        upgrades.unanswered(HIGH, "the peer did not answer", now)
        assert not upgrades.due(HIGH, VIEW, now + PROPOSE_AGAIN - 1)
        now += PROPOSE_AGAIN
    assert not upgrades.due(HIGH, VIEW, now) and upgrades.outcome(HIGH) == "the peer did not answer"


def test_a_peer_cannot_keep_its_path_in_trials():
    upgrades, slots = Upgrades(), (Slot("a:1", "x:1"),)
    assert upgrades.begin(LOW, slots, proposer=False, view=VIEW, now=0.0)
    assert not upgrades.begin(LOW, slots, proposer=False, view=VIEW, now=1.0)  # running
    assert upgrades.running(LOW, now=SLOT_SECONDS * 2) is None
    assert not upgrades.begin(LOW, slots, proposer=False, view=VIEW, now=100.0)  # tried
    upgrades.forget(set())  # no longer relayed: forgotten
    assert upgrades.outcomes() == {}


@pytest.mark.parametrize(
    "body, why",
    [
        (b"{", "not a proposal"),
        (b'{"slots": []}', "1 to"),
        (b'{"slots": [["example.com:1", "203.0.113.1:1"]]}', "not a proposal"),
        (b'{"slots": [["203.0.113.1:1"]]}', "pair"),
        (b'{"slots": [["203.0.113.1:1", "' + b"1" * 80 + b'"]]}', "too long"),
        (b'{"slots": ' + b"[" * 50 + b"]" * 50 + b"}", "not a proposal"),
        (b'{"slots": [' + b",".join([b'["203.0.113.1:1", "203.0.113.2:1"]'] * (MAX_SLOTS + 1)) + b"]}", "1 to"),
    ],
)
def test_a_hostile_proposal_gets_an_error_and_starts_nothing(body, why):
    started = []
    reply = proposal_reply("100.64.0.1", PROPOSAL + body, lambda a, s: started.append(s) or s)
    answer = parse_proposal_reply(reply)
    assert isinstance(answer, str) and why in answer and started == []


def test_answers_to_a_proposal_are_parsed_strictly():
    assert parse_proposal_reply(b'{"error": "no"}') == "no"
    for bad in (b"", b"[]", b'{"slots": "x"}', b'{"slots": [["a", "b"]]}'):
        assert isinstance(parse_proposal_reply(bad), str)
    assert parse_slots([["203.0.113.1:1", "[2001:db8::1]:2"]]) == (Slot("203.0.113.1:1", "[2001:db8::1]:2"),)


def test_a_proposal_and_its_answer_over_udp():
    taken = []

    def proposed(address, slots):
        taken.append(address)
        return slots[:1]

    service = PeerService("127.0.0.3", lambda a: None, proposed)
    try:
        slots = (Slot("203.0.113.1:41641", "198.51.100.2:41641"), Slot("203.0.113.1:41641", "10.0.0.2:41641"))
        assert propose("127.0.0.3", slots, timeout=2) == slots[:1]
        assert taken == ["127.0.0.1"]  # the proposer, known by its source address
    finally:
        service.close()
    assert propose("127.0.0.9", slots, timeout=0.2) == "the peer did not answer"


# -------------------------------------------------------------- what a device takes from a peer's proposal
PROPOSER_ENDPOINTS = ("198.51.100.2:41641", "10.0.1.2:41641")


def _peer(key: str, address: str) -> MeshPeer:
    return MeshPeer(
        key=key,
        owner=key,
        wg_pubkey=bytes(32),
        hostname="h" + key[2:6],
        named=True,
        endpoints=PROPOSER_ENDPOINTS,
        tags=frozenset(),
        seq=1,
        expires=2**40,
        addresses=(ipaddress.ip_address(address),),
    )


def _trials(me: str, peer: MeshPeer, *, relayed: bool, allowed: bool = True) -> PeerPaths:
    netmap = NetMap(tailnet_id=1, network=Network(members=frozenset()), peers={peer.key: peer})
    device_filter = DeviceFilter(device=me, addresses=(), entries=(), peers=frozenset({peer.key} if allowed else ()))
    built = MapInForce("digest", netmap, device_filter, None)

    class Relaying:
        pass

    relaying = Relaying()
    relaying.relayed = {peer.key: Relayed("192.0.2.2:50000", "hub", "0x" + "22" * 20, 1e12)} if relayed else {}
    return PeerPaths(
        me=me,
        relaying=relaying,
        in_force=lambda: built,
        own_endpoints=lambda: ["203.0.113.1:41641"],
        read_live=lambda: [],
        clock=lambda: 1000.0,
    )


SLOTS = (Slot("203.0.113.1:41641", "198.51.100.2:41641"), Slot("203.0.113.1:41641", "192.0.2.99:53"))


def test_a_device_takes_a_relayed_peers_proposal_for_the_endpoints_that_peer_announced():
    trials = _trials(HIGH, _peer(LOW, "100.64.0.1"), relayed=True)
    assert trials.proposed("100.64.0.1", SLOTS) == SLOTS[:1]
    assert trials.sends_to(LOW, 1000.0) == "198.51.100.2:41641"
    assert "tried already" in trials.proposed("100.64.0.1", SLOTS)


@pytest.mark.parametrize(
    "me, address, relayed, allowed, why",
    [
        (HIGH, "100.64.0.7", True, True, "not a peer"),  # no device at that address
        (HIGH, "100.64.0.1", True, False, "not a peer"),  # the policy does not let them talk
        (HIGH, "100.64.0.1", False, True, "does not reach you through a relay"),
        ("0x" + "00" * 20, "100.64.0.1", True, True, "lower key proposes"),
    ],
)
def test_a_proposal_is_refused_from_whom_it_does_not_concern(me, address, relayed, allowed, why):
    trials = _trials(me, _peer(LOW, "100.64.0.1"), relayed=relayed, allowed=allowed)
    answer = trials.proposed(address, SLOTS)
    assert isinstance(answer, str) and why in answer
    assert trials.sends_to(LOW, 1000.0) is None


def test_a_proposal_of_endpoints_the_peer_never_announced_is_refused():
    trials = _trials(HIGH, _peer(LOW, "100.64.0.1"), relayed=True)
    answer = trials.proposed("100.64.0.1", (Slot("203.0.113.1:41641", "192.0.2.99:53"),))
    assert isinstance(answer, str) and trials.sends_to(LOW, 1000.0) is None
