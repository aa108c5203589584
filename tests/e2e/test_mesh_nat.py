"""The mesh through NATs, end to end: devices behind masquerading routers (namespaces), as at home.

alice's hub has a public address; alice's laptop and bob's laptop each sit behind a home router's NAT (one
public port per local port, unasked packets dropped); bob's phone behind a NAT that maps every destination
to a new port. The tailnet's policy lets every member reach every member device.
"""

from __future__ import annotations

import pytest

from octravpn.lab import Lab
from octravpn.lab_cli import LabCLI
from tests.e2e.meshlab import MeshLab, wait_for
from tests.e2e.probes import reaches

HOSTS = ("hub", "alice-laptop", "bob-laptop", "bob-phone")
OWNERS = {"hub": "alice", "alice-laptop": "alice", "bob-laptop": "bob", "bob-phone": "bob"}
NATS = {1: "eim", 2: "eim", 3: "edm"}
PUBLIC = {name: f"192.0.2.{32 * index + 2}" for index, name in enumerate(HOSTS)}  # a NAT's public address


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("mesh-nat")
    lab = Lab.build(clients=len(HOSTS), exits=1, nat=NATS)
    cli = LabCLI(lab, home)
    indexer_process = built = None
    try:
        tailnet = cli.setup().tailnet_id
        indexer_process, indexer = cli.start_indexer(log=home / "indexer.log")
        cli.run("acl", "publish", str(tailnet), str(home / "acl.hujson"), "--indexer", indexer)
        built = MeshLab(lab, cli, indexer, home, HOSTS)
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


def _wait(predicate, *, what: str, world: MeshLab | None = None, timeout: float = 60.0):
    return wait_for(predicate, what=what, within=world, timeout=timeout, every=0.5)


def test_two_devices_behind_two_nats_learn_their_public_endpoints_and_connect_directly(world):
    for name in ("alice-laptop", "bob-laptop"):
        public = f"{PUBLIC[name]}:41641"
        mesh = _wait(
            lambda name=name, public=public: (
                (m := world.mesh(name)).get("observed") == [public]
                and m["endpoints"][0] == public  # announced first
                and m
            ),
            what=f"{name} to learn its NAT's public endpoint from the hub and announce it",
            world=world,
        )
        assert mesh["endpoints"][1].startswith("10.0.")  # then its own address, for peers on its LAN
    peer = _wait(
        lambda: (p := world.peers("alice-laptop").get("bob-laptop")) and p["last_handshake"] and p,
        what="a handshake between the two laptops",
        world=world,
    )
    assert peer["endpoint"] == f"{PUBLIC['bob-laptop']}:41641" and peer["path"] == "direct", peer
    answer = world.run("alice-laptop", "ping", "bob-laptop", "--count", "2")
    assert answer["answered"] == 2 and answer["path"] == "direct"
    assert answer["endpoint"] == f"{PUBLIC['bob-laptop']}:41641"
    assert world.peers("bob-laptop")["alice-laptop"]["endpoint"] == f"{PUBLIC['alice-laptop']}:41641"
    assert reaches(world.hosts["bob-laptop"], "icmp", world.mesh("alice-laptop")["addresses"][0])


def test_behind_a_nat_that_maps_every_destination_anew_the_pair_goes_through_the_relay(world):
    """bob's phone is behind an endpoint-dependent NAT: no direct path to alice's laptop can work. Both ask
    the hub (which offers to relay) with signed requests; it forwards their WireGuard datagrams."""
    hub = world.mesh("hub")
    assert hub["relay"]["port"] == 41643
    peer = _wait(
        lambda: (p := world.peers("alice-laptop").get("bob-phone")) and p["path"] == "relayed by hub" and p,
        timeout=120,
        what="alice-laptop to reach bob-phone through the relay",
        world=world,
    )
    assert peer["endpoint"].startswith(f"{PUBLIC['hub']}:")  # alice-laptop sends to the hub's relay port
    _wait(
        lambda: (p := world.peers("bob-phone")["alice-laptop"])["path"] == "relayed by hub" and p["handshake_age"],
        what="the phone's side, and a handshake through the relay",
        world=world,
    )
    answer = world.run("bob-phone", "ping", "alice-laptop", "--count", "2")
    assert answer["answered"] == 2 and answer["path"] == "relayed by hub", answer
    text = world.run("bob-phone", "ping", "alice-laptop", json_out=False)
    assert "(relayed by hub)" in text
    assert world.mesh("hub")["relay"]["pairs"] >= 1 and world.mesh("hub")["relay"]["forwarded_datagrams"] > 0
    # The pair of laptops still goes direct: the relay is only for pairs that need it.
    assert world.peers("alice-laptop")["bob-laptop"]["path"] == "direct"
