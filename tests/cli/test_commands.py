"""Every command group against a real devnet, checked against chain state.

The tests share one devnet and build on each other in file order, like a user's
session (the operator registered first serves the tailnets after); the suite
keeps a file on one worker (`--dist loadfile`).
"""

import base64
import json
import re

import pytest
from eth_hash.auto import keccak

from octravpn.chain.client import open_client
from octravpn.config import load
from octravpn.units import format_amount

WG_KEY = base64.b64encode(bytes(range(32))).decode()
ETHER = 10**18
WHEN = r"at \d{4}-\d\d-\d\d \d\d:\d\d UTC \(in (\d+[dhms] ?){1,2}\)"


def _chain(cli):
    return open_client(load().network())


def _register_operator(cli, name="operator", receipts="operator-receipts", stake="1.5"):
    cli.json("-w", name, "operator", "bond", stake)
    return cli.json(
        "-w",
        name,
        "operator",
        "register",
        "--endpoint",
        "127.0.0.1:51820",
        "--wg-pubkey",
        WG_KEY,
        "--region",
        "local",
        "--price",
        "0.000002",
        "--receipt-wallet",
        receipts,
    )


def test_network_and_wallet_commands(cli):
    networks = cli.json("network", "list")
    assert [n["name"] for n in networks] == ["devnet"] and networks[0]["default"]
    wallets = {w["name"]: w["address"] for w in cli.json("wallet", "list")}
    assert {"owner", "operator", "operator-receipts", "alice", "bob"} <= set(wallets)
    assert cli.json("wallet", "show", "bob")["address"] == wallets["bob"]
    balance = cli.json("wallet", "balance", "bob")
    assert balance["native"]["base_units"] == _chain(cli).w3.eth.get_balance(wallets["bob"]) > 0

    created = cli.json("wallet", "create", "carol")
    assert created["address"] == cli.json("wallet", "show", "carol")["address"]
    assert cli.json("wallet", "balance", "carol")["native"]["base_units"] == 0
    _chain(cli).w3.provider.make_request("anvil_setBalance", [created["address"], hex(10 * ETHER)])
    key_file = cli.home / "key.txt"
    key_file.write_text("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318\n")
    imported = cli.json("wallet", "import", "dave", "--key-file", str(key_file))
    assert imported["address"] == "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"


def test_operator_lifecycle(cli):
    registered = _register_operator(cli)
    chain = _chain(cli)
    operator = registered["address"]
    record = chain.endpoint(operator)
    assert record.active and record.endpoint == "127.0.0.1:51820" and record.price_per_mb == 2 * 10**12
    assert record.receipt_signer == cli.json("wallet", "show", "operator-receipts")["address"]
    assert registered["stake"]["base_units"] == chain.stake(operator) == 15 * 10**17

    updated = cli.json("-w", "operator", "operator", "update", "--price", "0.000003")
    assert updated["price_per_mb"]["base_units"] == chain.endpoint(operator).price_per_mb == 3 * 10**12
    assert updated["region"] == "local"
    shown = cli.json("operator", "show", "operator")
    assert shown["stake"]["base_units"] == 15 * 10**17 and shown["active"]
    assert [e["address"] for e in cli.json("operator", "list", "--active")] == [operator]
    new_key = base64.b64encode(b"\x09" * 32).decode()
    cli.json("-w", "operator", "operator", "rotate-keys", "--wg-pubkey", new_key)
    assert chain.endpoint(operator).wg_pubkey == b"\x09" * 32


def test_tailnet_invite_session_and_earnings(cli):
    chain = _chain(cli)
    acl = cli.home / "acl.json"
    acl.write_text('{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}')
    created = cli.json("-w", "alice", "tailnet", "create", "--deposit", "0.5", "--acl", str(acl))
    tid = created["id"]
    assert chain.tailnet(tid).acl_policy == keccak(acl.read_bytes())
    assert chain.tailnet(tid).treasury == ETHER // 2 == created["treasury"]["base_units"]
    cli.json("-w", "alice", "tailnet", "add-exit", str(tid), "operator")
    cli.json("-w", "alice", "tailnet", "deposit", str(tid), "0.1")
    assert chain.tailnet(tid).treasury == 6 * ETHER // 10

    invite = cli.json("-w", "alice", "tailnet", "invite", str(tid), "--expires", "1h", "--uses", "1")
    joined = cli.json("-w", "bob", "tailnet", "join", invite["invite"])
    bob = joined["member"]
    assert chain.is_member(tid, bob)
    cli.fails(6, "-w", "carol", "tailnet", "join", invite["invite"])  # single use: spent
    spare = cli.json("-w", "alice", "tailnet", "invite", str(tid), "--expires", "1h", "--uses", "3")
    cli.json("-w", "alice", "tailnet", "revoke-invite", str(tid), spare["invite"])
    assert "token used up or revoked" in cli.fails(6, "-w", "carol", "tailnet", "join", spare["invite"])
    listed = {row["invite_key"]: row for row in cli.json("tailnet", "invites", str(tid))}
    assert (listed[invite["invite_key"]]["state"], listed[invite["invite_key"]]["uses_left"]) == ("used up", 0)
    assert (listed[spare["invite_key"]]["state"], listed[spare["invite_key"]]["max_uses"]) == ("revoked", 3)
    assert "no live token" in cli.fails(6, "-w", "alice", "tailnet", "revoke-invite", str(tid), spare["invite_key"])

    opened = cli.json("-w", "bob", "session", "open", "--tailnet", str(tid), "--exit", "operator", "--max-pay", "0.01")
    sid = opened["id"]
    assert chain.session(sid).deposit == 10**16 and opened["status"] == "open"
    cli.json("-w", "operator", "session", "claim", str(sid), "50000000")
    confirmed = cli.json("-w", "bob", "session", "confirm", str(sid), "50000000")
    assert confirmed["outcome"] == "settled" and chain.session(sid).status_name == "settled"
    price = chain.session(sid).price_per_mb
    assert confirmed["paid"]["base_units"] == 50_000_000 * price // 10**6

    earned = cli.json("earnings", "show", "operator")["earnings"]["base_units"]
    assert earned == chain.earnings(chain.receipt_signer_operator(chain.endpoint(opened["exit"]).receipt_signer))
    claimed = cli.json("-w", "operator", "earnings", "claim")
    assert claimed["claimed"]["base_units"] == earned and chain.earnings(opened["exit"]) == 0

    shown = cli.json("tailnet", "show", str(tid))
    assert set(shown["member_list"]) == {cli.json("wallet", "show", "alice")["address"], bob}
    assert shown["exit_list"] == [opened["exit"]]
    assert [s["id"] for s in cli.json("session", "list", "--tailnet", str(tid))] == [sid]
    assert cli.json("session", "show", str(sid))["exit_claim_bytes"] == 50_000_000

    policy = cli.home / "acl2.json"
    policy.write_text('{"acls": []}')
    cli.json("-w", "alice", "tailnet", "set-acl", str(tid), str(policy))
    assert chain.tailnet(tid).acl_policy == keccak(policy.read_bytes())
    orphan = cli.json("-w", "bob", "session", "open", "--tailnet", str(tid), "--exit", "operator", "--max-pay", "0.01")[
        "id"
    ]
    cli.fails(6, "-w", "alice", "session", "close", str(orphan))  # bob still acts for a member
    cli.json("-w", "alice", "tailnet", "remove-member", str(tid), bob)
    assert not chain.is_member(tid, bob)
    cli.fails(6, "-w", "bob", "session", "close", str(orphan))  # only the tailnet's owner closes
    closed = cli.json("-w", "alice", "session", "close", str(orphan))
    assert closed["settle_by"] == chain.session(orphan).settle_by and closed["status"] == "open"
    cli.json("-w", "alice", "tailnet", "withdraw", str(tid), "0.05")
    cli.json("-w", "alice", "tailnet", "remove-exit", str(tid), "operator")
    assert not chain.is_exit(tid, opened["exit"])
    assert tid in [t["id"] for t in cli.json("-w", "alice", "tailnet", "list", "--mine")]


def test_disputes_no_show_and_sweep(cli):
    chain = _chain(cli)
    tid = cli.json("-w", "bob", "tailnet", "create", "--deposit", "0.2", "--acl", str(cli.home / "acl.json"))["id"]
    cli.json("-w", "bob", "tailnet", "add-exit", str(tid), "operator")
    sid = cli.json("-w", "bob", "session", "open", "--tailnet", str(tid), "--exit", "operator", "--max-pay", "0.01")[
        "id"
    ]
    cli.json("-w", "operator", "session", "claim", str(sid), "900")
    disputed = cli.json("-w", "bob", "session", "confirm", str(sid), "700")
    assert disputed["outcome"] == "disputed" and chain.client_confirm(sid).bytes_used == 700
    shown = cli.json("session", "show", str(sid))
    assert shown["next_step"].startswith("disputed: the exit claimed 900 bytes and the opener confirmed 700")
    assert f"session no-show {sid}" in shown["next_step"] and re.fullmatch(WHEN, shown["settle_by"])
    line = cli.fails(6, "session", "no-show", str(sid))
    assert re.fullmatch(r"error: claim_no_show reverted: grace not elapsed: possible " + WHEN, line), line
    chain.w3.provider.make_request("evm_increaseTime", [86_400])
    chain.w3.provider.make_request("evm_mine", [])
    assert cli.json("session", "no-show", str(sid))["status"] == "refunded"

    sid2 = cli.json("-w", "bob", "session", "open", "--tailnet", str(tid), "--exit", "operator", "--max-pay", "0.01")[
        "id"
    ]
    assert "sweep grace not elapsed: possible at " in cli.fails(6, "session", "sweep", str(sid2))
    chain.w3.provider.make_request("evm_increaseTime", [10 * 86_400])
    chain.w3.provider.make_request("evm_mine", [])
    swept = cli.json("-w", "carol", "session", "sweep", str(sid2))
    assert swept["bounty"]["base_units"] == 10**16 // 100 and chain.session(sid2).status_name == "refunded"


def test_top_up_adds_to_an_open_session_and_gives_it_a_full_grace(cli):
    chain = _chain(cli)
    policy = cli.home / "top-up-acl.json"
    policy.write_text('{"acls": []}')
    tid = cli.json("-w", "bob", "tailnet", "create", "--deposit", "0.2", "--acl", str(policy))["id"]
    cli.json("-w", "bob", "tailnet", "add-exit", str(tid), "operator")
    sid = cli.json("-w", "bob", "session", "open", "--tailnet", str(tid), "--exit", "operator", "--max-pay", "0.01")[
        "id"
    ]
    before = chain.session(sid)
    chain.w3.provider.make_request("evm_increaseTime", [3_600])
    chain.w3.provider.make_request("evm_mine", [])
    topped = cli.json("-w", "bob", "session", "top-up", str(sid), "0.005")
    assert topped["deposit"]["base_units"] == 15 * 10**15 and topped["status"] == "open"
    assert chain.session(sid).settle_by >= before.settle_by + 3_600
    assert cli.json("-w", "bob", "session", "top-up", str(sid), "0")["deposit"]["base_units"] == 15 * 10**15
    assert "not session opener" in cli.fails(6, "-w", "carol", "session", "top-up", str(sid), "0.001")
    assert "must be zero or more" in cli.fails(2, "-w", "bob", "session", "top-up", str(sid), "--", "-1")


def test_devices(cli):
    chain = _chain(cli)
    laptop = cli.json("wallet", "create", "laptop")["address"]
    cli.json("-w", "carol", "device", "add", "laptop")
    assert chain.device_owner(laptop) == cli.json("wallet", "show", "carol")["address"]
    assert cli.json("device", "list", "carol") == [{"device": laptop}]
    cli.json("-w", "carol", "device", "revoke", laptop)
    assert cli.json("device", "list", "carol") == []


def test_governance_and_slashing(cli):
    chain = _chain(cli)
    params = cli.json("gov", "params")
    assert params["protocol_fee_bps"] == 50 and params["owner"] == cli.json("wallet", "show", "owner")["address"]
    scheduled = cli.json(
        "-w", "owner", "gov", "set-params", "--protocol-fee-bps", "100", "--min-session-deposit", "0.002"
    )
    assert chain.params().protocol_fee_bps == 50  # announced, not applied
    assert scheduled["min_session_deposit"]["human"] == "0.002 ETH (2000000000000000)"  # one amount shape
    assert cli.json("gov", "params")["pending_change"]["eta"] == scheduled["eta"]
    assert "timelock not elapsed" in cli.fails(6, "-w", "owner", "gov", "execute-params")
    chain.w3.provider.make_request("evm_increaseTime", [2 * 86_400])
    chain.w3.provider.make_request("evm_mine", [])
    cli.json("-w", "owner", "gov", "execute-params")
    assert chain.params().protocol_fee_bps == 100 and chain.params().min_session_deposit == 2 * 10**15
    cli.json("-w", "owner", "gov", "pause")
    assert chain.paused()
    cli.fails(6, "-w", "bob", "device", "add", "alice")
    cli.json("-w", "owner", "gov", "unpause")
    treasury = chain.program_treasury()
    if treasury:
        cli.json("-w", "owner", "gov", "withdraw-treasury", str(treasury / 10**18), "--to", "owner")

    # A second operator double-signs: anyone can prove it with --evidence.
    cli.json("wallet", "create", "cheat")
    cli.json("wallet", "create", "cheat-receipts")
    chain.w3.provider.make_request(
        "anvil_setBalance", [cli.json("wallet", "show", "cheat")["address"], hex(10 * ETHER)]
    )
    cheat = _register_operator(cli, "cheat", "cheat-receipts", stake="1")["address"]
    tid = cli.json("-w", "bob", "tailnet", "create", "--deposit", "0.1", "--acl", str(cli.home / "acl.json"))["id"]
    cli.json("-w", "bob", "tailnet", "add-exit", str(tid), "cheat")
    sid = cli.json("-w", "bob", "session", "open", "--tailnet", str(tid), "--exit", "cheat", "--max-pay", "0.01")["id"]
    from octravpn.protocol import Domain, Receipt, sign
    from octravpn.wallet import Keystore

    key = Keystore(load().keystore_dir).unlock("cheat-receipts", cli.env["OCTRAVPN_PASSWORD"]).key
    domain = Domain(chain_id=31337, verifying_contract=chain.address)
    evidence = cli.home / "evidence.json"
    evidence.write_text(
        json.dumps(
            {
                "session_id": sid,
                "seq": 4,
                "bytes_a": 1000,
                "bytes_b": 2000,
                "sig_a": sign(domain, Receipt(session_id=sid, seq=4, bytes_used=1000), bytes(key)).hex(),
                "sig_b": sign(domain, Receipt(session_id=sid, seq=4, bytes_used=2000), bytes(key)).hex(),
            }
        )
    )
    slashed = cli.json("-w", "carol", "slash", "cheat", "--evidence", str(evidence))
    assert slashed["bounty"]["base_units"] == ETHER // 10 and chain.is_slashed(cheat)
    assert "--release`, to the earliest committed report" in slashed["paid"]
    early = cli.fails(6, "-w", "alice", "slash", "cheat", "--release")  # the report window: a day
    assert "grace not elapsed: possible at" in early
    cli.json("devnet", "advance", "25h")
    carol = cli.json("wallet", "show", "carol")["address"]
    paid = cli.json("-w", "alice", "slash", "cheat", "--release")  # anyone may: it pays the claimant
    assert (paid["paid_to"], paid["bounty"]["base_units"]) == (carol, ETHER // 10)
    assert "takes no other option" in cli.fails(2, "slash", "cheat", "--release", "--execute")

    # What cannot be undone is not done without --yes (no terminal here to ask on).
    assert "pass --yes to confirm" in cli.fails(2, "-w", "owner", "gov", "transfer-ownership", "alice")
    assert "pass --yes to confirm" in cli.fails(2, "-w", "owner", "slash", "operator", "--reason", "test")
    assert chain.owner() == cli.json("wallet", "show", "owner")["address"]
    cli.json("-w", "owner", "gov", "transfer-ownership", "alice", "--yes")
    assert chain.owner() == cli.json("wallet", "show", "alice")["address"]
    cli.json("-w", "alice", "gov", "transfer-ownership", "owner", "--yes")


def test_unbond_and_finalize(cli):
    chain = _chain(cli)
    cli.json("wallet", "create", "leaver")
    leaver = cli.json("wallet", "show", "leaver")["address"]
    chain.w3.provider.make_request("anvil_setBalance", [leaver, hex(5 * ETHER)])
    cli.json("-w", "leaver", "operator", "bond", "1")
    started = cli.json("-w", "leaver", "operator", "unbond")
    assert started["unbonding"]["base_units"] == ETHER == chain.unbonding(leaver)
    line = cli.fails(6, "-w", "leaver", "operator", "finalize-unbond")
    assert re.fullmatch(r"error: finalize_unbond reverted: grace not elapsed: possible " + WHEN, line), line
    chain.w3.provider.make_request("evm_increaseTime", [30 * 86_400])
    chain.w3.provider.make_request("evm_mine", [])
    assert cli.json("-w", "leaver", "operator", "finalize-unbond")["paid"]["base_units"] == ETHER
    assert chain.unbonding(leaver) == 0


def test_human_output_and_subprocess(cli):
    shown = cli.subprocess("gov", "params")
    assert shown.code == 0 and "protocol_fee_bps" in shown.out and "ETH (" in shown.out
    listed = cli.subprocess("--json", "wallet", "list")
    assert listed.code == 0 and "alice" in [w["name"] for w in json.loads(listed.out)]
    failed = cli.subprocess("-w", "nobody", "operator", "bond", "1")
    assert failed.code == 4 and failed.err.strip().startswith("error: unknown wallet 'nobody'")


def test_network_deploy_writes_the_contract_into_the_config(cli):
    devnet = load().network("devnet")
    cli.json("network", "add", "second", "--rpc-url", devnet.rpc_url, "--chain-id", "31337")
    cli.fails(5, "-n", "second", "gov", "params")  # no contract yet
    assert cli.json("-n", "second", "wallet", "balance", "bob")["native"]["base_units"] > 0  # needs none
    deployed = cli.json("-n", "second", "-w", "bob", "network", "deploy", "--min-endpoint-stake", "2")
    assert load().network("second").contract == deployed["contract"] != devnet.contract
    params = cli.json("-n", "second", "gov", "params")
    assert params["owner"] == cli.json("wallet", "show", "bob")["address"]
    assert params["min_endpoint_stake"]["base_units"] == 2 * ETHER
    assert "is not an address" in cli.fails(2, "-n", "second", "-w", "bob", "network", "deploy", "--asset", "0x12")


def test_confirm_shows_the_claim_beside_your_figure_and_accepts_within_a_tolerance(cli):
    chain = _chain(cli)
    tid = cli.json("-w", "bob", "tailnet", "create", "--deposit", "0.2", "--acl", str(cli.home / "acl.json"))["id"]
    cli.json("-w", "bob", "tailnet", "add-exit", str(tid), "operator")

    def session() -> str:
        return str(
            cli.json("-w", "bob", "session", "open", "--tailnet", str(tid), "--exit", "operator", "--max-pay", "0.01")[
                "id"
            ]
        )

    near, far = session(), session()
    cli.fails(2, "-w", "bob", "session", "confirm", near, "1000", "--accept-within", "5")  # nothing claimed yet
    cli.json("-w", "operator", "session", "claim", near, "1050")
    accepted = cli.json("-w", "bob", "session", "confirm", near, "1000", "--accept-within", "5")
    assert (accepted["exit_claim_bytes"], accepted["your_bytes"], accepted["difference_percent"]) == (1050, 1000, 5.0)
    assert accepted["outcome"] == "settled" and accepted["confirmed_bytes"] == 1050
    assert chain.session(int(near)).status_name == "settled"

    cli.json("-w", "operator", "session", "claim", far, "1100")
    refused = cli.json("-w", "bob", "session", "confirm", far, "1000", "--accept-within", "5")
    assert refused["outcome"] == "disputed" and refused["confirmed_bytes"] == 1000
    assert chain.client_confirm(int(far)).bytes_used == 1000


def test_a_session_opens_only_at_a_price_the_opener_accepts(cli):
    from octravpn.client.connect import ConnectError, Connector
    from octravpn.wallet import Keystore
    from tests.cli.conftest import PASSWORD

    chain = _chain(cli)
    tid = cli.json("-w", "bob", "tailnet", "create", "--deposit", "0.2", "--acl", str(cli.home / "acl.json"))["id"]
    cli.json("-w", "bob", "tailnet", "add-exit", str(tid), "operator")
    exit_address = cli.json("wallet", "show", "operator")["address"]
    listed = chain.endpoint(exit_address).price_per_mb
    sessions = len(chain.opened_sessions())

    refused = cli.fails(
        6,
        "-w",
        "bob",
        "session",
        "open",
        "--tailnet",
        str(tid),
        "--exit",
        "operator",
        "--max-pay",
        "0.01",
        "--max-price",
        format_amount(listed - 1, 18),
    )
    assert "exit price above max_price_per_mb" in refused and len(chain.opened_sessions()) == sessions
    opened = cli.json("-w", "bob", "session", "open", "--tailnet", str(tid), "--exit", "operator", "--max-pay", "0.01")
    assert opened["price_per_mb"]["base_units"] == listed  # default: the price listed when it was sent

    # The daemon opens at the price it chose the exit at; a raise since then is said plainly.
    settings = load()
    bob = Keystore(settings.keystore_dir).unlock("bob", PASSWORD)
    connector = Connector(client=open_client(settings.network(), bob), account=bob)
    with pytest.raises(ConnectError, match=f"raised its price to {listed} per MB after it was chosen at {listed - 1}"):
        connector.begin_session(exit_address, tid, 10**16, listed - 1)
    assert len(chain.opened_sessions()) == sessions + 1
