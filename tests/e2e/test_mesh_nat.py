"""The mesh through NATs, end to end: devices behind masquerading routers (namespaces), as at home.

alice's hub has a public address; alice's laptop and bob's laptop each sit behind a home router's NAT (one
public port per local port, unasked packets dropped); bob's phone behind a NAT that maps every destination
to a new port. The tailnet's policy lets every member reach every member device.
"""

from __future__ import annotations

import json
import time

import pytest

from octravpn.lab import Lab, unique
from octravpn.lab_cli import LabCLI
from tests.e2e.probes import reaches

HOSTS = ("hub", "alice-laptop", "bob-laptop", "bob-phone")
OWNERS = {"hub": "alice", "alice-laptop": "alice", "bob-laptop": "bob", "bob-phone": "bob"}
NATS = {1: "eim", 2: "eim", 3: "edm"}
PUBLIC = {name: f"192.0.2.{32 * index + 2}" for index, name in enumerate(HOSTS)}  # a NAT's public address


class World:
    def __init__(self, lab: Lab, cli: LabCLI, indexer: str, home) -> None:
        self.lab, self.cli, self.indexer, self.home = lab, cli, indexer, home
        self.hosts = dict(zip(HOSTS, lab.clients, strict=True))
        self.interfaces = {name: unique("om") for name in HOSTS}

    def run(self, name: str, *args: str, **options):
        return self.cli.run(*args, host=self.hosts[name], **options)

    def mesh(self, name: str) -> dict:
        return self.run(name, "status")["mesh"]

    def peers(self, name: str) -> dict[str, dict]:
        return {p["name"]: p for p in self.mesh(name).get("peers", [])}

    def start(self, name: str, *extra: str) -> None:
        self.cli.start_daemon(
            self.hosts[name],
            "--indexer",
            self.indexer,
            "--mesh-interface",
            self.interfaces[name],
            *extra,
            log=self.home / f"daemon-{name}.log",
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("mesh-nat")
    lab = Lab.build(clients=len(HOSTS), exits=1, nat=NATS)
    cli = LabCLI(lab, home)
    indexer_process = None
    try:
        tailnet = cli.setup().tailnet_id
        indexer_process, indexer = cli.start_indexer(log=home / "indexer.log")
        cli.run("acl", "publish", str(tailnet), str(home / "acl.hujson"), "--indexer", indexer)
        built = World(lab, cli, indexer, home)
        for name in HOSTS:
            built.start(name)
            cli.run(
                "-w",
                OWNERS[name],
                "device",
                "add",
                cli.device(built.hosts[name]),
                "--fund",
                "1",
                host=built.hosts[name],
            )
            built.run(name, "set", "--hostname", name, *(["--relay"] if name == "hub" else []))
        yield built
    finally:
        for host in lab.clients:
            if host.name in cli.daemons:
                cli.stop_daemon(host)
        if indexer_process is not None:
            cli.stop(indexer_process)
        cli.down_devnet()
        lab.delete()


def _wait(predicate, *, timeout: float = 60.0, what: str, world: World | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    seen = {name: world.mesh(name) for name in HOSTS} if world else {}
    raise AssertionError(f"timed out waiting for {what}; the meshes: {json.dumps(seen, indent=1)}")


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
