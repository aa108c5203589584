"""The exit's egress policy on real hosts: client -- exit -- internet, in namespaces."""

import ipaddress

import pytest

from octravpn.lab import Host, link, require_root_and_tools, unique
from octravpn.node.egress import EgressPolicy, apply, remove
from octravpn.wireguard.config import InterfaceConfig, PeerConfig
from octravpn.wireguard.engine import Engine
from octravpn.wireguard.keys import Keypair
from octravpn.wireguard.runner import SubprocessRunner

PUBLIC = "198.51.100.2"  # the internet host
PRIVATE = "192.168.50.2"  # a private address the exit can route to


@pytest.fixture
def topology():
    require_root_and_tools()
    client, exit_, internet = Host(unique("ovc")), Host(unique("ove")), Host(unique("ovi"))
    engines = []
    try:
        link(client, "192.0.2.2/24", exit_, "192.0.2.1/24")
        _, uplink = link(internet, "198.51.100.2/24", exit_, "198.51.100.1/24")
        internet.run("ip", "addr", "add", f"{PRIVATE}/24", "dev", _)
        exit_.run("ip", "route", "add", "192.168.50.0/24", "via", PUBLIC)
        internet.run("ip", "route", "add", "10.77.0.0/24", "via", "198.51.100.1")  # removed later to prove NAT
        exit_.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")  # a router with no filter: the baseline

        client_keys, exit_keys, phantom = Keypair.generate(), Keypair.generate(), Keypair.generate()
        exit_wg, client_wg = unique("owe"), unique("owc")
        exit_engine, client_engine = (
            Engine(SubprocessRunner(namespace=exit_.name)),
            Engine(SubprocessRunner(namespace=client.name)),
        )
        engines = [(exit_engine, exit_wg), (client_engine, client_wg)]
        exit_engine.up(
            InterfaceConfig(
                name=exit_wg,
                private_key=exit_keys.private,
                listen_port=51820,
                addresses=("10.77.0.1/24",),
                peers=(
                    PeerConfig(public_key=client_keys.public, allowed_ips=("10.77.0.2/32",)),
                    # Another client: a packet forwarded to it would start a handshake towards this endpoint.
                    PeerConfig(public_key=phantom.public, allowed_ips=("10.77.0.3/32",), endpoint="192.0.2.99:51820"),
                ),
            )
        )
        client_engine.up(
            InterfaceConfig(
                name=client_wg,
                private_key=client_keys.private,
                addresses=("10.77.0.2/24",),
                peers=(
                    PeerConfig(
                        public_key=exit_keys.public,
                        allowed_ips=("0.0.0.0/0",),
                        endpoint="192.0.2.1:51820",
                        persistent_keepalive=25,
                    ),
                ),
            )
        )
        client_engine.set_routes(
            client_wg, (ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("192.168.50.0/24"))
        )
        policy = EgressPolicy(
            wg_interface=exit_wg,
            uplink=uplink,
            tunnel_network=ipaddress.ip_network("10.77.0.0/24"),
            exit_address="10.77.0.1",
            services=(("tcp", 7777),),
        )
        yield client, exit_, internet, exit_engine, policy, phantom
    finally:
        for engine, name in engines:
            engine.down(name)
        for host in (client, exit_, internet):
            host.delete()


def _phantom_tx(engine, policy, phantom) -> int:
    return next(p.tx_bytes for p in engine.peers(policy.wg_interface) if p.public_key == phantom.public)


def test_clients_reach_the_internet_and_nothing_else(topology):
    client, exit_, internet, exit_engine, policy, phantom = topology
    # Without the policy every target is reachable: the checks below can fail.
    assert client.ping(PUBLIC) and client.ping(PRIVATE) and client.ping("198.51.100.1") and client.ping("10.77.0.1")
    before = _phantom_tx(exit_engine, policy, phantom)
    client.ping("10.77.0.3", count=2)
    assert _phantom_tx(exit_engine, policy, phantom) > before  # forwarded to the other client

    apply(SubprocessRunner(namespace=exit_.name), policy)

    assert client.ping(PUBLIC)
    assert not client.ping(PRIVATE, count=2)
    assert not client.ping("198.51.100.1", count=2)  # the exit host's own address
    # The exit's tunnel address answers echo requests (the daemon's probe of an idle tunnel) and nothing else.
    assert client.ping("10.77.0.1", count=2)
    assert (
        "icmp type echo-request limit rate 20/second accept"
        in exit_.run("nft", "list", "table", "inet", policy.table).stdout
    )
    # Re-add the other client: WireGuard drops its queue of pre-policy packets and zeroes its counters.
    other = next(p for p in exit_engine.peers(policy.wg_interface) if p.public_key == phantom.public)
    exit_engine.remove_peer(policy.wg_interface, phantom.public)
    exit_engine.set_peer(
        policy.wg_interface,
        PeerConfig(public_key=phantom.public, allowed_ips=other.allowed_ips, endpoint=other.endpoint),
    )
    client.ping("10.77.0.3", count=2)
    assert _phantom_tx(exit_engine, policy, phantom) == 0  # nothing reaches another client

    internet.run("ip", "route", "del", "10.77.0.0/24")
    assert client.ping(PUBLIC)  # still reachable: the exit masquerades tunnel traffic

    assert remove(SubprocessRunner(namespace=exit_.name), policy) is True
    assert client.ping("198.51.100.1")
