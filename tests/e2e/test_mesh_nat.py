"""The mesh through NATs, end to end: devices behind masquerading routers (namespaces), as at home.

alice's hub has a public address; alice's laptop and bob's laptop each sit behind a home router's NAT (one
public port per local port, unasked packets dropped); bob's phone behind a NAT that maps every destination
to a new port. The tailnet's policy lets every member reach every member device. bob's laptop starts unable to
ask where it is seen from (as when its peers are slow to answer), so the laptops meet at the relay first.
"""

from __future__ import annotations

import json

import pytest

from octravpn.lab import Lab
from octravpn.lab_cli import LabCLI
from tests.e2e.meshlab import MeshLab
from tests.e2e.probes import reaches
from tests.support.waiting import wait_for

HOSTS = ("hub", "alice-laptop", "bob-laptop", "bob-phone")
OWNERS = {"hub": "alice", "alice-laptop": "alice", "bob-laptop": "bob", "bob-phone": "bob"}
NATS = {1: "eim", 2: "eim", 3: "edm"}
PUBLIC = {name: f"192.0.2.{32 * index + 2}" for index, name in enumerate(HOSTS)}  # a NAT's public address
UNASKED = (
    "table inet lab_unasked {\n chain out {\n  type filter hook output priority 0;\n  udp dport 41642 drop\n }\n}\n"
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("mesh-nat")
    lab = Lab.build(clients=len(HOSTS), exits=1, nat=NATS)
    cli = LabCLI(lab, home)
    indexer_process = built = None
    try:
        tailnet = cli.setup().tailnet_id
        indexer_process, indexer = cli.start_indexer(log=home / "indexer.log")
        built = MeshLab(lab, cli, indexer, home, HOSTS)
        built.tailnet = tailnet
        built.hosts["bob-laptop"].nft(UNASKED)
        for name in HOSTS:
            built.join(name, OWNERS[name], *(["--relay"] if name == "hub" else []))
        yield built
    finally:
        if built is not None:
            built.stop_all()
        if indexer_process is not None:
            cli.stop(indexer_process)
        cli.down_devnet()
        lab.delete()


def test_two_devices_behind_two_nats_meet_at_the_relay_then_go_direct_once_both_know_where_they_are_seen(world):
    """bob-laptop cannot learn its public endpoint, so alice-laptop has nowhere to reach it: the pair goes through
    the hub's relay. Then bob-laptop learns it (from one other member's device alone, so it is announced after its
    own addresses: one peer does not choose where everybody sends first), the pair's endpoints changed, and a
    trial through the relayed tunnel takes both laptops direct. alice-laptop's public endpoint is confirmed (the
    hub is a device of its own member) and announced first."""
    for one, other in (("alice-laptop", "bob-laptop"), ("bob-laptop", "alice-laptop")):
        wait_for(
            lambda one=one, other=other: (p := world.peers(one).get(other)) and p["path"] == "relayed by hub",
            timeout=120,
            what=f"{one} to reach {other} through the hub's relay",
            explain=world.explain,
        )
    world.hosts["bob-laptop"].nft("delete table inet lab_unasked")
    for name, confirmed in (("alice-laptop", True), ("bob-laptop", False)):
        public = f"{PUBLIC[name]}:41641"
        mesh = wait_for(
            lambda name=name, public=public, confirmed=confirmed: (
                (m := world.mesh(name))["observed"]["confirmed" if confirmed else "unconfirmed"] == [public]
                and public in m["endpoints"]
                and m
            ),
            what=f"{name} to learn its NAT's public endpoint from the hub and announce it",
            explain=world.explain,
        )
        if confirmed:
            assert mesh["endpoints"][0] == public and mesh["endpoints"][1].startswith("10.0.")
        else:
            assert mesh["endpoints"][0].startswith("10.0.") and mesh["endpoints"][-1] == public
    peer = wait_for(
        lambda: (p := world.peers("alice-laptop").get("bob-laptop")) and p["path"] == "direct" and p,
        timeout=90,
        what="a trial of direct paths to take the laptops off the relay",
        explain=world.explain,
    )
    assert peer["endpoint"] == f"{PUBLIC['bob-laptop']}:41641", peer
    answer = world.run("alice-laptop", "ping", "bob-laptop", "--count", "2")
    assert answer["answered"] == 2 and answer["path"] == "direct"
    assert answer["endpoint"] == f"{PUBLIC['bob-laptop']}:41641"
    wait_for(  # WireGuard follows alice-laptop's packets to its public endpoint, whichever candidate bob tried last
        lambda: world.peers("bob-laptop")["alice-laptop"]["endpoint"] == f"{PUBLIC['alice-laptop']}:41641",
        what="bob-laptop to send to alice-laptop's public endpoint",
        explain=world.explain,
    )
    assert reaches(world.hosts["bob-laptop"], "icmp", world.mesh("alice-laptop")["addresses"][0])


def test_behind_a_nat_that_maps_every_destination_anew_the_pair_goes_through_the_relay(world):
    """bob's phone is behind an endpoint-dependent NAT: no direct path to alice's laptop can work. Both ask
    the hub (which offers to relay) with signed requests; it forwards their WireGuard datagrams. Their one trial of
    direct paths fails, and the pair stays with the relay."""
    hub = world.mesh("hub")
    assert hub["relay"]["port"] == 41643
    peer = wait_for(
        lambda: (
            (p := world.peers("alice-laptop").get("bob-phone"))
            and p["path"] == "relayed by hub"
            and (p["direct_trial"] or "").startswith("failed")
            and p
        ),
        timeout=120,
        what="alice-laptop to reach bob-phone through the relay, after a trial of direct paths failed",
        explain=world.explain,
    )
    assert peer["endpoint"].startswith(f"{PUBLIC['hub']}:")  # alice-laptop sends to the hub's relay port
    wait_for(
        lambda: (p := world.peers("bob-phone")["alice-laptop"])["path"] == "relayed by hub" and p["handshake_age"],
        what="the phone's side, and a handshake through the relay",
        explain=world.explain,
    )
    # Three pings, at least one answered: on a busy machine a datagram through the relay (a userspace hop
    # between two userspace WireGuards) can miss its one-second wait, once failing this test with 1 of 2.
    answer = world.run("bob-phone", "ping", "alice-laptop", "--count", "3")
    assert answer["answered"] >= 1 and answer["path"] == "relayed by hub", answer
    text = world.run("bob-phone", "ping", "alice-laptop", json_out=False)
    assert "(relayed by hub)" in text
    assert world.mesh("hub")["relay"]["pairs"] >= 1 and world.mesh("hub")["relay"]["forwarded_datagrams"] > 0
    # The pair of laptops still goes direct: the relay is only for pairs that need it.
    assert world.peers("alice-laptop")["bob-laptop"]["path"] == "direct"


ASK_RELAY = """
import json, sys
from eth_account import Account
from octravpn.mesh.relay import request_relay
from octravpn.protocol.eip712 import Domain, sign
from octravpn.protocol.relaywire import RelayRequest, encode_request
key_file, chain_id, contract, tailnet, peer, relay, host, port, expires = sys.argv[1:]
account = Account.from_key(bytes.fromhex(open(key_file).read().strip().removeprefix("0x")))
domain = Domain(chain_id=int(chain_id), verifying_contract=contract)
sent = []
def make(challenge):
    request = RelayRequest(tailnet_id=int(tailnet), device=account.address, peer=peer, relay=relay,
                           expires=int(expires), challenge=challenge)
    sent.append(encode_request(request, sign(domain, request, account.key)))
    return sent[-1]
answer = request_relay((host, int(port)), make, timeout=3)
print(json.dumps({"datagram": sent[-1].hex(), "ready": answer.ready, "error": answer.error}))
"""

REPLAY = """
import json, socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(3)
sock.sendto(bytes.fromhex(sys.argv[3]), (sys.argv[1], int(sys.argv[2])))
print(json.loads(sock.recv(1024))["error"])
"""


def test_a_captured_relay_request_replayed_from_elsewhere_moves_nothing(world):
    """A relay request was once good for 10 minutes from anywhere: replayed from another address it moved the
    phone's leg to the replayer (who got alice-laptop's traffic and blackholed the pair). Now each request
    carries a challenge the relay made for the phone's address, taken once."""
    import sys
    import time

    from octravpn import config

    wait_for(lambda: world.peers("bob-phone")["alice-laptop"]["path"] == "relayed by hub", what="the relayed pair")
    network = config.load(env=world.cli.env).network()
    phone = world.hosts["bob-phone"]
    args = [
        str(world.cli.state_dir(phone) / "device.key"),
        str(network.chain_id),
        network.contract,
        str(world.tailnet),
        world.cli.device(world.hosts["alice-laptop"]),
        world.cli.device(world.hosts["hub"]),
        PUBLIC["hub"],
        "41643",
        str(int(time.time()) + 300),
    ]
    asked = json.loads(phone.run(sys.executable, "-c", ASK_RELAY, *args).stdout)  # the phone's genuine request
    assert asked["error"] is None and asked["ready"], asked
    for replayer in ("bob-laptop", "alice-laptop"):  # captured on the way, sent from behind other NATs
        refused = world.hosts[replayer].run(sys.executable, "-c", REPLAY, PUBLIC["hub"], "41643", asked["datagram"])
        assert "challenge" in refused.stdout, refused.stdout
    # Three pings, at least one answered: on a busy machine a datagram through the relay (a userspace hop
    # between two userspace WireGuards) can miss its one-second wait, once failing this test with 1 of 2.
    answer = world.run("bob-phone", "ping", "alice-laptop", "--count", "3")
    assert answer["answered"] >= 1 and answer["path"] == "relayed by hub", answer
