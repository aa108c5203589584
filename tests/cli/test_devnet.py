"""`octravpn devnet`: restart keeps state; reset forgets it."""

import pytest

from octravpn.chain.client import open_client
from octravpn.config import load
from octravpn.chain.devnet import free_port
from tests.cli.conftest import Cli


@pytest.fixture
def fresh(tmp_path, capsys, monkeypatch):
    cli = Cli(tmp_path, capsys, monkeypatch)
    yield cli
    cli("devnet", "down")


def test_restart_keeps_accounts_contract_and_balances(fresh):
    up = fresh.json("devnet", "up", "--port", str(free_port()))
    assert up["status"] == "started" and set(up["wallets_created"]) >= {"alice", "owner"}
    acl = fresh.home / "acl.json"
    acl.write_text("{}")
    tid = fresh.json("-w", "alice", "tailnet", "create", "--deposit", "1", "--acl", str(acl))["id"]
    alice = fresh.json("wallet", "show", "alice")["address"]
    balance = open_client(load().network()).w3.eth.get_balance(alice)

    assert fresh.json("devnet", "down")["status"] == "stopped"
    assert fresh.json("devnet", "status")["running"] is False
    again = fresh.json("devnet", "up")
    assert again["status"] == "started" and again["contract"] == up["contract"] and again["wallets_created"] == []
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
    assert chain.w3.eth.block_number <= 2  # a new chain: just the deployment


def test_port_in_use_is_a_clear_error(fresh):
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        line = fresh.fails(5, "devnet", "up", "--port", str(port))
    assert line == (f"error: cannot listen on 127.0.0.1:{port} (Address already in use): stop what runs there or "
                    "choose another --port or --host")


def test_missing_anvil_is_a_clear_error(fresh, monkeypatch, tmp_path):
    monkeypatch.setenv("OCTRAVPN_ANVIL", str(tmp_path / "no-anvil"))
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("octravpn.chain.devnet.REPO_ROOT", tmp_path)
    assert "anvil not found: run `make tools`" in fresh.fails(5, "devnet", "up", "--port", str(free_port()))
