"""The scenarios of Tailscale's ACL documentation and its sample policies, retold with wallets for users and
our own addresses, behave as the documentation says they do."""

from tests.acl.world import ALICE, BOB, CAROL, ICMP, TCP, UDP, World


def accept(src, dst, **extra):
    return {"action": "accept", "src": src, "dst": dst, **extra}


def test_allow_all_is_the_default_policy_of_a_new_tailnet():
    world = World(acls=[accept(["*"], ["*:*"])])
    for src, dst in (("alice-laptop", "bob-laptop"), ("web", "db"), ("db", "alice-phone")):
        assert (
            world.allows(src, dst, TCP, 8080) and world.allows(src, dst, UDP, 53) and world.allows(src, dst, ICMP, None)
        )


def test_deny_all_is_an_empty_rule_list():
    world = World(acls=[])
    assert not world.allows("alice-laptop", "alice-phone") and not world.allows("web", "db", ICMP, None)


def test_users_reach_their_own_devices():
    world = World(acls=[accept(["autogroup:member"], ["autogroup:self:*"])])
    assert world.allows("alice-laptop", "alice-phone", TCP, 3389)
    assert not world.allows("alice-laptop", "bob-laptop", TCP, 3389)


def test_everyone_reaches_a_shared_resource_through_a_hosts_name():
    world = World(hosts={"printer": "100.64.0.12"}, acls=[accept(["autogroup:member"], ["printer:631"])])
    assert world.allows("alice-laptop", "carol-box", TCP, 631) and world.allows("bob-laptop", "carol-box", TCP, 631)
    assert not world.allows("alice-laptop", "carol-box", TCP, 22)
    assert not world.allows("web", "carol-box", TCP, 631)  # a tagged server is no member's device


def test_purpose_based_access_with_tags():
    """Production servers talk to the database; engineers (a group) reach the servers over SSH only."""
    world = World(
        groups={"group:eng": [ALICE, BOB], "group:ops": [BOB]},
        tagOwners={"tag:web": [ALICE], "tag:db": ["group:ops"]},
        acls=[accept(["tag:web"], ["tag:db:5432"]), accept(["group:eng"], ["tag:web:22", "tag:db:22"])],
    )
    assert world.allows("web", "db", TCP, 5432) and not world.allows("db", "web", TCP, 5432)
    assert world.allows("alice-laptop", "web", TCP, 22) and world.allows("bob-laptop", "db", TCP, 22)
    assert not world.allows("alice-laptop", "db", TCP, 5432)
    assert not world.allows("carol-box", "web", TCP, 22)  # carol is no engineer


def test_group_based_access_to_subnets():
    world = World(
        groups={"group:finance": [CAROL], "group:ops": [BOB]},
        hosts={"accounts-net": "10.20.0.0/16"},
        acls=[accept(["group:finance"], ["accounts-net:443"]), accept([ALICE], ["10.30.0.0/16:*"])],
    )
    assert world.allows("carol-box", "10.20.4.5", TCP, 443) and not world.allows("bob-laptop", "10.20.4.5", TCP, 443)
    assert world.allows("alice-laptop", "10.30.1.1", UDP, 161) and not world.allows(
        "alice-laptop", "10.31.1.1", UDP, 161
    )


def test_protocol_restricted_rules():
    """A DNS rule for UDP only, and ICMP for monitoring from one host."""
    world = World(
        hosts={"monitor": "100.64.0.3", "dns": "100.64.0.11"},
        acls=[accept(["autogroup:member"], ["dns:53"], proto="udp"), accept(["monitor"], ["*:*"], proto="icmp")],
    )
    assert world.allows("alice-laptop", "db", UDP, 53) and not world.allows("alice-laptop", "db", TCP, 53)
    assert world.allows("bob-laptop", "web", ICMP, None) and not world.allows("alice-laptop", "web", ICMP, None)


def test_tests_guard_a_policy_against_regressions():
    import json

    from octravpn.acl import Resolver, parse_policy, run_tests
    from tests.acl.world import network

    text = json.dumps(
        {
            "groups": {"group:ops": [BOB]},
            "tagOwners": {"tag:db": ["group:ops"]},
            "acls": [accept(["group:ops"], ["tag:db:22,5432"])],
            "tests": [
                {"src": BOB, "accept": ["tag:db:22", "tag:db:5432"], "deny": ["tag:db:80"]},
                {"src": ALICE, "deny": ["tag:db:22"]},
            ],
        }
    )
    policy = parse_policy(text)
    assert run_tests(Resolver(policy, network(policy=policy))) == []
    broken = parse_policy(text.replace('"tag:db:22,5432"', '"tag:db:*"'))  # someone opens every port
    failures = run_tests(Resolver(broken, network(policy=broken)))
    assert [f.message for f in failures] == [
        f"{BOB} -> tag:db:80 is allowed by acls[0] (line 1), but the test expects it denied"
    ]
