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


def test_publish_and_fetch_through_indexers_checked_against_the_chain(cli):
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import httpx

    from octravpn.chain.devnet import free_port
    from tests.cli.test_indexer_cli import RunningIndexer

    path = _write(cli, "published.hujson", POLICY)
    tid = cli.json("-w", "alice", "tailnet", "create", "--deposit", "0.1", "--acl", path)["id"]
    indexer = RunningIndexer(cli.home)
    dead = f"http://127.0.0.1:{free_port()}"

    class Forger(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802  (http.server's name)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}')

        def log_message(self, *args):
            pass

    forger = HTTPServer(("127.0.0.1", 0), Forger)
    threading.Thread(target=forger.serve_forever, daemon=True).start()
    forged = f"http://127.0.0.1:{forger.server_address[1]}"
    try:
        indexer.wait_for(lambda: httpx.get(f"{indexer.url}/v1/tailnets/{tid}").status_code == 200, "index the tailnet")
        line = cli.fails(5, "acl", "fetch", str(tid), "--indexer", dead, "--indexer", forged, "--indexer", indexer.url)
        assert f"no indexer has tailnet {tid}'s policy" in line
        assert f"{dead}: unreachable" in line and f"{forged}: sent a document whose hash is not the chain's" in line
        assert f"{indexer.url}: does not have it" in line and f"octravpn acl publish {tid} FILE" in line

        other = _write(cli, "other.hujson", '{"acls": []}')
        assert "publish its hash first" in cli.fails(2, "acl", "publish", str(tid), other, "--indexer", indexer.url)
        (stored,) = cli.json("acl", "publish", str(tid), path, "--indexer", indexer.url)
        assert stored == {"indexer": indexer.url, "result": "stored"}
        out = cli.home / "fetched.hujson"
        fetched = cli.json(
            "acl", "fetch", str(tid), "--indexer", dead, "--indexer", forged, "--indexer", indexer.url, "-o", str(out)
        )
        assert out.read_text() == POLICY and fetched["size"] == len(POLICY.encode())
        assert "no indexer stored" in cli.fails(5, "acl", "publish", str(tid), path, "--indexer", dead)
    finally:
        forger.shutdown()
        assert indexer.stop() == 0


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
    assert untagged["entries"] == [] and untagged["peers"] == {}  # bob's wallet asks for no tag: nothing reaches it
    tagged = cli.json("acl", "filter", policy, "--tailnet", str(tid), "--device", "bob", "--tag", "bob=tag:db")
    (entry,) = tagged["entries"]
    assert entry["from"] == [f"{addresses[alice.lower()][0]}/32", f"{addresses[alice.lower()][1]}/128"]
    assert entry["to"] == [str(a) for a in addresses[bob.lower()]] and entry["protocols"] == [6]
    assert entry["ports"] == ["5432"] and tagged["peers"] == {alice.lower(): str(addresses[alice.lower()][0])}
    ruleset = cli(
        "acl", "filter", policy, "--tailnet", str(tid), "--device", "bob", "--tag", "bob=tag:db", "--nft", "om0"
    ).out
    assert "tcp dport { 5432 } accept" in ruleset and ruleset.startswith("table inet octravpn_acl_om0")
    assert "no device of tailnet" in cli.fails(
        2, "acl", "filter", policy, "--tailnet", str(tid), "--device", "0x" + "77" * 20
    )
    assert "write KEY=tag:NAME" in cli.fails(
        2, "acl", "filter", policy, "--tailnet", str(tid), "--device", "bob", "--tag", "bob=db"
    )
