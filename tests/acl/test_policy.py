"""Reading a policy file: every section, and every mistake reported with its line, column and the fix."""

import json

import pytest

from octravpn.acl import PolicyError, parse_policy
from octravpn.acl.policy import ALL_PORTS, DEFAULT_PROTOCOLS, ICMP, SCTP, TCP, UDP, PortRange

ALICE = "0x" + "a1" * 20
BOB = "0x" + "b2" * 20


def policy(**sections) -> str:
    return json.dumps(sections, indent=1)


def rule(src, dst, **extra):
    return {"action": "accept", "src": src, "dst": dst, **extra}


def test_sections_are_read():
    parsed = parse_policy(
        policy(
            groups={"group:eng": [ALICE, BOB.upper().replace("0X", "0x")]},
            hosts={"db": "100.64.1.1", "lan": "10.1.0.0/16", "v6": "fd00::/64"},
            tagOwners={"tag:server": ["group:eng"], "tag:db": ["tag:server", ALICE]},
            acls=[rule(["group:eng"], ["tag:server:22,80-90", "db:*"]), rule(["*"], ["*:*"], proto="ICMP")],
            tests=[{"src": ALICE, "accept": ["tag:server:22"], "deny": ["db:22"]}],
        )
    )
    assert parsed.groups == {"group:eng": frozenset({ALICE, BOB})}  # addresses in any letter case, kept lower-case
    assert str(parsed.hosts["lan"]) == "10.1.0.0/16" and parsed.tag_owners["tag:db"][0].kind == "tag"
    first, second = parsed.rules
    assert first.protocols == DEFAULT_PROTOCOLS and second.protocols == {ICMP}
    assert (
        first.destinations[0].ports == (PortRange(22, 22), PortRange(80, 90))
        and first.destinations[1].ports == ALL_PORTS
    )
    assert parsed.tests[0].protocol == TCP and parsed.warnings == ()


@pytest.mark.parametrize(
    "proto, numbers",
    [
        ("tcp", {TCP}),
        ("UDP", {UDP}),
        ("sctp", {SCTP}),
        ("17", {UDP}),
        ("ipv6-icmp", {58}),
        ("icmpv6", {58}),
        ("gre", {47}),
        (6, {TCP}),
    ],
)
def test_protocols_by_name_any_case_or_number(proto, numbers):
    parsed = parse_policy(policy(acls=[rule(["*"], ["*:*"], proto=proto)]))
    assert parsed.rules[0].protocols == numbers


def test_legacy_users_and_ports_fields():
    parsed = parse_policy(policy(acls=[{"action": "accept", "users": ["*"], "ports": ["*:22"]}]))
    assert parsed.rules[0].destinations[0].ports == (PortRange(22, 22),)


def test_ipv6_destinations_with_and_without_brackets():
    parsed = parse_policy(policy(acls=[rule(["*"], ["[fd7a:7670:6e00::5]:443", "fd7a:7670:6e00::/48:22"])]))
    first, second = parsed.rules[0].destinations
    assert str(first.alias.prefix) == "fd7a:7670:6e00::5/128" and first.ports == (PortRange(443, 443),)
    assert str(second.alias.prefix) == "fd7a:7670:6e00::/48" and second.ports == (PortRange(22, 22),)


def test_sections_not_enforced_load_with_a_warning():
    text = '{\n "acls": [],\n "ssh": [{"action": "accept"}],\n "grants": [],\n "nodeAttrs": [],\n}'
    parsed = parse_policy(text)
    assert parsed.warnings == (
        "line 3: ssh rules are not enforced here (there is no Tailscale SSH)",
        "line 4: grants are not enforced here: the traffic they allow is denied; write it as acls",
        "line 5: nodeAttrs are not applied here",
    )


def _error(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    return caught.value


@pytest.mark.parametrize(
    "text, message, at",
    [
        (
            '{"acls": [{"action": "accept", "src": ["group:ops"], "dst": ["*:*"]}]}',
            "unknown group 'group:ops': define it under \"groups\"",
            '"group:ops"',
        ),
        (
            '{"groups": {"group:a": []},\n "acls": [{"action": "accept", "src": ["group:b"], "dst": ["*:*"]}]}',
            "unknown group 'group:b': define it under \"groups\" (defined: group:a)",
            '"group:b"',
        ),
        (
            '{"acls": [{"action": "accept", "src": ["tag:web"], "dst": ["*:*"]}]}',
            'tag:web has no owner: add it to "tagOwners"',
            '"tag:web"',
        ),
        (
            '{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:90-80"]}]}',
            "port range '90-80' runs backwards: write 80-90",
            '"*:90-80"',
        ),
        ('{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:70000"]}]}', "ports are 1-65535", '"*:70000"'),
        ('{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:ssh"]}]}', "port 'ssh' is not a number", '"*:ssh"'),
        (
            '{"acls": [{"action": "accept", "src": ["*"], "dst": ["db"]}]}',
            "destination 'db': missing port: write db:* for any port",
            '"db"',
        ),
        (
            '{"acls": [{"action": "accept", "src": ["10.0.0.300"], "dst": ["*:*"]}]}',
            "unknown alias '10.0.0.300'",
            '"10.0.0.300"',
        ),
        (
            '{"acls": [{"action": "accept", "src": ["10.1.2.3/8"], "dst": ["*:*"]}]}',
            "address '10.1.2.3/8' has bits set past its prefix length: write 10.0.0.0/8",
            '"10.1.2.3/8"',
        ),
        (
            '{"acls": [{"action": "accept", "src": ["alice@example.com"], "dst": ["*:*"]}]}',
            "users here are members' wallet addresses (0x…), not e-mail addresses",
            '"alice@example.com"',
        ),
        (
            '{"acls": [{"action": "accept", "src": ["webserver"], "dst": ["*:*"]}]}',
            "unknown alias 'webserver': write *",
            '"webserver"',
        ),
        (
            '{"groups": {"group:a": ["' + ALICE + '"], "group:b": ["group:a"]}}',
            "group:b lists group:a: groups cannot contain groups",
            '"group:a"]',
        ),
        ('{"groups": {"a": []}}', "group name 'a' must be group: and a name", '"a"'),
        ('{"groups": {"group:a": ["bob"]}}', "a group's members are wallet addresses", '"bob"'),
        ('{"hosts": {"db": "10.0.0.256"}}', "host 'db' '10.0.0.256' is not an IP address or CIDR", '"10.0.0.256"'),
        ('{\n  "aclz": []\n}', "unknown section 'aclz': a policy file has acls, groups", '"aclz"'),
        (
            '{"acls": [{"action": "deny", "src": ["*"], "dst": ["*:*"]}]}',
            "action 'deny': the only action is \"accept\"",
            '"deny"',
        ),
        (
            '{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"], "proto": "quic"}]}',
            "unknown proto 'quic'",
            '"quic"',
        ),
        (
            '{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:22"], "proto": "icmp"}]}',
            "proto icmp has no ports: write *:*",
            '"*:22"',
        ),
        (
            '{"acls": [{"action": "accept", "src": ["autogroup:self"], "dst": ["*:*"]}]}',
            "autogroup:self is a destination only",
            '"autogroup:self"',
        ),
        (
            '{"acls": [{"action": "accept", "src": ["autogroup:admin"], "dst": ["*:*"]}]}',
            "autogroup:admin is not supported here",
            '"autogroup:admin"',
        ),
        ('{"acls": [{"action": "accept", "src": "*", "dst": ["*:*"]}]}', 'src is a list: write ["*"]', '"*", "dst"'),
        (
            '{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"], "srcPosture": ["posture:x"]}]}',
            "device posture cannot be checked here",
            '"srcPosture"',
        ),
        ('{"defaultSrcPosture": []}', "remove defaultSrcPosture", '"defaultSrcPosture"'),
        (
            '{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"], "users": ["*"]}]}',
            "write 'src' or the legacy 'users', not both",
            '["*"]}',
        ),
        ('{"tagOwners": {"tag:a": ["tag:b"]}}', "tag:b has no owner", '"tag:b"'),
        ('{"tests": [{"src": "*", "accept": ["*:22"]}]}', "a test names one source or destination, not *", '"*"'),
        (
            '{"tests": [{"src": "' + ALICE + '", "accept": ["10.0.0.1:20-22"]}]}',
            "a test names one port",
            '"10.0.0.1:20-22"',
        ),
        ('{"acls": [}', "unexpected '}'", "}"),
        # Policies Tailscale and Headscale refuse, which were accepted here once.
        *(
            (
                '{"tagOwners": {"tag:web": ["' + ALICE + '"]}, "hosts": {"gw": "100.64.0.1"},\n'
                '"acls": [{"action": "accept", "src": ["' + source + '"], "dst": ["autogroup:self:*"]}]}',
                "autogroup:self can only be used with users, groups, or supported autogroups",
                '"' + source + '"',
            )
            for source in ("tag:web", "autogroup:tagged", "gw", "100.64.0.9", "100.64.0.0/24", "fd7a:7670:6e00::1")
        ),
        (
            '{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"], "proto": "0"}]}',
            "leading 0 not permitted in protocol number '0'",
            '"0"',
        ),
        (
            '{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"], "proto": "06"}]}',
            "leading 0 not permitted in protocol number '06'",
            '"06"',
        ),
        (
            '{"acls": [{"action": "accept", "src": ["*"], "dst": ["[100.64.0.1]:22"]}]}',
            "brackets are for an IPv6 address only: write 100.64.0.1:22",
            '"[100.64.0.1]:22"',
        ),
        (
            '{"acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self"]}]}',
            "destination 'autogroup:self': missing port: write autogroup:self:* for any port",
            '"autogroup:self"',
        ),
    ],
)
def test_each_mistake_is_reported_where_it_is_with_the_fix(text, message, at):
    """`at`: what the file says where the error points."""
    error = _error(text)
    assert message in error.message, error.message
    assert text.split("\n")[error.line - 1][error.column - 1 :].startswith(at), str(error)


@pytest.mark.parametrize("source", ["*", ALICE, "group:eng", "autogroup:member"])
def test_autogroup_self_serves_sources_that_have_users(source):
    text = policy(groups={"group:eng": [ALICE]}, acls=[rule([source], ["autogroup:self:*"])])
    assert parse_policy(text).rules[0].destinations[0].alias.kind == "self"
