"""A small tailnet the policy tests share: three members, their devices, and a helper to ask about packets."""

import ipaddress
import json

from octravpn.acl import Device, Network, Resolver, decide_packet, parse_policy
from octravpn.acl.tags import applicable

ALICE, BOB, CAROL = "0x" + "a1" * 20, "0x" + "b2" * 20, "0x" + "c3" * 20
TCP, UDP, ICMP, ICMPV6, GRE = 6, 17, 1, 58, 47


def ip(text: str):
    return ipaddress.ip_address(text)


# name -> (owner, v4, v6, tags its owner asks for: it carries those the owner may apply)
DEVICES = {
    "alice-laptop": (ALICE, "100.64.0.1", "fd7a:7670:6e00::1", ()),
    "alice-phone": (ALICE, "100.64.0.2", "fd7a:7670:6e00::2", ()),
    "bob-laptop": (BOB, "100.64.0.3", "fd7a:7670:6e00::3", ()),
    "web": (ALICE, "100.64.0.10", "fd7a:7670:6e00::10", ("tag:web",)),
    "db": (BOB, "100.64.0.11", "fd7a:7670:6e00::11", ("tag:db",)),
    "carol-box": (CAROL, "100.64.0.12", "fd7a:7670:6e00::12", ("tag:web",)),  # carol may not tag: stays hers
}


def network(members=(ALICE, BOB, CAROL), devices=DEVICES, policy=None) -> Network:
    """`policy`: whose tagOwners decide which asked-for tags each device carries (none without one)."""
    return Network(
        members=frozenset(members),
        devices=tuple(
            Device(
                key=f"0x{index:040x}",
                owner=owner,
                addresses=(ip(v4), ip(v6)),
                tags=applicable(policy, owner.lower(), frozenset(tags)) if policy else frozenset(),
                name=name,
            )
            for index, (name, (owner, v4, v6, tags)) in enumerate(devices.items(), start=1)
        ),
    )


def key(name: str) -> str:
    return f"0x{list(DEVICES).index(name) + 1:040x}"


def address(name: str, version: int = 4):
    return ip(DEVICES[name][1 if version == 4 else 2])


class World:
    def __init__(self, **sections) -> None:
        sections.setdefault("tagOwners", {"tag:web": [ALICE], "tag:db": ["group:ops"]})
        sections.setdefault("groups", {"group:ops": [BOB]})
        self.policy = parse_policy(json.dumps(sections))
        self.resolver = Resolver(self.policy, network(policy=self.policy))

    def allows(self, src: str, dst: str, protocol: int = TCP, port: int | None = 22, version: int = 4) -> bool:
        source = address(src, version) if src in DEVICES else ip(src)
        destination = address(dst, version) if dst in DEVICES else ip(dst)
        return decide_packet(self.resolver, source, destination, protocol, port).allowed
