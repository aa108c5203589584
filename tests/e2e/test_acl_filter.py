"""A compiled policy filter on a real WireGuard interface between two network namespaces: what the policy
allows gets through (TCP, UDP, ICMP, both families), everything else does not; a new policy replaces the
old one atomically and cuts the connections it no longer allows; removing it leaves no table behind."""

import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest

from octravpn.acl import Resolver, compile_device, parse_policy
from octravpn.acl.nftables import ruleset, table_name
from octravpn.lab import unique
from octravpn.wireguard.config import InterfaceConfig, PeerConfig
from octravpn.wireguard.engine import Engine
from octravpn.wireguard.keys import Keypair
from octravpn.wireguard.runner import CommandError, SubprocessRunner
from tests.acl.netns_services import HeldConnection
from tests.acl.world import key, network

ROOT = Path(__file__).parents[2]
LAPTOP = ("100.64.0.1", "fd7a:7670:6e00::1")  # alice-laptop in tests.acl.world
DB = ("100.64.0.11", "fd7a:7670:6e00::11")  # bob's tag:db server


def policy(*acls: str) -> str:
    return (
        '{"groups": {"group:ops": ["0x' + "b2" * 20 + '"]}, "tagOwners": {"tag:db": ["group:ops"], '
        '"tag:web": ["0x' + "a1" * 20 + '"]}, "acls": [' + ", ".join(acls) + "]}"
    )


@pytest.fixture
def tunnel(two_hosts):
    """alice-laptop in `a`, the db server in `b`, one WireGuard tunnel between them; services listening in b."""
    a, b = two_hosts
    key_a, key_b = Keypair.generate(), Keypair.generate()
    name_a, name_b = unique("oma"), unique("omb")
    engine_a, engine_b = Engine(SubprocessRunner(namespace=a.name)), Engine(SubprocessRunner(namespace=b.name))
    engine_a.up(
        InterfaceConfig(
            name=name_a,
            private_key=key_a.private,
            listen_port=51820,
            addresses=(f"{LAPTOP[0]}/10", f"{LAPTOP[1]}/48"),
            peers=(
                PeerConfig(
                    public_key=key_b.public, allowed_ips=(f"{DB[0]}/32", f"{DB[1]}/128"), endpoint="192.0.2.2:51821"
                ),
            ),
        )
    )
    engine_b.up(
        InterfaceConfig(
            name=name_b,
            private_key=key_b.private,
            listen_port=51821,
            addresses=(f"{DB[0]}/10", f"{DB[1]}/48"),
            peers=(PeerConfig(public_key=key_a.public, allowed_ips=(f"{LAPTOP[0]}/32", f"{LAPTOP[1]}/128")),),
        )
    )
    services = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            b.name,
            sys.executable,
            "-m",
            "tests.acl.netns_services",
            "serve",
            "120",
            "22,5432",
            "53,5432",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert services.stdout.readline().strip() == "ready"
        yield a, b, name_b
    finally:
        services.kill()
        services.wait()
        engine_a.down(name_a)
        engine_b.down(name_b)


def load_filter(runner, device_filter, interface: str) -> None:
    runner.run(["nft", "-f", "-"], stdin=ruleset(device_filter, interface))


def remove_filter(runner, interface: str) -> bool:
    try:
        runner.run(["nft", "delete", "table", "inet", table_name(interface)])
    except CommandError:
        return False
    return True


def compiled(text: str, device: str = "db"):
    parsed = parse_policy(text)
    return compile_device(Resolver(parsed, network(policy=parsed)), key(device))


def reach(host, protocol: str, address: str, port: int = 0) -> bool:
    if protocol == "icmp":
        return host.ping(address, count=1)
    probe = host.run(
        sys.executable, "-m", "tests.acl.netns_services", "probe", protocol, address, str(port), check=False
    )
    return probe.returncode == 0


def test_the_filter_admits_what_the_policy_allows_and_nothing_else(tunnel):
    a, b, interface = tunnel
    runner = SubprocessRunner(namespace=b.name)
    for family in (0, 1):  # before any filter, everything gets through: the tests below can fail
        assert reach(a, "tcp", DB[family], 22) and reach(a, "udp", DB[family], 53) and reach(a, "icmp", DB[family])

    allow_db = '{"action": "accept", "src": ["0x' + "a1" * 20 + '"], "dst": ["tag:db:5432"]}'
    load_filter(runner, compiled(policy(allow_db)), interface)
    for family in (0, 1):
        assert reach(a, "tcp", DB[family], 5432) and reach(a, "udp", DB[family], 5432)
        assert reach(a, "icmp", DB[family])  # default protocols: ICMP matches by address
        assert not reach(a, "tcp", DB[family], 22) and not reach(a, "udp", DB[family], 53)

    # A new policy replaces the old one in one transaction: now TCP 5432 only.
    tcp_only = '{"action": "accept", "src": ["0x' + "a1" * 20 + '"], "dst": ["tag:db:5432"], "proto": "tcp"}'
    load_filter(runner, compiled(policy(tcp_only)), interface)
    for family in (0, 1):
        assert reach(a, "tcp", DB[family], 5432)
        assert not reach(a, "udp", DB[family], 5432) and not reach(a, "icmp", DB[family])
    tables = b.run("nft", "list", "tables").stdout
    assert tables.count(table_name(interface)) == 1

    assert remove_filter(runner, interface)
    assert table_name(interface) not in b.run("nft", "list", "tables").stdout
    assert reach(a, "tcp", DB[0], 22)  # no filter, no policy: open again, as before it was loaded
    assert not remove_filter(runner, interface)


def test_a_device_that_may_not_be_reached_drops_everything(tunnel):
    a, b, interface = tunnel
    device_filter = compiled(policy('{"action": "accept", "src": ["tag:web"], "dst": ["tag:web:*"]}'))
    assert device_filter.entries == ()
    load_filter(SubprocessRunner(namespace=b.name), device_filter, interface)
    for family in (0, 1):
        assert not reach(a, "tcp", DB[family], 5432) and not reach(a, "icmp", DB[family])
    assert ipaddress.ip_address(DB[0]) in device_filter.addresses
    assert remove_filter(SubprocessRunner(namespace=b.name), interface)


def test_a_tightened_policy_cuts_a_connection_it_no_longer_allows(tunnel):
    """A peer's connection opened before a tightening once lived on: established packets were admitted first."""
    a, b, interface = tunnel
    runner = SubprocessRunner(namespace=b.name)
    laptop = '{"action": "accept", "src": ["0x' + "a1" * 20 + '"], "dst": ["tag:db:5432,7000"], "proto": "tcp"}'
    load_filter(runner, compiled(policy(laptop)), interface)
    held = HeldConnection(b.name, a.name, DB[0], 7000, seconds=60)
    try:
        assert held.say("one") == "one"
        load_filter(runner, compiled(policy(laptop.replace("5432,7000", "5432"))), interface)  # port 7000 goes
        assert held.say("two") == "timeout"  # the connection opened before is cut at its next packet
        assert reach(a, "tcp", DB[0], 5432) and not reach(a, "tcp", DB[0], 22)
    finally:
        held.close()
        remove_filter(runner, interface)
