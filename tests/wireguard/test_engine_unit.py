"""The engine's decisions, with a scripted command runner (no interfaces touched)."""

import json

import pytest

from octravpn.wireguard.config import InterfaceConfig, PeerConfig
from octravpn.wireguard.engine import Engine
from octravpn.wireguard.keys import Keypair
from octravpn.wireguard.runner import CommandError, FakeRunner

A, B = Keypair.from_private(b"\x11" * 32), Keypair.from_private(b"\x22" * 32)
PEER = PeerConfig(public_key=B.public, allowed_ips=("10.77.0.2/32",), endpoint="192.0.2.2:51820")
CONFIG = InterfaceConfig(
    name="ovpn0", private_key=A.private, listen_port=51820, addresses=("10.77.0.1/24",), peers=(PEER,)
)


def _dump(peers: bool = True) -> str:
    head = f"{A.private_b64}\t{A.public_b64}\t51820\toff\n"
    peer = f"{B.public_b64}\t(none)\t192.0.2.2:51820\t10.77.0.2/32\t0\t0\t0\toff\n"
    return head + (peer if peers else "")


def _link(addresses=("10.77.0.1",), up=True) -> str:
    return json.dumps(
        [
            {
                "ifname": "ovpn0",
                "mtu": 1420,
                "flags": ["POINTOPOINT", "NOARP"] + (["UP"] if up else []),
                "addr_info": [{"family": "inet", "local": a, "prefixlen": 24, "scope": "global"} for a in addresses],
            }
        ]
    )


def _changing(runner):
    return [argv for argv, _ in runner.calls if argv[:2] not in (["wg", "show"], ["ip", "-j"])]


def test_reconfig_with_the_live_state_changes_nothing():
    runner = FakeRunner([(("wg", "show"), _dump()), (("ip", "-j", "addr"), _link())])
    assert Engine(runner).reconfig(CONFIG) is False
    assert _changing(runner) == []


def test_reconfig_applies_only_the_differences():
    runner = FakeRunner([(("wg", "show"), _dump(peers=False)), (("ip", "-j", "addr"), _link(("10.9.9.9",), up=False))])
    assert Engine(runner).reconfig(CONFIG) is True
    changes = _changing(runner)
    assert changes[0] == ["wg", "syncconf", "ovpn0", "/dev/stdin"]
    assert runner.calls[[c[0] for c in runner.calls].index(changes[0])][1] == CONFIG.setconf()
    assert ["ip", "addr", "add", "10.77.0.1/24", "dev", "ovpn0"] in changes
    assert ["ip", "addr", "del", "10.9.9.9/24", "dev", "ovpn0"] in changes
    assert changes[-1] == ["ip", "link", "set", "dev", "ovpn0", "up"]


def test_up_prefers_the_kernel_and_falls_back_to_wireguard_go():
    runner = FakeRunner(
        [
            (("ip", "-j", "link"), CommandError(["ip"], 1, "Device does not exist")),
            (("ip", "link", "add"), CommandError(["ip"], 2, "Unknown device type")),
            (("wg", "show"), _dump()),
            (("ip", "-j", "addr"), _link()),
        ]
    )
    assert Engine(runner).up(CONFIG) is True
    created = [argv for argv, _ in runner.calls if argv[0] in ("wireguard-go",) or argv[:3] == ["ip", "link", "add"]]
    assert created == [["ip", "link", "add", "dev", "ovpn0", "type", "wireguard"], ["wireguard-go", "ovpn0"]]


def test_kernel_only_mode_does_not_fall_back():
    runner = FakeRunner(
        [
            (("ip", "-j", "link"), CommandError(["ip"], 1, "no")),
            (("ip", "link", "add"), CommandError(["ip"], 2, "Unknown device type")),
        ]
    )
    with pytest.raises(CommandError, match="Unknown device type"):
        Engine(runner, userspace=False).up(CONFIG)


def test_peer_commands_and_counters():
    runner = FakeRunner([(("wg", "show"), _dump())])
    engine = Engine(runner)
    engine.set_peer("ovpn0", PeerConfig(public_key=B.public, allowed_ips=("10.77.0.2/32",), persistent_keepalive=25))
    engine.remove_peer("ovpn0", B.public)
    assert runner.calls[0][0] == [
        "wg",
        "set",
        "ovpn0",
        "peer",
        B.public_b64,
        "allowed-ips",
        "10.77.0.2/32",
        "persistent-keepalive",
        "25",
    ]
    assert runner.calls[1][0] == ["wg", "set", "ovpn0", "peer", B.public_b64, "remove"]
    (peer,) = engine.peers("ovpn0")
    assert peer.public_key == B.public and peer.rx_bytes == 0


def test_a_hostname_endpoint_does_not_flap():
    named = InterfaceConfig(
        name="ovpn0",
        private_key=A.private,
        listen_port=51820,
        addresses=("10.77.0.1/24",),
        peers=(PeerConfig(public_key=B.public, allowed_ips=("10.77.0.2/32",), endpoint="exit.example:51820"),),
    )
    runner = FakeRunner([(("wg", "show"), _dump()), (("ip", "-j", "addr"), _link())])
    assert Engine(runner).reconfig(named) is False
