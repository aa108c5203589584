"""The engine on real wireguard-go interfaces in network namespaces."""

from octravpn.lab import unique
from octravpn.wireguard.config import InterfaceConfig, PeerConfig
from octravpn.wireguard.engine import Engine
from octravpn.wireguard.keys import Keypair
from octravpn.wireguard.runner import SubprocessRunner


def test_tunnel_comes_up_carries_traffic_counts_it_and_goes_down(two_hosts):
    a, b = two_hosts
    key_a, key_b = Keypair.generate(), Keypair.generate()
    name_a, name_b = unique("owa"), unique("owb")
    config_a = InterfaceConfig(
        name=name_a,
        private_key=key_a.private,
        listen_port=51820,
        addresses=("10.77.0.1/24",),
        peers=(PeerConfig(public_key=key_b.public, allowed_ips=("10.77.0.2/32",), endpoint="192.0.2.2:51821"),),
    )
    config_b = InterfaceConfig(
        name=name_b,
        private_key=key_b.private,
        listen_port=51821,
        addresses=("10.77.0.2/24",),
        peers=(PeerConfig(public_key=key_a.public, allowed_ips=("10.77.0.1/32",)),),
    )
    engine_a, engine_b = Engine(SubprocessRunner(namespace=a.name)), Engine(SubprocessRunner(namespace=b.name))
    try:
        assert engine_a.up(config_a) and engine_b.up(config_b)
        assert a.ping("10.77.0.2")

        (peer_of_a,) = engine_a.peers(name_a)
        (peer_of_b,) = engine_b.peers(name_b)
        assert peer_of_a.tx_bytes > 0 and peer_of_a.rx_bytes > 0 and peer_of_a.latest_handshake > 0
        assert peer_of_b.endpoint == "192.0.2.1:51820"  # learned from a's packets

        # Idempotent: the same configuration changes nothing.
        assert engine_a.reconfig(config_a) is False
        assert engine_b.reconfig(config_b) is False

        # Cutting the peer cuts the traffic; setting it again restores it.
        engine_a.remove_peer(name_a, key_b.public)
        assert not a.ping("10.77.0.2", count=1)
        engine_a.set_peer(name_a, config_a.peers[0])
        assert a.ping("10.77.0.2")
    finally:
        engine_a.down(name_a)
        engine_b.down(name_b)
    assert not engine_a.exists(name_a) and not engine_b.exists(name_b)
