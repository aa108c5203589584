"""The exit connection's side of the host: routes, kill switch and its state, with scripted commands."""

import json

import pytest

from octravpn.client.state import Connection, Ending
from octravpn.daemon.state import DaemonState
from octravpn.errors import ConfigError
from octravpn.host import routing as network
from octravpn.host.dns import DNSManager
from octravpn.host.tunnel import HostChanges, TunnelHost, TunnelOptions, restore
from octravpn.wireguard.runner import CommandError, FakeRunner

ROUTING = network.TunnelRouting(
    interface="ovpn0",
    bypasses=(
        network.Bypass(address="198.51.100.2", udp_ports=(51820,), tcp_ports=(51820,)),
        network.Bypass(address="10.254.0.1", tcp_ports=(8545,)),
    ),
)


def test_the_kill_switch_allows_only_the_tunnel_and_the_bypasses():
    rules = network.kill_switch_ruleset(ROUTING)
    assert "policy drop;" in rules and 'oifname "lo" accept' in rules and 'oifname "ovpn0" accept' in rules
    assert "ip daddr 198.51.100.2 udp dport 51820 accept" in rules
    assert "ip daddr 198.51.100.2 tcp dport 51820 accept" in rules
    assert "ip daddr 10.254.0.1 tcp dport 8545 accept" in rules
    assert "udp dport 8545" not in rules
    assert rules.startswith(
        "table inet octravpn_ks_ovpn0\ndelete table inet octravpn_ks_ovpn0\n"
    )  # replaces an old one


def test_routes_keep_the_bypasses_on_their_gateway_and_split_the_default():
    def route_get(argv, stdin):
        address = argv[-1]
        if address == "10.254.0.1":
            return json.dumps([{"dst": address, "dev": "eth0"}])  # on-link: no gateway
        return json.dumps([{"dst": address, "gateway": "192.0.2.1", "dev": "eth0"}])

    runner = FakeRunner([(("ip", "-j", "route", "get"), route_get)])
    added = network.apply_routes(runner, ROUTING)
    assert added == [
        ["198.51.100.2/32", "via", "192.0.2.1", "dev", "eth0"],
        ["10.254.0.1/32", "dev", "eth0"],
        ["0.0.0.0/1", "dev", "ovpn0"],
        ["128.0.0.0/1", "dev", "ovpn0"],
    ]
    replaced = [argv[3:] for argv, _ in runner.calls if argv[:3] == ["ip", "route", "replace"]]
    assert replaced == added


def test_a_local_rpc_needs_no_route():
    runner = FakeRunner([(("ip", "-j", "route", "get"), json.dumps([{"dst": "127.0.0.1", "dev": "lo"}]))])
    assert network.gateway_route(runner, "127.0.0.1") == []


def test_restoring_works_from_the_state_file_alone():
    changes = HostChanges(
        interface="ovpn0",
        routes=[["0.0.0.0/1", "dev", "ovpn0"], ["128.0.0.0/1", "dev", "ovpn0"]],
        kill_switch_table="octravpn_ks_ovpn0",
    )
    # The interface is already gone (its routes with it): every step still runs, none fails.
    runner = FakeRunner(
        [
            (("ip", "route", "del"), CommandError(["ip"], 2, "No such process")),
            (("ip", "-j", "link", "show"), CommandError(["ip"], 1, "does not exist")),
        ]
    )
    restore(runner, changes)
    commands = [argv for argv, _ in runner.calls]
    assert commands[0] == ["nft", "delete", "table", "inet", "octravpn_ks_ovpn0"]
    assert ["ip", "route", "del", "128.0.0.0/1", "dev", "ovpn0"] in commands
    assert changes.routes == [] and changes.kill_switch_table is None


def test_the_state_file_round_trips(tmp_path):
    connection = Connection(
        session_id=3,
        exit="0x" + "e1" * 20,
        tailnet_id=0,
        deposit=10**16,
        price_per_mb=2 * 10**12,
        exit_endpoint="198.51.100.2:51820",
        receipt_signer="0x" + "e2" * 20,
        exit_wg_pubkey="k",
        client_address="10.77.0.2/16",
        exit_address="10.77.0.1",
        signed_bytes=5_000_000,
        receipts_signed=1,
    )
    state = DaemonState(
        status="connected",
        prefs={"exit": "auto"},
        connection=connection,
        host=HostChanges(interface="ovpn0", kill_switch_table="t"),
        ending=[Ending(session_id=2, exit="0x" + "e1" * 20, deposit=1, figure=5, left_at=1.0, reason="down")],
    )
    state.save(tmp_path / "state.json")
    loaded = DaemonState.load(tmp_path / "state.json")
    assert loaded == state and loaded.connection.paid_so_far == 10**13 and loaded.connection.figure == 5_000_000
    assert DaemonState.load(tmp_path / "missing.json") == DaemonState()


def test_a_damaged_state_file_says_how_to_recover(tmp_path):
    (tmp_path / "state.json").write_text('{"connection": {"session_id": 1}}')
    with pytest.raises(ConfigError, match="is damaged.*move it away"):
        DaemonState.load(tmp_path / "state.json")


def test_a_control_plane_address_keeps_every_port_in_one_bypass(tmp_path):
    host = TunnelHost(
        FakeRunner(),
        TunnelOptions(interface="ovpn0"),
        (
            network.Bypass(address="10.254.0.1", tcp_ports=(8545,)),
            network.Bypass(address="10.254.0.1", tcp_ports=(8787,)),
        ),
        DNSManager(tmp_path / "resolv.conf", tmp_path / "dns.json"),
    )
    routing = host.routing("198.51.100.2:51820")
    assert routing.bypasses == (
        network.Bypass(address="198.51.100.2", tcp_ports=(51820,), udp_ports=(51820,)),
        network.Bypass(address="10.254.0.1", tcp_ports=(8545, 8787)),
    )


def test_a_new_exit_is_routed_around_a_tunnel_that_already_carries_everything():
    answers = {
        "ip -j route get 198.18.0.2": json.dumps([{"dst": "198.18.0.2", "dev": "ovpn0"}]),
        "ip -j route show default": json.dumps([{"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"}]),
    }
    runner = FakeRunner([(("ip", "-j", "route"), lambda argv, _: answers[" ".join(argv)])])
    assert network.gateway_route(runner, "198.18.0.2", tunnel="ovpn0") == [
        "198.18.0.2/32",
        "via",
        "192.0.2.1",
        "dev",
        "eth0",
    ]
