"""The filter compiled for a device admits exactly the packets the evaluator allows to it, for random policies
and random packets; and the nftables text it renders to."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from octravpn.acl import Resolver, compile_device, decide_packet, parse_policy
from octravpn.acl.nftables import ruleset, table_name
from tests.acl.world import ALICE, BOB, CAROL, DEVICES, ICMP, ICMPV6, TCP, World, address, ip, key, network

SOURCES = [
    "*",
    ALICE,
    BOB,
    CAROL,
    "group:ops",
    "group:all",
    "tag:web",
    "tag:db",
    "autogroup:member",
    "autogroup:tagged",
    "laptop",
    "100.64.0.0/30",
    "fd7a:7670:6e00::/124",
    "10.0.0.0/8",
    "100.64.0.11",
]
DESTINATIONS = [*SOURCES, "autogroup:self"]
PORTS = ["*", "22", "80,443", "1000-2000", "22,440-450"]
PROTOS = [None, "tcp", "udp", "icmp", "ipv6-icmp", "gre", "sctp"]
OUTSIDERS = ["100.64.7.7", "192.0.2.1", "fd7a:7670:6e00::77", "10.1.1.1", "2001:db8::1"]

SELF_SOURCES = {"*", ALICE, BOB, CAROL, "group:ops", "group:all", "autogroup:member"}  # sources that have users


def _sources(src, dst):
    """autogroup:self serves only sources with users (a policy naming it with others is refused)."""
    if any(d == "autogroup:self" for d, _ in dst):
        return [s for s in src if s in SELF_SOURCES] or ["*"]
    return src


rules = st.builds(
    lambda src, dst, proto: {
        "action": "accept",
        "src": _sources(src, dst),
        "dst": [f"{d}:{p if proto in (None, 'tcp', 'udp', 'sctp') else '*'}" for d, p in dst],
        **({"proto": proto} if proto else {}),
    },
    st.lists(st.sampled_from(SOURCES), min_size=1, max_size=3),
    st.lists(st.tuples(st.sampled_from(DESTINATIONS), st.sampled_from(PORTS)), min_size=1, max_size=3),
    st.sampled_from(PROTOS),
)
policies = st.builds(
    lambda acls: json.dumps(
        {
            "groups": {"group:ops": [BOB], "group:all": [ALICE, BOB, CAROL]},
            "tagOwners": {"tag:web": [ALICE], "tag:db": ["group:ops"]},
            "hosts": {"laptop": "100.64.0.1"},
            "acls": acls,
        }
    ),
    st.lists(rules, max_size=6),
)
packets = st.tuples(
    st.sampled_from([*DEVICES, *OUTSIDERS]),
    st.sampled_from(list(DEVICES)),
    st.sampled_from([4, 6]),
    st.sampled_from([TCP, 17, ICMP, 47, 132]),
    st.sampled_from([22, 80, 443, 445, 1500, 5000]),
)


@settings(max_examples=300, deadline=None)
@given(policies, st.lists(packets, min_size=1, max_size=20))
def test_the_compiled_filter_admits_exactly_what_the_evaluator_allows(text, batch):
    policy = parse_policy(text)
    resolver = Resolver(policy, network(policy=policy))
    filters = {}
    for source, destination, version, protocol, port in batch:
        if source in DEVICES:
            source_address = address(source, version)
        else:
            source_address = ip(source)
            version = source_address.version
        if protocol == ICMP and version == 6:
            protocol = ICMPV6  # each family's own ICMP
        destination_address = address(destination, version)
        if destination not in filters:
            filters[destination] = compile_device(resolver, key(destination))
        allowed = decide_packet(resolver, source_address, destination_address, protocol, port).allowed
        admitted = filters[destination].admits(source_address, destination_address, protocol, port)
        assert allowed == admitted, (source, destination, version, protocol, port, text)


def test_the_ruleset_admits_replies_then_the_policy_then_drops():
    world = World(
        acls=[
            {"action": "accept", "src": ["tag:web"], "dst": ["tag:db:5432,20-25,22"]},
            {"action": "accept", "src": ["*"], "dst": ["*:*"], "proto": "icmp"},
        ]
    )
    text = ruleset(compile_device(world.resolver, key("db")), "om0")
    lines = [line.strip() for line in text.splitlines()]
    assert lines[:3] == [
        "table inet octravpn_acl_om0",
        "delete table inet octravpn_acl_om0",
        "table inet octravpn_acl_om0 {",
    ]
    input_chain = lines[lines.index("chain input {") : lines.index("chain forward {")]
    # Replies to what this device opened; a connection a peer opened is judged by the policy at every packet.
    replies = input_chain.index('iifname "om0" ct direction reply accept')
    assert 'iifname "om0" ct state established,related accept' not in lines
    policy_line = 'iifname "om0" ip saddr { 100.64.0.10 } ip daddr { 100.64.0.11 } tcp dport { 20-25, 5432 } accept'
    assert input_chain.index(policy_line) > replies  # 22 folded into 20-25: nftables refuses overlapping intervals
    assert 'iifname "om0" ip saddr { 100.64.0.0/10 } ip daddr { 100.64.0.11 } meta l4proto icmp accept' in lines
    assert not any("ip6" in line and "icmp accept" in line and "ipv6-icmp" not in line for line in lines)
    assert input_chain[-2:] == ['iifname "om0" drop', "}"]
    assert table_name("om-mesh.1") == "octravpn_acl_om_mesh_1"
    # Off the mesh: nobody speaks as a tailnet address, nor reaches this device's or its resolver.
    assert input_chain[2:7] == [
        'iifname "lo" accept',
        'iifname != "om0" ip saddr { 100.64.0.0/10 } drop',
        'iifname != "om0" ip daddr { 100.64.0.11, 100.100.100.100 } drop',
        'iifname != "om0" ip6 saddr { fd7a:7670:6e00::/48 } drop',
        'iifname != "om0" ip6 daddr { fd7a:7670:6e00::11 } drop',
    ]
    assert lines[lines.index("chain forward {") + 2 : lines.index("chain forward {") + 4] == [
        'iifname "om0" drop',
        'oifname "om0" drop',
    ]
    assert 'oifname != { "om0", "lo" } ip daddr { 100.64.0.0/10 } drop' in lines
    # The mesh's own service port is open to peers (only peers reach the interface), before the drop.
    served = [
        line.strip()
        for line in ruleset(compile_device(world.resolver, key("db")), "om0", services=(41642,)).splitlines()
    ]
    end = served.index("chain forward {")
    assert served[end - 3 : end] == [
        'iifname "om0" ip daddr 100.64.0.11 udp dport { 41642 } accept',
        'iifname "om0" drop',
        "}",
    ]
