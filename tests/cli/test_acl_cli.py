"""`octravpn acl` and the policy checks of `tailnet create --acl` and `set-acl`, on a devnet."""

import json

from eth_hash.auto import keccak

from octravpn.chain.client import open_client
from octravpn.config import load

BOB = "0x" + "b2" * 20
POLICY = """{
  // Bob runs the databases.
  "groups": {"group:ops": ["%s"]},
  "tagOwners": {"tag:db": ["group:ops"]},
  "acls": [
    {"action": "accept", "src": ["group:ops"], "dst": ["tag:db:5432"]},
  ],
  "tests": [
    {"src": "%s", "accept": ["tag:db:5432"], "deny": ["tag:db:22"]},
  ],
}
""" % (BOB, BOB)  # noqa: UP031  (a JSON template: braces read better unescaped)
FAILING = POLICY.replace('"accept": ["tag:db:5432"], "deny": ["tag:db:22"]', '"deny": ["tag:db:5432"]')


def _write(cli, name: str, policy) -> str:
    path = cli.home / name
    path.write_text(policy if isinstance(policy, str) else json.dumps(policy, indent=1))
    return str(path)


def test_check_reports_what_a_policy_holds(cli):
    path = _write(cli, "good.hujson", POLICY.replace('  "acls"', '  "ssh": [],\n  "acls"'))
    checked = cli.json("acl", "check", path)
    assert (checked["rules"], checked["tests"], checked["tags"], checked["tests_failed"]) == (1, 1, ["tag:db"], [])
    assert checked["warnings"] == ["line 5: ssh rules are not enforced here (there is no Tailscale SSH)"]


def test_check_fails_with_the_failing_tests_or_the_first_mistake(cli):
    failing = _write(cli, "failing.hujson", FAILING)
    result = cli("--json", "acl", "check", failing)
    assert result.code == 2 and result.err.strip() == "error: 1 of the policy's test assertions fail (listed above)"
    assert json.loads(result.out)["tests_failed"] == [
        f"line 9: {BOB} -> tag:db:5432 is allowed by acls[0] (line 6), but the test expects it denied"
    ]
    broken = _write(cli, "broken.hujson", '{"acls": [{"action": "accept", "src": ["group:x"], "dst": ["*:*"]}]}')
    assert cli.fails(2, "acl", "check", broken) == (
        f"error: {broken}:1:40: unknown group 'group:x': define it under \"groups\""
    )


def test_check_against_a_tailnets_members(cli):
    acl = _write(cli, "acl.json", {"acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["*:*"]}]})
    tid = cli.json("-w", "alice", "tailnet", "create", "--deposit", "0.1", "--acl", acl)["id"]
    path = _write(cli, "members.hujson", POLICY)
    checked = cli.json("acl", "check", path, "--tailnet", str(tid))
    assert checked["warnings"] == [f"{BOB} is not a member of tailnet {tid}: what names it matches nobody"]


def test_explain_names_the_rule_or_says_denied(cli):
    path = _write(cli, "explain.hujson", POLICY)
    (allowed,) = cli.json("acl", "explain", path, "--src", BOB, "--dst", "tag:db:5432")
    assert allowed["allowed"] and allowed["why"] == "allowed by acls[0] (line 6)"
    (denied,) = cli.json("acl", "explain", path, "--src", BOB, "--dst", "tag:db:22", "--proto", "udp")
    assert not denied["allowed"] and denied["why"] == "denied: no rule allows it"
    assert "unknown alias 'nobody'" in cli.fails(2, "acl", "explain", path, "--src", "nobody", "--dst", "tag:db:1")
    assert "write a destination and one port" in cli.fails(2, "acl", "explain", path, "--src", BOB, "--dst", "tag:db")


def test_tailnet_create_and_set_acl_refuse_a_bad_policy_before_sending_anything(cli):
    chain = open_client(load().network())
    count = chain.tailnet_count()
    broken = _write(cli, "bad.hujson", '{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:99999"]}]}')
    line = cli.fails(2, "-w", "alice", "tailnet", "create", "--deposit", "0.1", "--acl", broken)
    assert "ports are 1-65535" in line and line.endswith("(nothing was sent; --force publishes it anyway)")
    failing = _write(cli, "failing2.hujson", FAILING)
    assert "1 of its tests fail, first line 9" in cli.fails(
        2, "-w", "alice", "tailnet", "create", "--deposit", "0.1", "--acl", failing
    )
    assert chain.tailnet_count() == count
    forced = cli.json("-w", "alice", "tailnet", "create", "--deposit", "0.1", "--acl", broken, "--force")
    assert chain.tailnet(forced["id"]).acl_policy == keccak(open(broken, "rb").read())
    assert "nothing was sent" in cli.fails(2, "-w", "alice", "tailnet", "set-acl", str(forced["id"]), failing)
    good = _write(cli, "good2.hujson", POLICY)
    cli.json("-w", "alice", "tailnet", "set-acl", str(forced["id"]), good)
    assert chain.tailnet(forced["id"]).acl_policy == keccak(open(good, "rb").read())


def test_the_policy_goes_on_chain_and_fetch_reads_it_back(cli):
    path = _write(cli, "published.hujson", POLICY)
    tid = cli.json("-w", "alice", "tailnet", "create", "--deposit", "0.1", "--acl", path)["id"]
    out = cli.home / "fetched.hujson"
    fetched = cli.json("acl", "fetch", str(tid), "-o", str(out))
    assert out.read_text() == POLICY and fetched["size"] == len(POLICY.encode())
    assert fetched["acl_hash"] == "0x" + keccak(POLICY.encode()).hex()
    assert cli("acl", "fetch", str(tid)).out == POLICY
    assert "has no policy on chain" in cli.fails(2, "acl", "fetch", "999")
    large = _write(cli, "large.hujson", '{"acls": [], "hosts": {"h": "' + "x" * 17_000 + '"}}')
    line = cli.fails(2, "-w", "alice", "tailnet", "set-acl", str(tid), large, "--force")
    assert "the contract takes at most 16,384" in line


def test_tags_are_granted_on_chain_by_a_tag_owner_checked_before_sending(cli):
    alice, bob = (cli.json("wallet", "show", name)["address"] for name in ("alice", "bob"))
    policy = _write(
        cli,
        "tagged.hujson",
        json.dumps(
            {"tagOwners": {"tag:db": [bob]}, "acls": [{"action": "accept", "src": [alice], "dst": ["tag:db:*"]}]}
        ),
    )
    tid = cli.json("-w", "alice", "tailnet", "create", "--deposit", "0.1", "--acl", policy)["id"]
    cli.json("-w", "alice", "tailnet", "add-member", str(tid), "bob")
    line = cli.fails(2, "-w", "alice", "tailnet", "tag", str(tid), "bob", "tag:db")
    assert f"{alice.lower()} may not apply or remove tag:db" in line and line.endswith("nothing was sent")
    granted = cli.json("-w", "bob", "tailnet", "tag", str(tid), "bob", "tag:db")
    assert granted["tags"] == ["tag:db"] and granted["device"] == bob.lower()
    assert "not on tailnet" in cli.fails(2, "-w", "bob", "tailnet", "tag", str(tid), "0x" + "77" * 20, "tag:db")
    assert "may not apply or remove tag:db" in cli.fails(2, "-w", "alice", "tailnet", "tag", str(tid), "bob")


def test_filter_compiles_for_a_device_of_a_tailnet_on_chain(cli):
    from octravpn.mesh.addresses import assign_addresses
    from octravpn.mesh.roster import roster

    alice, bob = (cli.json("wallet", "show", name)["address"] for name in ("alice", "bob"))
    policy = _write(
        cli,
        "servers.hujson",
        json.dumps(
            {
                "tagOwners": {"tag:db": [bob]},
                "acls": [{"action": "accept", "src": [alice], "dst": ["tag:db:5432"], "proto": "tcp"}],
            }
        ),
    )
    tid = cli.json("-w", "alice", "tailnet", "create", "--deposit", "0.1", "--acl", policy)["id"]
    cli.json("-w", "alice", "tailnet", "add-member", str(tid), "bob")
    chain = open_client(load().network())
    keys = roster(chain.events(), tid).keys
    assert [key for key, _ in keys] == [alice.lower(), bob.lower()]
    addresses = assign_addresses(tid, [key for key, _ in keys])

    untagged = cli.json("acl", "filter", policy, "--tailnet", str(tid), "--device", "bob")
    assert untagged["entries"] == [] and untagged["peers"] == {}  # bob's wallet carries no tag: nothing reaches it
    cli.json("-w", "bob", "tailnet", "tag", str(tid), "bob", "tag:db")  # bob owns tag:db: the grant holds
    tagged = cli.json("acl", "filter", policy, "--tailnet", str(tid), "--device", "bob")
    (entry,) = tagged["entries"]
    assert entry["from"] == [f"{addresses[alice.lower()][0]}/32", f"{addresses[alice.lower()][1]}/128"]
    assert entry["to"] == [str(a) for a in addresses[bob.lower()]] and entry["protocols"] == [6]
    assert entry["ports"] == ["5432"] and tagged["peers"] == {alice.lower(): str(addresses[alice.lower()][0])}
    ruleset = cli("acl", "filter", policy, "--tailnet", str(tid), "--device", "bob", "--nft", "om0").out
    assert "tcp dport { 5432 } accept" in ruleset and ruleset.startswith("table inet octravpn_acl_om0")
    assert "no device of tailnet" in cli.fails(
        2, "acl", "filter", policy, "--tailnet", str(tid), "--device", "0x" + "77" * 20
    )
