"""`octravpn devnet`: restart keeps state; reset forgets it."""

import subprocess
import sys

import pytest

from octravpn.chain.client import open_client
from octravpn.chain.devnet import free_port
from octravpn.config import load
from tests.cli.conftest import Cli


@pytest.fixture
def fresh(tmp_path, capsys, monkeypatch):
    cli = Cli(tmp_path, capsys, monkeypatch)
    yield cli
    cli("devnet", "down")


def test_restart_keeps_accounts_contract_and_balances(fresh):
    up = fresh.json("devnet", "up", "--port", str(free_port()))
    assert up["status"] == "started" and set(up["wallets_created"]) >= {"alice", "owner"}
    assert up["block"] >= 1 and up["gas_used"] > 0 and len(up["tx"]) == 66  # the deployment, like every transaction
    acl = fresh.home / "acl.json"
    acl.write_text("{}")
    tid = fresh.json("-w", "alice", "tailnet", "create", "--deposit", "1", "--acl", str(acl))["id"]
    alice = fresh.json("wallet", "show", "alice")["address"]
    balance = open_client(load().network()).w3.eth.get_balance(alice)

    assert fresh.json("devnet", "down")["status"] == "stopped"
    assert fresh.json("devnet", "status")["running"] is False
    again = fresh.json("devnet", "up")
    assert again["status"] == "started" and again["contract"] == up["contract"] and again["wallets_created"] == []
    assert "tx" not in again  # nothing deployed, nothing sent
    chain = open_client(load().network())
    assert chain.tailnet(tid).treasury == 10**18
    assert chain.w3.eth.get_balance(alice) == balance
    assert fresh.json("devnet", "up")["status"] == "already running"
    assert "already runs on 127.0.0.1:" in fresh.fails(2, "devnet", "up", "--port", str(free_port()))
    status = fresh.json("devnet", "status")
    assert status["running"] and status["contract"] == up["contract"] and status["block"] > 0


def test_reset_erases_the_chain_and_redeploys(fresh):
    fresh.json("devnet", "up", "--port", str(free_port()))
    acl = fresh.home / "acl.json"
    acl.write_text("{}")
    fresh.json("-w", "alice", "tailnet", "create", "--deposit", "1", "--acl", str(acl))
    assert open_client(load().network()).tailnet_count() == 1

    assert fresh.json("devnet", "reset", "--yes")["status"] == "reset"
    assert load().network("devnet").contract is None
    assert not (load().devnet_dir / "state.json").exists()
    again = fresh.json("devnet", "up")
    assert again["wallets_created"] == []  # wallets are kept; only the chain is erased
    chain = open_client(load().network())
    assert chain.tailnet_count() == 0
    assert chain.w3.eth.block_number <= 3  # a new chain: just the deployment (two blueprints, the contract)


def test_port_in_use_is_a_clear_error(fresh):
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        line = fresh.fails(5, "devnet", "up", "--port", str(port))
    assert line == (
        f"error: cannot listen on 127.0.0.1:{port} (Address already in use): stop what runs there or "
        "choose another --port or --host"
    )


def test_missing_anvil_is_a_clear_error(fresh, monkeypatch, tmp_path):
    monkeypatch.setenv("OCTRAVPN_ANVIL", str(tmp_path / "no-anvil"))
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("octravpn.chain.devnet.REPO_ROOT", tmp_path)
    assert "anvil not found: run `make tools`" in fresh.fails(5, "devnet", "up", "--port", str(free_port()))


def _block(chain, number="latest"):
    return chain.w3.eth.get_block(number)


def test_up_remembers_its_port_and_the_clock_never_runs_backwards(fresh):
    port = free_port()
    fresh.json("devnet", "up", "--port", str(port))
    status = fresh.json("devnet", "status")
    assert status["running"] and status["rpc_url"].endswith(f":{port}")
    other = free_port()
    assert f"already runs on 127.0.0.1:{port}" in fresh.fails(2, "devnet", "up", "--port", str(other))

    # Time moved forward (as a developer does to try a no-show), then a restart: blocks keep counting up in time.
    advanced = fresh.json("devnet", "advance", "7d")
    assert advanced["timestamp"] >= _block(open_client(load().network()), advanced["block"] - 1).timestamp + 7 * 86_400
    fresh.json("devnet", "down")
    assert fresh.json("devnet", "status")["rpc_url"].endswith(f":{port}")  # remembered while stopped too
    fresh.json("devnet", "up")
    chain = open_client(load().network())
    chain.w3.provider.make_request("evm_mine", [])
    assert _block(chain).timestamp > advanced["timestamp"]
    assert chain.w3.provider.endpoint_uri.endswith(f":{port}")


def test_fund_adds_native_coin(fresh):
    fresh.json("devnet", "up", "--port", str(free_port()))
    before = fresh.json("wallet", "balance", "bob")["native"]["base_units"]
    funded = fresh.json("devnet", "fund", "bob", "2.5")
    assert funded["added"]["human"] == "2.5 ETH (2500000000000000000)"
    assert (
        fresh.json("wallet", "balance", "bob")["native"]["base_units"]
        == before + 25 * 10**17
        == funded["balance"]["base_units"]
    )
    assert "not a number" in fresh.fails(2, "devnet", "fund", "bob", "lots")
    assert "duration 'soon'" in fresh.fails(2, "devnet", "advance", "soon")
    fresh.json("devnet", "down")
    assert "not running" in fresh.fails(5, "devnet", "fund", "bob", "1")


def test_up_without_a_passphrase_asks_first_and_leaves_nothing_running(fresh):
    env = {key: value for key, value in fresh.env.items() if key != "OCTRAVPN_PASSWORD"}
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "octravpn.cli.main", "devnet", "up", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 4, result.stderr
    assert result.stderr.startswith("error: no passphrase: use --password-file FILE or set OCTRAVPN_PASSWORD")
    assert fresh.json("devnet", "status")["running"] is False
    assert not [
        line
        for line in open("/proc/net/tcp").read().splitlines()[1:]
        if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A"
    ]  # nothing listens


def test_indexer_status_warns_when_the_devnet_was_reset_under_it(fresh):
    from tests.cli.test_indexer_cli import RunningIndexer

    fresh.json("devnet", "up", "--port", str(free_port()))
    for _ in range(5):
        fresh.json("devnet", "advance", "1m")  # a block each
    head = open_client(load().network()).block_number()
    indexer = RunningIndexer(fresh.home)
    try:
        indexer.wait_for(lambda: fresh.json("indexer", "status")["indexed_block"] >= head, "catch up")
    finally:
        assert indexer.stop() == 0
    assert fresh.json("indexer", "status")["warning"] is None
    fresh.json("devnet", "reset", "--yes")
    fresh.json("devnet", "up")
    status = fresh.json("indexer", "status")
    assert status["indexed_block"] > status["chain_head"]
    assert status["warning"].startswith(f"the index is at block {status['indexed_block']}, past the chain's head")
    assert "octravpn indexer run --reset" in status["warning"]


def test_up_that_fails_after_starting_anvil_stops_it_again(fresh, monkeypatch):
    other = fresh.home / "other-passphrase"
    other.write_text("not the devnet passphrase\n")
    fresh.json("--password-file", str(other), "wallet", "create", "owner")  # the deployer's key, another passphrase
    port = free_port()
    assert "wrong passphrase for wallet 'owner'" in fresh.fails(4, "devnet", "up", "--port", str(port))
    assert fresh.json("devnet", "status")["running"] is False  # the anvil it started is stopped again
