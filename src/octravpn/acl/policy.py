"""A tailnet policy file, read and checked: Tailscale's ACL language with wallet addresses for users.

`parse_policy(text)` returns a `Policy` or raises `PolicyError` with the line and column of the first
mistake and what to write instead. Sections of a Tailscale policy file that are not enforced here load
with a warning, except those that would *restrict* access if they were (device posture): leaving those
out would open up what the file closes, so they are refused.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import TypeVar

from octravpn.acl import hujson
from octravpn.acl.errors import PolicyError, Position
from octravpn.acl.hujson import Array, Object, Text

TCP, UDP, ICMP, ICMPV6, SCTP = 6, 17, 1, 58, 132
DEFAULT_PROTOCOLS = frozenset({TCP, UDP, ICMP, ICMPV6})  # what a rule without "proto" allows, as Tailscale does
PORT_PROTOCOLS = frozenset({TCP, UDP, SCTP})  # the protocols that have ports
PROTOCOL_NAMES = {
    "icmp": ICMP,
    "igmp": 2,
    "ipv4": 4,
    "ip-in-ip": 4,
    "tcp": TCP,
    "egp": 8,
    "igp": 9,
    "udp": UDP,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "ipv6-icmp": ICMPV6,
    "icmpv6": ICMPV6,
    "sctp": SCTP,
}

ENFORCED = ("acls", "groups", "hosts", "tagOwners", "tests")
# Accepted so existing files load; what they allow is denied here, so leaving them out never opens anything.
NOT_ENFORCED = {
    "grants": "grants are not enforced here: the traffic they allow is denied; write it as acls",
    "ssh": "ssh rules are not enforced here (there is no Tailscale SSH)",
    "sshTests": "sshTests are not run here (there is no Tailscale SSH)",
    "nodeAttrs": "nodeAttrs are not applied here",
    "autoApprovers": "autoApprovers are not used here (routes and exits are not approved through the policy)",
    "postures": "postures are not checked here",
    "ipsets": "ipsets are not supported here: write their prefixes in hosts",
    "derpMap": "derpMap is not used here (relays come from the mesh, not the policy)",
    "disableIPv4": "disableIPv4 is not applied here",
    "randomizeClientPort": "randomizeClientPort is not applied here",
    "OneCGNATRoute": "OneCGNATRoute is not applied here",
}
# Would narrow access if enforced: refused rather than dropped.
RESTRICTING = {
    "defaultSrcPosture": "device posture cannot be checked here, and ignoring it would allow devices it "
    "denies: remove defaultSrcPosture",
}

ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
ALIAS_PREFIXES = frozenset({"tag", "group", "autogroup"})  # `tag:db` alone is an alias missing its port
SELF_SOURCES = frozenset({"any", "user", "group", "member"})  # sources autogroup:self may serve (they have users)
NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]*")
ALIAS_HELP = (
    "write *, a member's wallet address (0x…), group:NAME, tag:NAME, autogroup:member, autogroup:tagged, "
    "autogroup:self (in dst), a name from hosts, or an IP address or CIDR"
)


@dataclass(frozen=True)
class Alias:
    """One source or destination selector."""

    kind: str  # any, user, group, tag, member, tagged, self, host, prefix
    text: str  # as written
    name: str | None = None  # the user (lower-case address), group, tag or host name
    prefix: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None  # for host and prefix

    @property
    def named(self) -> str:
        """The name, for the kinds that have one (user, group, tag, host)."""
        if self.name is None:
            raise AssertionError(f"a {self.kind} alias names nothing")
        return self.name

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        """The network, for a host or a prefix."""
        if self.prefix is None:
            raise AssertionError(f"a {self.kind} alias has no network")
        return self.prefix


@dataclass(frozen=True)
class PortRange:
    first: int
    last: int

    def __contains__(self, port: int) -> bool:
        return self.first <= port <= self.last


ALL_PORTS = (PortRange(0, 65535),)


@dataclass(frozen=True)
class Destination:
    alias: Alias
    ports: tuple[PortRange, ...]
    text: str

    def allows_port(self, port: int | None) -> bool:
        return port is None or any(port in r for r in self.ports)


@dataclass(frozen=True)
class Rule:
    index: int  # 0-based, in file order
    line: int
    sources: tuple[Alias, ...]
    destinations: tuple[Destination, ...]
    protocols: frozenset[int]

    def describe(self) -> str:
        return f"acls[{self.index}] (line {self.line})"


@dataclass(frozen=True)
class TestCase:
    line: int
    source: Alias
    accept: tuple[tuple[Alias, int, str], ...]  # (destination, port, as written)
    deny: tuple[tuple[Alias, int, str], ...]
    protocol: int


@dataclass(frozen=True)
class Policy:
    groups: dict[str, frozenset[str]] = field(default_factory=dict)  # group:name -> users (lower-case addresses)
    hosts: dict[str, ipaddress.IPv4Network | ipaddress.IPv6Network] = field(default_factory=dict)
    tag_owners: dict[str, tuple[Alias, ...]] = field(default_factory=dict)  # tag:name -> users, groups, tags
    rules: tuple[Rule, ...] = ()
    tests: tuple[TestCase, ...] = ()
    warnings: tuple[str, ...] = ()


def parse_policy(text: str) -> Policy:
    document = hujson.parse(text)
    if not isinstance(document, Object):
        raise PolicyError('a policy file is one JSON object: {"acls": […], …}', Position(1, 1))
    warnings = []
    for key in document:
        if key in RESTRICTING:
            raise PolicyError(RESTRICTING[key], key_position(document, key))
        if key in NOT_ENFORCED:
            warnings.append(f"line {document.where(key).line}: {NOT_ENFORCED[key]}")
        elif key not in ENFORCED:
            known = ", ".join((*ENFORCED, *NOT_ENFORCED))
            raise PolicyError(f"unknown section {key!r}: a policy file has {known}", key_position(document, key))
    groups = _groups(document)
    hosts = _hosts(document)
    reader = AliasReader(groups, hosts, tags=set())
    tag_owners = _tag_owners(document, reader)
    rules = tuple(
        _rule(index, item, position, reader) for index, (item, position) in enumerate(_items(document, "acls"))
    )
    tests = tuple(_test(item, position, reader) for item, position in _items(document, "tests"))
    return Policy(groups=groups, hosts=hosts, tag_owners=tag_owners, rules=rules, tests=tests, warnings=tuple(warnings))


def key_position(container: Object, key: str) -> Position:
    """Where a member's name is written (a `Text` key knows), else where its value starts."""
    for existing in container:
        if existing == key and isinstance(existing, Text):
            return existing.position
    return container.where(key)


# ------------------------------------------------------------------ sections


Section = TypeVar("Section", Object, Array)


def _section(document: Object, name: str, kind: type[Section]) -> Section:
    value = document.get(name)
    if value is None:
        return kind(document.position)
    if not isinstance(value, kind):
        shape = "an object {…}" if kind is Object else "an array […]"
        raise PolicyError(f"{name!r} must be {shape}", document.where(name))
    return value


def _items(document: Object, name: str):
    section = _section(document, name, Array)
    for index, item in enumerate(section):
        if not isinstance(item, Object):
            raise PolicyError(f"each entry of {name!r} is an object {{…}}", section.where(index))
        yield item, section.where(index)


def _strings(container: Object, key: str, what: str) -> list[Text]:
    value = container.get(key)
    if isinstance(value, str):
        raise PolicyError(f"{what} is a list: write [{value!r}]".replace("'", '"'), container.where(key))
    if not isinstance(value, Array) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{what} must be a list of strings", container.where(key))
    return [v if isinstance(v, Text) else Text(v, value.where(i)) for i, v in enumerate(value)]


def _groups(document: Object) -> dict[str, frozenset[str]]:
    section = _section(document, "groups", Object)
    groups = {}
    for name in section:
        where = key_position(section, name)
        if not name.startswith("group:") or not NAME.fullmatch(name[6:]):
            raise PolicyError(f'group name {name!r} must be group: and a name, e.g. "group:engineering"', where)
        members = set()
        for member in _strings(section, name, f"{name}'s members"):
            if member.startswith("group:"):
                raise PolicyError(
                    f"{name} lists {member}: groups cannot contain groups; list its members here instead",
                    member.position,
                )
            if not ADDRESS.fullmatch(member):
                raise PolicyError(
                    f"{name} lists {member!r}: a group's members are wallet addresses (0x and 40 hex digits)",
                    member.position,
                )
            members.add(member.lower())
        groups[str(name)] = frozenset(members)
    return groups


def _hosts(document: Object) -> dict:
    section = _section(document, "hosts", Object)
    hosts = {}
    for name in section:
        where = key_position(section, name)
        if not NAME.fullmatch(name) or ":" in name or ADDRESS.fullmatch(name) or _ip_network(name) is not None:
            raise PolicyError(f"host name {name!r}: use letters, digits, '.', '-' and '_' (not an address)", where)
        value = section[name]
        if not isinstance(value, str):
            raise PolicyError(f"host {name!r} must be an IP address or CIDR in a string", section.where(name))
        hosts[str(name)] = _prefix(value, section.where(name), what=f"host {name!r}")
    return hosts


def _tag_owners(document: Object, reader: AliasReader) -> dict[str, tuple[Alias, ...]]:
    section = _section(document, "tagOwners", Object)
    for name in section:
        if not name.startswith("tag:") or not NAME.fullmatch(name[4:]):
            raise PolicyError(
                f'tag name {name!r} must be tag: and a name, e.g. "tag:server"', key_position(section, name)
            )
        reader.tags.add(str(name))
    owners = {}
    for name in section:
        entries = []
        for owner in _strings(section, name, f"{name}'s owners"):
            alias = reader.read(owner, owner.position, context="tagOwners")
            if alias.kind not in ("user", "group", "tag"):
                raise PolicyError(
                    f"{name}'s owner {owner!r}: a tag's owners are wallet addresses, group:NAME or tag:NAME",
                    owner.position,
                )
            entries.append(alias)
        owners[str(name)] = tuple(entries)
    return owners


def _rule(index: int, item: Object, position: Position, reader: AliasReader) -> Rule:
    known = {"action", "src", "dst", "proto", "users", "ports"}
    for key in item:
        if key == "srcPosture":
            raise PolicyError(
                "device posture cannot be checked here, and ignoring it would allow devices it denies: "
                "remove srcPosture (the rule then applies to every source) or drop the rule",
                key_position(item, key),
            )
        if key not in known:
            raise PolicyError(
                f"unknown field {key!r} in an acl: write action, src, dst and optionally proto", key_position(item, key)
            )
    action = item.get("action")
    if action != "accept":
        raise PolicyError(
            f'action {action!r}: the only action is "accept" (everything else is denied by default)',
            item.where("action"),
        )
    src_key = _one_of(item, "src", "users", position)
    dst_key = _one_of(item, "dst", "ports", position)
    protocols, proto_text = _protocols(item)
    source_texts = _strings(item, src_key, src_key)
    sources = tuple(reader.read(s, s.position, context="src") for s in source_texts)
    destinations = tuple(_destination(d, reader, protocols, proto_text) for d in _strings(item, dst_key, dst_key))
    if not sources or not destinations:
        raise PolicyError(f"an acl needs at least one {src_key if not sources else dst_key}", position)
    if any(d.alias.kind == "self" for d in destinations):
        # Each source user's own devices: a source that is no user (a tag, a host, an address) has none. Tailscale
        # refuses it; accepting it would let the rule allow one direction only.
        for text, alias in zip(source_texts, sources, strict=True):
            if alias.kind not in SELF_SOURCES:
                raise PolicyError(
                    f"{str(text)!r}: autogroup:self can only be used with users, groups, or supported autogroups "
                    "(*, autogroup:member) as sources",
                    text.position,
                )
    return Rule(index=index, line=position.line, sources=sources, destinations=destinations, protocols=protocols)


def _one_of(item: Object, key: str, legacy: str, position: Position) -> str:
    if key in item and legacy in item:
        raise PolicyError(f"write {key!r} or the legacy {legacy!r}, not both", item.where(legacy))
    if key not in item and legacy not in item:
        raise PolicyError(f"this acl has no {key!r}", position)
    return key if key in item else legacy


def _protocols(item: Object) -> tuple[frozenset[int], str | None]:
    if "proto" not in item:
        return DEFAULT_PROTOCOLS, None
    value = item["proto"]
    where = item.where("proto")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise PolicyError("proto is a protocol name (tcp, udp, icmp, …) or IANA number in a string", where)
    text = str(value).strip().lower()
    if text in PROTOCOL_NAMES:
        return frozenset({PROTOCOL_NAMES[text]}), text
    if text.isdigit() and text.startswith("0"):  # "06" would read as TCP, "0" as protocol 0: Tailscale refuses both
        raise PolicyError(f"leading 0 not permitted in protocol number {value!r}", where)
    if text.isdigit() and int(text) <= 255:
        return frozenset({int(text)}), text
    names = ", ".join(sorted(PROTOCOL_NAMES))
    raise PolicyError(f"unknown proto {value!r}: write one of {names}, or an IANA protocol number 0-255", where)


def _destination(text: Text, reader: AliasReader, protocols: frozenset[int], proto_text: str | None) -> Destination:
    host, ports_text = _split_host_ports(text)
    alias = reader.read(host, text.position, context="dst")
    ports = _ports(ports_text, text)
    if proto_text is not None and not protocols <= PORT_PROTOCOLS and ports != ALL_PORTS:
        raise PolicyError(f"{text!r}: proto {proto_text} has no ports: write {host}:*", text.position)
    return Destination(alias=alias, ports=ports, text=str(text))


def _split_host_ports(text: Text) -> tuple[str, str]:
    if text.startswith("["):  # [IPv6]:ports
        host, bracket, ports = text[1:].partition("]:")
        if bracket:
            if not isinstance(_ip_network(host), ipaddress.IPv6Network):
                raise PolicyError(
                    f"{str(text)!r}: brackets are for an IPv6 address only: write {host}:{ports}", text.position
                )
            return host, ports
    host, colon, ports = text.rpartition(":")
    if not colon or not host or host in ALIAS_PREFIXES:
        raise PolicyError(
            f"destination {str(text)!r}: missing port: write {text}:* for any port, or e.g. {text}:22", text.position
        )
    return host, ports


def _ports(text: str, where: Text) -> tuple[PortRange, ...]:
    if text == "*":
        return ALL_PORTS
    ranges = []
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        try:
            low, high = int(first), int(last) if dash else int(first)
        except ValueError:
            raise PolicyError(
                f"{where!r}: port {part!r} is not a number: write *, 22, 80,443 or 8000-8099", where.position
            ) from None
        if not (0 < low <= 65535 and 0 < high <= 65535):
            raise PolicyError(f"{where!r}: ports are 1-65535, got {part!r}", where.position)
        if low > high:
            raise PolicyError(f"{where!r}: port range {part!r} runs backwards: write {high}-{low}", where.position)
        ranges.append(PortRange(low, high))
    return tuple(ranges)


def _test(item: Object, position: Position, reader: AliasReader) -> TestCase:
    for key in item:
        if key not in ("src", "accept", "deny", "proto"):
            raise PolicyError(
                f"unknown field {key!r} in a test: write src, accept, deny and optionally proto",
                key_position(item, key),
            )
    source = item.get("src")
    if not isinstance(source, Text):
        raise PolicyError('a test\'s src is one source in a string, e.g. "0x…" or "tag:ci"', position)
    alias = reader.read(source, source.position, context="test")
    protocols, proto_text = _protocols(item)
    if len(protocols) != 1 and proto_text is None:
        protocols = frozenset({TCP})  # a test checks one connection; without proto, a TCP one
    cases: dict[str, list] = {}
    for key in ("accept", "deny"):
        cases[key] = []
        if key not in item:
            continue
        for text in _strings(item, key, f"a test's {key}"):
            host, port_text = _split_host_ports(text)
            if not port_text.isdigit() or not 0 < int(port_text) <= 65535:
                raise PolicyError(f"{text!r}: a test names one port, e.g. {host}:22", text.position)
            cases[key].append((reader.read(host, text.position, context="test"), int(port_text), str(text)))
    if not cases["accept"] and not cases["deny"]:
        raise PolicyError("a test needs accept or deny (or both)", position)
    return TestCase(
        line=position.line,
        source=alias,
        accept=tuple(cases["accept"]),
        deny=tuple(cases["deny"]),
        protocol=next(iter(protocols)),
    )


# ------------------------------------------------------------------ aliases


@dataclass
class AliasReader:
    groups: dict[str, frozenset[str]]
    hosts: dict
    tags: set[str]

    def read(self, text: str, where: Position | None, *, context: str) -> Alias:
        if text == "*":
            if context == "test":
                raise PolicyError("a test names one source or destination, not *", where)
            return Alias("any", text)
        if text.startswith("group:"):
            if text not in self.groups:
                raise PolicyError(f'unknown group {text!r}: define it under "groups"{_known(self.groups)}', where)
            return Alias("group", text, name=text)
        if text.startswith("tag:"):
            if text not in self.tags:
                raise PolicyError(f'{text} has no owner: add it to "tagOwners" (e.g. "{text}": ["0x…"])', where)
            return Alias("tag", text, name=text)
        if text.startswith("autogroup:"):
            return self._autogroup(text, where, context)
        if ADDRESS.fullmatch(text):
            return Alias("user", text, name=text.lower())
        if text in self.hosts:
            return Alias("host", text, name=text, prefix=self.hosts[text])
        if _ip_network(text) is not None:
            return Alias("prefix", text, prefix=_prefix(text, where, what="address"))
        if "@" in text:
            raise PolicyError(f"{text!r}: users here are members' wallet addresses (0x…), not e-mail addresses", where)
        raise PolicyError(f"unknown alias {text!r}: {ALIAS_HELP}", where)

    @staticmethod
    def _autogroup(text: str, where: Position | None, context: str) -> Alias:
        if text == "autogroup:member":
            return Alias("member", text)
        if text == "autogroup:tagged":
            return Alias("tagged", text)
        if text == "autogroup:self":
            if context != "dst":
                raise PolicyError("autogroup:self is a destination only (each source user's own devices)", where)
            return Alias("self", text)
        raise PolicyError(
            f"{text} is not supported here: use autogroup:member, autogroup:tagged or autogroup:self", where
        )


def _known(names) -> str:
    return f" (defined: {', '.join(sorted(names))})" if names else ""


def _ip_network(text: str):
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _prefix(text: str, where: Position | None, *, what: str):
    try:
        return ipaddress.ip_network(text)
    except ValueError:
        network = _ip_network(text)
        if network is not None:
            raise PolicyError(f"{what} {text!r} has bits set past its prefix length: write {network}", where) from None
        raise PolicyError(
            f"{what} {text!r} is not an IP address or CIDR (e.g. 100.64.0.7, 10.1.0.0/16, fd7a::/48)", where
        ) from None
