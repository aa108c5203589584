import ipaddress

import pytest

from octravpn.wireguard.config import InterfaceConfig, PeerConfig, WireGuardConfigError
from octravpn.wireguard.dump import DumpFormatError, parse_dump
from octravpn.wireguard.keys import Keypair, encode_key

A, B = Keypair.from_private(b"\x11" * 32), Keypair.from_private(b"\x22" * 32)


def test_setconf_and_wg_quick_rendering():
    config = InterfaceConfig(
        name="ovpn0",
        private_key=A.private,
        listen_port=51820,
        addresses=("10.77.0.1/24",),
        mtu=1420,
        peers=(
            PeerConfig(
                public_key=B.public, allowed_ips=("10.77.0.2/32",), endpoint="192.0.2.2:51820", persistent_keepalive=25
            ),
        ),
    )
    assert config.setconf() == (
        f"[Interface]\nPrivateKey = {A.private_b64}\nListenPort = 51820\n\n"
        f"[Peer]\nPublicKey = {B.public_b64}\nAllowedIPs = 10.77.0.2/32\nEndpoint = 192.0.2.2:51820\nPersistentKeepalive = 25\n"
    )
    quick = config.wg_quick(dns=("10.77.0.1",))
    assert "Address = 10.77.0.1/24\n" in quick and "DNS = 10.77.0.1\n" in quick and "MTU = 1420\n" in quick
    commented = config.wg_quick(dns=("10.77.0.1",), dns_line=False)
    assert "\nDNS" not in commented and "# DNS = 10.77.0.1\n" in commented and "resolvconf" in commented
    assert config.public_key == A.public


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        (dict(name="a-name-that-is-too-long"), "interface name"),
        (dict(name="bad name"), "interface name"),
        (dict(private_key=b"\x00" * 31), "private key must be 32 bytes"),
        (dict(listen_port=70000), "listen port"),
        (dict(mtu=100), "MTU"),
        (dict(addresses=("10.0.0.300/24",)), "address"),
        (dict(peers=(PeerConfig(public_key=B.public), PeerConfig(public_key=B.public))), "share a public key"),
    ],
)
def test_interface_validation(kwargs, reason):
    base = dict(name="ovpn0", private_key=A.private)
    with pytest.raises(WireGuardConfigError, match=reason):
        InterfaceConfig(**{**base, **kwargs})


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        (dict(allowed_ips=("10.0.0.1/33",)), "allowed IP"),
        (dict(endpoint="no-port"), "host:port"),
        (dict(endpoint="h:70000"), "host:port"),
        (dict(persistent_keepalive=0), "keepalive"),
    ],
)
def test_peer_validation(kwargs, reason):
    with pytest.raises(WireGuardConfigError, match=reason):
        PeerConfig(public_key=B.public, **kwargs)


def test_parse_dump():
    text = (
        f"{A.private_b64}\t{A.public_b64}\t51820\toff\n"
        f"{B.public_b64}\t(none)\t192.0.2.2:51821\t10.99.0.2/32,fd00::2/128\t1795317508\t348\t404\t25\n"
        f"{encode_key(b'3' * 32)}\t(none)\t(none)\t(none)\t0\t0\t0\toff\n"
    )
    interface, peers = parse_dump(text)
    assert (interface.public_key, interface.listen_port) == (A.public, 51820)
    first, second = peers
    assert first.endpoint == "192.0.2.2:51821" and (first.rx_bytes, first.tx_bytes) == (348, 404)
    assert first.allowed_ips == (ipaddress.ip_network("10.99.0.2/32"), ipaddress.ip_network("fd00::2/128"))
    assert first.persistent_keepalive == 25 and first.latest_handshake == 1795317508
    assert second.endpoint is None and second.allowed_ips == () and second.persistent_keepalive is None


def test_parse_dump_of_a_new_interface():
    interface, peers = parse_dump("(none)\t(none)\t51070\toff\n")
    assert (interface.private_key, interface.public_key, interface.listen_port, peers) == (None, None, 51070, [])


@pytest.mark.parametrize("text", ["", "a\tb\n", f"{A.private_b64}\t{A.public_b64}\t1\toff\nshort\tline\n"])
def test_parse_dump_refuses_garbage(text):
    with pytest.raises(DumpFormatError):
        parse_dump(text)


def test_endpoints_split_into_host_and_port():
    from octravpn.wireguard.config import split_endpoint

    assert split_endpoint("198.51.100.2:51820") == ("198.51.100.2", 51820)
    assert split_endpoint("[2001:db8::1]:51820") == ("2001:db8::1", 51820)
    assert split_endpoint("exit.example:443") == ("exit.example", 443)
    for bad in ("198.51.100.2", "host:0", "host:70000", ":51820"):
        with pytest.raises(WireGuardConfigError, match="must be host:port"):
            split_endpoint(bad)
