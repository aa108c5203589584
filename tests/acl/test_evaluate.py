"""Deciding packets with Tailscale's semantics: every alias kind, port form and protocol, tags and their owners,
autogroup:self, and a policy's own tests."""

import json

import pytest

from octravpn.acl import Resolver, parse_policy, run_tests
from octravpn.acl.tags import applicable
from tests.acl.world import ALICE, BOB, CAROL, GRE, ICMP, ICMPV6, TCP, UDP, World, key, network


def accept(src, dst, **extra):
    return {"action": "accept", "src": src, "dst": dst, **extra}


def test_default_deny_and_the_union_of_rules():
    world = World(acls=[accept([ALICE], ["tag:web:80"]), accept([ALICE], ["tag:web:443"])])
    assert world.allows("alice-laptop", "web", port=80) and world.allows("alice-laptop", "web", port=443)
    assert not world.allows("alice-laptop", "web", port=22)
    assert not World(acls=[]).allows("alice-laptop", "bob-laptop")


def test_a_user_is_every_untagged_device_of_that_wallet_in_any_letter_case():
    world = World(acls=[accept([ALICE.upper().replace("0X", "0x")], [f"{BOB}:22"])])
    assert world.allows("alice-laptop", "bob-laptop") and world.allows("alice-phone", "bob-laptop")
    assert not world.allows("web", "bob-laptop")  # alice's tagged server is no longer alice's
    assert not world.allows("bob-laptop", "alice-laptop")  # rules have a direction


def test_groups():
    world = World(groups={"group:ops": [BOB], "group:all": [ALICE, BOB]}, acls=[accept(["group:all"], ["group:ops:*"])])
    assert world.allows("alice-laptop", "bob-laptop") and not world.allows("bob-laptop", "alice-laptop")
    assert not world.allows("db", "bob-laptop")  # bob's tagged db leaves his groups


def test_a_tag_applies_only_where_its_owner_may_apply_it():
    world = World(acls=[accept(["tag:web"], ["tag:db:5432"])])
    assert world.allows("web", "db", port=5432)  # alice owns tag:web; bob, in group:ops, owns tag:db
    assert not world.allows("carol-box", "db", port=5432)  # carol asked for tag:web but may not apply it
    world = World(acls=[accept([CAROL], [f"{CAROL}:*"])])
    assert world.allows("carol-box", "carol-box")  # so her box stays hers


def test_tags_can_own_tags():
    world = World(tagOwners={"tag:web": [ALICE], "tag:db": ["tag:web"]}, acls=[accept(["tag:db"], ["*:*"])])
    assert applicable(world.policy, ALICE, frozenset({"tag:web", "tag:db"})) == {"tag:web", "tag:db"}
    assert applicable(world.policy, ALICE, frozenset({"tag:db"})) == frozenset()  # tag:db needs tag:web applied too
    assert applicable(world.policy, ALICE, frozenset({"tag:db"}), frozenset({"tag:web"})) == {"tag:db"}


def test_autogroup_member_and_tagged():
    world = World(acls=[accept(["autogroup:member"], ["autogroup:tagged:80"])])
    assert world.allows("alice-laptop", "web", port=80) and world.allows("bob-laptop", "db", port=80)
    assert not world.allows("web", "db", port=80)  # tagged devices are not members' devices
    assert not world.allows("alice-laptop", "bob-laptop", port=80)


def test_autogroup_member_counts_only_members():
    world = World(acls=[accept(["autogroup:member"], ["*:*"])])
    world.resolver = Resolver(world.policy, network(members=(ALICE, BOB), policy=world.policy))  # carol was removed
    assert world.allows("alice-laptop", "bob-laptop") and not world.allows("carol-box", "bob-laptop")


def test_autogroup_self_is_each_users_own_untagged_devices():
    world = World(acls=[accept(["autogroup:member"], ["autogroup:self:*"])])
    assert world.allows("alice-laptop", "alice-phone") and world.allows("alice-phone", "alice-laptop")
    assert not world.allows("alice-laptop", "bob-laptop")
    assert not world.allows("alice-laptop", "web")  # her tagged server is not hers any more
    assert not world.allows("web", "alice-laptop")


def test_star_source_is_the_tailnet_and_star_destination_is_anywhere():
    world = World(acls=[accept(["*"], ["*:443"])])
    assert world.allows("alice-laptop", "db", port=443) and world.allows("web", "8.8.8.8", port=443)
    assert world.allows("100.64.7.7", "bob-laptop", port=443)  # a tailnet address, even with no device yet
    assert not world.allows("192.0.2.1", "bob-laptop", port=443)  # the internet is not the tailnet


def test_hosts_and_cidrs_each_family_only_its_own():
    world = World(
        hosts={"laptop": "100.64.0.1", "ula": "fd7a:7670:6e00::/120"},
        acls=[accept(["laptop"], ["10.0.0.0/8:53", "ula:22"])],
    )
    assert world.allows("alice-laptop", "10.1.2.3", protocol=UDP, port=53)
    assert not world.allows("alice-laptop", "bob-laptop", version=4)  # the ula range is IPv6 only
    assert not world.allows("alice-laptop", "bob-laptop", version=6)  # the host is alice's IPv4 address only
    world = World(
        hosts={"laptop6": "fd7a:7670:6e00::1", "ula6": "fd7a:7670:6e00::/120"}, acls=[accept(["laptop6"], ["ula6:22"])]
    )
    assert world.allows("alice-laptop", "bob-laptop", version=6)
    assert not world.allows("alice-laptop", "bob-laptop", version=4)


@pytest.mark.parametrize(
    "ports, port, allowed",
    [
        ("*", 1, True),
        ("*", 65535, True),
        ("22", 22, True),
        ("22", 23, False),
        ("80,443", 443, True),
        ("80,443", 444, False),
        ("8000-8099", 8050, True),
        ("8000-8099", 8100, False),
        ("22,8000-8099", 22, True),
    ],
)
def test_port_forms(ports, port, allowed):
    assert World(acls=[accept(["*"], [f"*:{ports}"])]).allows("alice-laptop", "bob-laptop", port=port) is allowed


def test_default_protocols_are_tcp_udp_and_both_icmps():
    world = World(acls=[accept(["*"], ["*:22"])])
    assert world.allows("alice-laptop", "bob-laptop", TCP, 22) and world.allows("alice-laptop", "bob-laptop", UDP, 22)
    assert world.allows("alice-laptop", "bob-laptop", ICMP, None)  # ICMP matches by address, as Tailscale does
    assert world.allows("alice-laptop", "bob-laptop", ICMPV6, None, version=6)
    assert not world.allows("alice-laptop", "bob-laptop", GRE, None)  # anything else only when named
    assert not world.allows("alice-laptop", "bob-laptop", 132, 22)  # sctp too


def test_a_named_protocol_is_the_only_one():
    world = World(acls=[accept(["*"], ["*:*"], proto="gre"), accept(["*"], ["*:5000"], proto="udp")])
    assert world.allows("alice-laptop", "bob-laptop", GRE, None)
    assert world.allows("alice-laptop", "bob-laptop", UDP, 5000) and not world.allows(
        "alice-laptop", "bob-laptop", TCP, 5000
    )
    assert not world.allows("alice-laptop", "bob-laptop", ICMP, None)


def test_decisions_name_the_rule():
    world = World(acls=[accept([BOB], ["*:80"]), accept([ALICE], ["*:22"])])
    from octravpn.acl import decide_packet
    from tests.acl.world import address

    decision = decide_packet(world.resolver, address("alice-laptop"), address("bob-laptop"), TCP, 22)
    assert decision.allowed and decision.rule.index == 1 and decision.describe() == "allowed by acls[1] (line 1)"


def _tests_result(tests, acls):
    policy = parse_policy(
        json.dumps(
            {
                "groups": {"group:ops": [BOB]},
                "tagOwners": {"tag:db": ["group:ops"]},
                "hosts": {"db-host": "100.64.0.11"},
                "acls": acls,
                "tests": tests,
            },
            indent=1,
        )
    )
    return run_tests(Resolver(policy, network(policy=policy)))


def test_policy_tests_that_pass():
    acls = [accept(["group:ops"], ["tag:db:5432"]), accept([ALICE], ["db-host:22"])]
    assert (
        _tests_result(
            [
                {"src": BOB, "accept": ["tag:db:5432"], "deny": ["tag:db:22"]},
                {"src": "group:ops", "accept": ["tag:db:5432"]},
                {"src": ALICE, "accept": ["db-host:22", "100.64.0.11:22"], "deny": ["tag:db:5432"]},
                {"src": "100.64.0.3", "accept": ["tag:db:5432"], "proto": "tcp"},  # bob's laptop, by address
            ],
            acls,
        )
        == []
    )


def test_policy_tests_that_fail_say_which_and_why():
    failures = _tests_result(
        [{"src": ALICE, "accept": ["tag:db:5432"], "deny": ["db-host:22"]}], [accept(["*"], ["db-host:22"])]
    )
    assert [str(f) for f in failures] == [
        f"line 27: {ALICE} -> tag:db:5432 is denied, but the test expects it allowed",
        f"line 27: {ALICE} -> db-host:22 is allowed by acls[0] (line 16), but the test expects it denied",
    ]


def test_a_group_test_holds_for_every_member():
    failures = _tests_result([{"src": "group:ops", "deny": ["tag:db:5432"]}], [accept([BOB], ["tag:db:5432"])])
    assert len(failures) == 1 and f"group:ops ({BOB})" in str(failures[0])


def test_compiled_peers_are_who_it_may_reach_or_be_reached_by():
    from octravpn.acl import compile_device

    world = World(acls=[accept(["tag:web"], ["tag:db:5432"]), accept(["autogroup:member"], ["autogroup:self:*"])])
    assert compile_device(world.resolver, key("db")).peers == {key("web")}
    assert compile_device(world.resolver, key("web")).peers == {key("db")}
    assert compile_device(world.resolver, key("alice-laptop")).peers == {key("alice-phone")}
    assert compile_device(world.resolver, key("bob-laptop")).peers == frozenset()


def test_a_member_test_without_a_tailnet_stands_for_a_member_in_no_group():
    policy = parse_policy(
        json.dumps(
            {
                "groups": {"group:ops": [BOB]},
                "acls": [accept(["autogroup:member"], ["10.0.0.1:22"])],
                "tests": [{"src": "autogroup:member", "accept": ["10.0.0.1:22"], "deny": ["10.0.0.1:80"]}],
            }
        )
    )
    assert run_tests(Resolver(policy)) == []
    closed = parse_policy(
        json.dumps(
            {
                "groups": {"group:ops": [BOB]},
                "acls": [accept(["group:ops"], ["10.0.0.1:22"])],
                "tests": [{"src": "autogroup:member", "accept": ["10.0.0.1:22"]}],
            }
        )
    )
    assert len(run_tests(Resolver(closed))) == 1  # not every member may: the test catches it
