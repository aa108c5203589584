import ipaddress

from octravpn.node.egress import EgressPolicy, apply, remove, ruleset
from octravpn.wireguard.runner import CommandError, FakeRunner

POLICY = EgressPolicy(
    wg_interface="ovpn0",
    uplink="eth0",
    tunnel_network=ipaddress.ip_network("10.77.0.0/24"),
    exit_address="10.77.0.1",
    services=(("tcp", 7777),),
    extra_blocked=(ipaddress.ip_network("198.18.0.0/15"),),
)


def test_ruleset_names_every_rule():
    text = ruleset(POLICY)
    assert text.startswith("table inet octravpn_ovpn0\ndelete table inet octravpn_ovpn0\n")  # atomic replace
    assert 'iifname "ovpn0" ip daddr 10.77.0.1 tcp dport 7777 accept' in text
    assert 'iifname "ovpn0" oifname "ovpn0" drop' in text
    assert "10.0.0.0/8" in text and "192.168.0.0/16" in text and "169.254.0.0/16" in text and "198.18.0.0/15" in text
    assert "fe80::/10" in text and "fc00::/7" in text
    assert 'oifname "eth0" ip saddr 10.77.0.0/24 masquerade' in text
    # the catch-alls come after the specific accepts
    assert text.index('oifname "eth0" accept') < text.index('iifname "ovpn0" drop\n        oifname')


def test_apply_and_remove_commands():
    runner = FakeRunner()
    apply(runner, POLICY)
    assert runner.calls[0] == (["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], None)
    assert runner.calls[1] == (["nft", "-f", "-"], ruleset(POLICY))
    assert remove(runner, POLICY) is True
    missing = FakeRunner([(("nft", "delete"), CommandError(["nft"], 1, "No such file or directory"))])
    assert remove(missing, POLICY) is False
