"""The mesh on the host: the filter before the peers, the uplink rules, the name server's address, and
everything undone by teardown (commands recorded, answers scripted)."""

import ipaddress
import json

from octravpn.acl.compile import DeviceFilter
from octravpn.host.mesh import MeshChanges, MeshHost, local_addresses
from octravpn.host.uplink import MESH_FWMARK
from octravpn.wireguard.config import InterfaceConfig, PeerConfig
from octravpn.wireguard.keys import Keypair
from octravpn.wireguard.runner import CommandError

ME, PEER = Keypair.generate(), Keypair.generate()
ADDRESSES = (ipaddress.ip_address("100.64.0.1"), ipaddress.ip_address("fd7a:7670:6e00::1"))


class Runner:
    def __init__(self):
        self.ran, self.exists = [], False

    def run(self, argv, *, stdin=None):
        argv = list(argv)
        self.ran.append(argv)
        match argv:
            case ["ip", "-j", "link", "show", "dev", _]:
                if not self.exists:
                    raise CommandError(argv, 1, "does not exist")
            case ["wireguard-go", _]:
                self.exists = True
            case ["wg", "show", _, "dump"]:
                return "(none)\t(none)\t0\toff\n"
            case ["ip", "-j", "addr", "show", "dev", _]:
                return json.dumps([{"addr_info": [], "flags": []}])
            case ["ip", "-j", "route", "show", "dev", _] | ["ip", "-j", "-6", "route", "show", "dev", _]:
                return "[]"
            case ["ip", "-j", "-4", "route", "show", "default"]:
                return json.dumps([{"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"}])
            case ["ip", "-j", _, "rule", "show"] | ["ip", "-j", _, "route", "show", *_]:
                return "[]"
            case ["ip", "link", "add", *_]:
                raise CommandError(argv, 2, "Unknown device type.")
        return ""


def _config():
    peer = PeerConfig(public_key=PEER.public, allowed_ips=("100.64.0.2/32",), endpoint="192.0.2.9:41641")
    return InterfaceConfig(name="m0", private_key=ME.private, listen_port=41641, fwmark=MESH_FWMARK, peers=(peer,))


def test_the_filter_is_loaded_before_the_peers_then_routes_and_uplink_rules(tmp_path):
    runner, saved = Runner(), []
    changes = MeshChanges(interface="m0")
    host = MeshHost(runner)
    device_filter = DeviceFilter(device="0xab", addresses=ADDRESSES, entries=(), peers=frozenset())
    routes = (ipaddress.ip_network("100.64.0.0/10"),)
    host.apply(changes, _config(), device_filter, routes, lambda: saved.append(1))
    commands = [" ".join(a) for a in runner.ran]
    nft = next(i for i, c in enumerate(commands) if c == "nft -f -")
    syncconf = next(i for i, c in enumerate(commands) if c.startswith("wg syncconf"))
    assert nft < syncconf and changes.filter_loaded and changes.rules and saved
    assert "ip route replace 100.64.0.0/10 dev m0" in commands
    assert f"ip -4 rule add fwmark {MESH_FWMARK:#x} lookup main suppress_prefixlength 1 pref 5270" in commands
    assert f"ip -4 rule add fwmark {MESH_FWMARK:#x} lookup 5270 pref 5271" in commands
    assert "ip -4 route replace default via 192.0.2.1 dev eth0 table 5270" in commands
    runner.ran.clear()
    host.apply(changes, _config(), device_filter, routes, lambda: None)  # the same filter: not loaded again
    assert "nft -f -" not in [" ".join(a) for a in runner.ran]
    host.teardown(changes)
    commands = [" ".join(a) for a in runner.ran]
    assert "ip link del dev m0" in commands and "nft delete table inet octravpn_acl_m0" in commands
    assert "ip -4 rule del pref 5270" in commands and "ip -6 rule del pref 5271" in commands
    assert not changes.filter_loaded and not changes.rules


def test_the_name_servers_address_is_put_on_loopback_once_and_taken_off_by_teardown():
    runner = Runner()
    changes, host, saved = MeshChanges(interface="m0"), MeshHost(runner), []
    host.add_resolver_address(changes, "100.100.100.100", lambda: saved.append(1))
    host.add_resolver_address(changes, "100.100.100.100", lambda: saved.append(1))
    assert runner.ran.count(["ip", "addr", "add", "100.100.100.100/32", "dev", "lo"]) == 1 and saved == [1]
    assert MeshChanges.from_json(changes.to_json()) == changes
    host.teardown(changes)
    assert ["ip", "addr", "del", "100.100.100.100/32", "dev", "lo"] in runner.ran and changes.resolver_address is None


def test_the_endpoints_are_the_hosts_own_global_addresses_not_its_tunnels():
    class Addresses(Runner):
        def run(self, argv, *, stdin=None):
            return json.dumps(
                [
                    {"ifname": "lo", "flags": ["LOOPBACK"], "addr_info": [{"local": "127.0.0.1", "prefixlen": 8, "scope": "host"}]},
                    {"ifname": "eth0", "flags": [], "addr_info": [
                        {"local": "2001:db8::5", "prefixlen": 64, "scope": "global"},
                        {"local": "192.0.2.5", "prefixlen": 24, "scope": "global"},
                        {"local": "fe80::1", "prefixlen": 64, "scope": "link"},
                    ]},
                    {"ifname": "ovpn0", "flags": [], "addr_info": [{"local": "10.77.0.2", "prefixlen": 16, "scope": "global"}]},
                    {"ifname": "other", "flags": [], "addr_info": [{"local": "100.64.9.9", "prefixlen": 32, "scope": "global"}]},
                ]
            )  # fmt: skip

    found = local_addresses(Addresses(), skip_interfaces=frozenset({"ovpn0"}))
    assert [str(a) for a in found] == ["192.0.2.5/24", "2001:db8::5/64"]
