"""Every failure is one line on stderr, a non-zero exit code, and changes nothing."""

from octravpn.chain.client import open_client
from octravpn.config import load


def _chain():
    return open_client(load().network())


def test_wrong_password(cli):
    bad = cli.home / "bad-password"
    bad.write_text("not the passphrase\n")
    line = cli.fails(4, "--password-file", str(bad), "-w", "bob", "operator", "bond", "1")
    assert line == "error: wrong passphrase for wallet 'bob'"


def test_missing_password_without_terminal(cli, monkeypatch):
    monkeypatch.delenv("OCTRAVPN_PASSWORD")
    assert "no passphrase: use --password-file FILE or set OCTRAVPN_PASSWORD" in cli.fails(
        4, "-w", "bob", "operator", "bond", "1"
    )


def test_unknown_wallet(cli):
    assert "unknown wallet 'nobody'" in cli.fails(4, "-w", "nobody", "operator", "bond", "1")


def test_insufficient_funds_changes_nothing(cli):
    chain = _chain()
    bob = cli.json("wallet", "show", "bob")["address"]
    before = chain.stake(bob)
    assert "cannot pay for this transaction" in cli.fails(5, "-w", "bob", "operator", "bond", "100000")
    assert chain.stake(bob) == before


def test_unreachable_rpc(cli):
    cli.json(
        "network",
        "add",
        "dead",
        "--rpc-url",
        "http://127.0.0.1:9",
        "--chain-id",
        "31337",
        "--contract",
        "0x" + "11" * 20,
    )
    assert "cannot reach the RPC at http://127.0.0.1:9" in cli.fails(5, "-n", "dead", "gov", "params")


def test_wrong_chain_id(cli):
    network = load().network("devnet")
    cli.json(
        "network", "add", "wrongchain", "--rpc-url", network.rpc_url, "--chain-id", "1", "--contract", network.contract
    )
    assert "serves chain 31337, but network 'wrongchain' expects chain 1" in cli.fails(
        5, "-n", "wrongchain", "gov", "params"
    )


def test_contract_not_deployed(cli):
    network = load().network("devnet")
    cli.json(
        "network", "add", "empty", "--rpc-url", network.rpc_url, "--chain-id", "31337", "--contract", "0x" + "22" * 20
    )
    assert "no OctraVPN contract at 0x2222" in cli.fails(5, "-n", "empty", "gov", "params")


def test_reverts_are_decoded_and_change_nothing(cli):
    chain = _chain()
    count = len(chain.opened_sessions())
    (cli.home / "acl.json").write_text("{}")
    cli.json("-w", "alice", "tailnet", "create", "--deposit", "0.1", "--acl", str(cli.home / "acl.json"))
    cases = [
        (
            ("-w", "bob", "session", "open", "--tailnet", "999", "--exit", "operator", "--max-pay", "0.01"),
            "tailnet not found",
        ),
        (("-w", "bob", "session", "claim", "999", "1"), "session not found"),
        (("-w", "bob", "tailnet", "add-member", "0", "alice"), "not tailnet owner"),
        (("-w", "bob", "gov", "pause"), "not owner"),
        (("-w", "bob", "operator", "retire"), "not registered"),
        (("-w", "bob", "operator", "finalize-unbond"), "no unbonding"),
        (("-w", "bob", "slash", "bob", "--reason", "no stake", "--yes"), "not owner"),
        (("-w", "bob", "device", "revoke", "alice"), "not device owner"),
        (
            ("-w", "bob", "tailnet", "create", "--deposit", "0.0001", "--acl", str(cli.home / "acl.json")),
            "tailnet deposit below min",
        ),
    ]
    for args, reason in cases:
        assert cli.fails(6, *args).endswith(f"reverted: {reason}"), args
    assert len(chain.opened_sessions()) == count


def test_bad_input(cli):
    assert "is not a number" in cli.fails(2, "-w", "bob", "operator", "bond", "lots")
    assert "more than 18 decimal places" in cli.fails(2, "-w", "bob", "operator", "bond", "0.0000000000000000001")
    assert "is not base64" in cli.fails(2, "-w", "operator", "operator", "rotate-keys", "--wg-pubkey", "%%%")
    assert "not an OctraVPN invite" in cli.fails(2, "-w", "bob", "tailnet", "join", "tskey-nope")
    assert "No such command" in cli.fails(2, "frobnicate")
    assert "neither an address nor a local wallet" in cli.fails(2, "-w", "bob", "tailnet", "add-member", "0", "ghost")
