"""`octravpn indexer run`, `exits list` and `up --exit auto`'s choice, through the CLI against a devnet."""

import base64
import json
import signal
import subprocess
import sys

import httpx
import pytest

from octravpn.chain.client import open_client
from octravpn.chain.devnet import free_port
from octravpn.config import load
from tests.cli.conftest import home_environment
from tests.support.waiting import wait_for

WG_KEY = base64.b64encode(bytes(range(32))).decode()


class RunningIndexer:
    def __init__(self, home, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / f"indexer-{self.port}.log"
        with open(self.log, "wb") as output:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "octravpn.cli.main",
                    "indexer",
                    "run",
                    "--listen",
                    f"127.0.0.1:{self.port}",
                    "--poll-interval",
                    "0.1",
                    *args,
                ],
                env=home_environment(home),
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.wait_for(lambda: httpx.get(f"{self.url}/healthz").status_code == 200, "answer /healthz")

    def wait_for(self, condition, what: str) -> None:
        def alive_and(condition) -> bool:
            assert self.process.poll() is None, f"the indexer stopped: {self.log.read_text()[-2000:]}"
            return condition()

        wait_for(
            lambda: alive_and(condition),
            what=f"the indexer to {what}",
            every=0.1,
            passing=(httpx.HTTPError,),
            explain=lambda: self.log.read_text()[-2000:],
        )

    def exits(self) -> list[dict]:
        return httpx.get(f"{self.url}/v1/exits", params={"active": "false"}).json()["items"]

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def indexer(devnet_home):
    running = RunningIndexer(devnet_home)
    yield running
    if running.process.poll() is None:
        running.stop()


def _register(cli, name: str, receipts: str, *, region: str, price: str) -> str:
    known = {w["name"] for w in cli.json("wallet", "list")}
    for wallet in (name, receipts):
        if wallet not in known:
            cli.json("wallet", "create", wallet)
    address = cli.json("wallet", "show", name)["address"]
    open_client(load().network()).w3.provider.make_request("anvil_setBalance", [address, hex(10 * 10**18)])
    cli.json("-w", name, "operator", "bond", "1.5")
    cli.json(
        "-w",
        name,
        "operator",
        "register",
        "--endpoint",
        "127.0.0.1:51820",
        "--wg-pubkey",
        WG_KEY,
        "--region",
        region,
        "--price",
        price,
        "--receipt-wallet",
        receipts,
    )
    return address


def test_exits_list_filters_what_the_indexer_found(cli, indexer):
    cheap = _register(cli, "operator", "operator-receipts", region="lab-a", price="0.000001")
    dear = _register(cli, "second", "second-receipts", region="lab-b", price="0.000005")
    indexer.wait_for(lambda: len(indexer.exits()) == 2, "index both exits")

    listed = cli.json("exits", "list", "--indexer", indexer.url)
    assert [e["address"] for e in listed] == [cheap, dear]  # cheapest first
    assert listed[0]["price_per_mb"]["base_units"] == 10**12 and listed[0]["region"] == "lab-a"
    assert listed[0]["state"] == "active" and listed[0]["stake"]["human"] == "1.5 ETH (1500000000000000000)"
    assert [e["address"] for e in cli.json("exits", "list", "--indexer", indexer.url, "--region", "lab-b")] == [dear]
    assert [e["address"] for e in cli.json("exits", "list", "--indexer", indexer.url, "--max-price", "0.000002")] == [
        cheap
    ]
    # `--json` after the command works as well as before it.
    after = cli("exits", "list", "--indexer", indexer.url, "--region", "lab-a", "--json")
    assert after.code == 0 and [e["address"] for e in json.loads(after.out)] == [cheap]
    human = cli("exits", "list", "--indexer", indexer.url)
    assert human.code == 0 and "0.000001 ETH" in human.out and "lab-b" in human.out

    # --all shows the exits that cannot serve now, and why.
    def listed(address):
        return next(e["listed"] for e in indexer.exits() if e["address"] == address)

    cli.json("-w", "second", "operator", "retire")
    indexer.wait_for(lambda: not listed(dear), "index the retirement")
    assert [e["address"] for e in cli.json("exits", "list", "--indexer", indexer.url)] == [cheap]
    every = cli.json("exits", "list", "--indexer", indexer.url, "--all")
    assert {e["address"]: e["state"] for e in every} == {cheap: "active", dear: "retired"}
    assert "retired" in cli("exits", "list", "--indexer", indexer.url, "--all").out
    cli.json(
        "-w",
        "second",
        "operator",
        "register",
        "--endpoint",
        "127.0.0.1:51820",
        "--wg-pubkey",
        WG_KEY,
        "--region",
        "lab-b",
        "--price",
        "0.000005",
        "--receipt-wallet",
        "second-receipts",
    )
    indexer.wait_for(lambda: listed(dear), "index the second exit back")


def test_exits_list_errors_say_what_to_do(cli, indexer):
    dead = f"http://127.0.0.1:{free_port()}"
    assert "cannot reach the indexer" in cli.fails(5, "exits", "list", "--indexer", dead)
    assert "the indexer refused /v1/exits: invalid sort" in cli.fails(
        2, "exits", "list", "--indexer", indexer.url, "--sort", "best"
    )
    taken = cli("indexer", "run", "--listen", f"127.0.0.1:{indexer.port}")
    assert taken.code == 5 and taken.err.strip().splitlines()[-1].startswith(
        "error: cannot serve the API on 127.0.0.1:"
    )
    assert "max price 'cheap' is not a number" in cli.fails(
        2, "exits", "list", "--indexer", indexer.url, "--max-price", "cheap"
    )


def test_auto_exit_rule_and_its_refusals(cli, indexer):
    from octravpn.cli.context import AppContext
    from octravpn.client.discovery import IndexerClient, choose_exit
    from octravpn.errors import UsageError

    acl = cli.home / "acl.json"
    acl.write_text("{}")
    tid = cli.json("-w", "alice", "tailnet", "create", "--deposit", "0.5", "--acl", str(acl))["id"]
    app_ctx = AppContext(wallet_name="alice", as_json=True)
    client = app_ctx.client()
    api, alice = IndexerClient(indexer.url), client.sender.account.address

    def _auto_exit(*, region, max_price):
        return choose_exit(api, alice, tailnet=None, region=region, max_price=max_price)

    indexer.wait_for(lambda: httpx.get(f"{indexer.url}/v1/tailnets/{tid}").status_code == 200, "index the tailnet")
    with pytest.raises(UsageError, match=f"no active exit is allowed by tailnet {tid}"):
        _auto_exit(region=None, max_price=None)
    cli.json("-w", "alice", "tailnet", "add-exit", str(tid), "operator")
    cli.json("-w", "alice", "tailnet", "add-exit", str(tid), "second")
    indexer.wait_for(lambda: httpx.get(f"{indexer.url}/v1/tailnets/{tid}").json()["exit_count"] == 2, "index the exits")
    operator, second = (cli.json("wallet", "show", name)["address"] for name in ("operator", "second"))
    # Same reputation (none settled yet): the cheaper exit wins; a region narrows the choice.
    # The price it was chosen at comes along: the session opens at that price or not at all.
    assert _auto_exit(region=None, max_price=None) == (operator, tid, client.endpoint(operator).price_per_mb)
    assert _auto_exit(region="lab-b", max_price=None) == (second, tid, client.endpoint(second).price_per_mb)
    with pytest.raises(UsageError, match="no active exit in lab-b within --max-price"):
        _auto_exit(region="lab-b", max_price=10**12)
    cli.json("-w", "alice", "tailnet", "create", "--deposit", "0.5", "--acl", str(acl))
    indexer.wait_for(
        lambda: (
            httpx.get(f"{indexer.url}/v1/tailnets", params={"member": client.sender.account.address}).json()["total"]
            == 2
        ),
        "index the second tailnet",
    )
    with pytest.raises(UsageError, match="is a member of tailnets: .*choose the one that pays with --tailnet"):
        _auto_exit(region=None, max_price=None)
    for command in ("up", "wg-config"):  # refused before anything is asked of a daemon
        refused = cli.fails(2, "-w", "alice", command, "--exit", "operator", "--region", "lab-a")
        assert "--region and --max-price choose among exits: use them with --exit auto" in refused


def test_indexer_status_restart_and_bad_options(cli, indexer):
    status = cli.json("indexer", "status")
    assert status["lag_blocks"] == 0 and status["exits_active"] == 2 and status["database"].startswith("sqlite:///")
    assert indexer.stop() == 0
    assert "HTTP Request" not in indexer.log.read_text()  # its RPC polls are not logged line by line
    restarted = RunningIndexer(cli.home)
    try:
        assert len(restarted.exits()) == 2  # resumed from the checkpoint: nothing lost, nothing doubled
        stats = httpx.get(f"{restarted.url}/v1/stats").json()
        assert stats["exits_registered"] == 2 and stats["tailnets"] == 2
    finally:
        assert restarted.stop() == 0
    assert "use HOST:PORT" in cli.fails(2, "indexer", "run", "--listen", "8787")
    assert "unsupported database 'mysql'" in cli.fails(3, "indexer", "run", "--db", "mysql://localhost/x")
