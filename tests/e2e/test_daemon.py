"""octravpnd end to end: a restart mid-session, an exit that dies under `--exit auto`, a stalled chain.

One lab per module with two exits (the second dearer, so `auto` picks the first), an indexer, and a
daemon on the client registered as a device of bob. Every step goes through the command line."""

import json
import os
import signal
import subprocess
import time
from contextlib import contextmanager

import pytest

from octravpn import config
from octravpn.daemon.localclient import DaemonUnavailable, LocalAPI
from octravpn.daemon.paths import read_socket
from octravpn.lab import EXIT_LINKS, WEB_ADDRESS, fetch, unique
from octravpn.wallet import Keystore
from tests.e2e.agents import BIG, Exit, _carry, _down, _settled, _status, make_world, start_device
from tests.support.waiting import wait_for

LEAK_TABLE = "leakwatch"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = make_world(tmp_path_factory, clients=1, exits=2)
    lab, cli, registered, chain = next(base)
    try:
        second = cli.add_exit(registered.tailnet_id, index=1, wallet="operator2", price="0.000003")
        indexer, url = cli.start_indexer(log=cli.home / "indexer.log")
        try:
            yield lab, cli, registered, chain, second, url
        finally:
            cli.stop(indexer)
    finally:
        base.close()


@pytest.fixture
def start_exits(world, tmp_path):
    """Starts both exits (the first with extra options); stops them (SIGTERM) after the test, leaving nothing."""
    lab, cli, *_ = world
    nodes = []

    def start(*first_options: str) -> list[Exit]:
        nodes.extend(
            [
                Exit(cli, tmp_path / "one", "--receipt-every", "0.2", *first_options),
                Exit(cli, tmp_path / "two", "--receipt-every", "0.2", index=1, wallet="operator2"),
            ]
        )
        for node in nodes:
            node.state_dir.parent.mkdir(parents=True, exist_ok=True)
            node.start()
        return nodes

    yield start
    for link in lab.internet_links:
        lab.internet.run("ip", "link", "set", link, "up")
    for node in nodes:
        assert node.stop() in (0, None), node.log.read_text()[-2000:]
        wait_for(lambda: not node.leftovers(), timeout=10, what=f"the exit to remove {node.leftovers()}")


def _watch_leaks(lab) -> None:
    """Count, on the internet host, every packet from the client's own address to anywhere but an exit or the chain:
    anything counted left the client outside the tunnel."""
    allowed = ", ".join([public for _, public in EXIT_LINKS] + [lab.chain_address])
    subprocess.run(
        ["ip", "netns", "exec", lab.internet.name, "nft", "-f", "-"],
        check=True,
        text=True,
        input=f"""
table inet {LEAK_TABLE} {{
    chain watch {{
        type filter hook prerouting priority -300; policy accept;
        ip saddr 192.0.2.2 ip daddr != {{ {allowed} }} counter
    }}
}}
""",
    )


def _leaked(lab) -> int:
    ruleset = json.loads(lab.internet.run("nft", "-j", "list", "table", "inet", LEAK_TABLE).stdout)["nftables"]
    return sum(item["rule"]["expr"][-1]["counter"]["packets"] for item in ruleset if "rule" in item)


def _stop_watching(lab) -> None:
    lab.internet.run("nft", "delete", "table", "inet", LEAK_TABLE, check=False)


def _process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (npm's anvil is a node launcher with the node itself as its child)."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid, *(p for child in children for p in _process_tree(int(child)))]


def test_a_daemon_killed_mid_session_leaks_nothing_and_its_restart_resumes_the_session(world, start_exits):
    lab, cli, registered, chain, second, url = world
    exits = start_exits()
    interface = unique("oc")
    up = cli.run("up", "--exit", "operator", "--interface", interface, "--max-pay", "0.01", host=lab.client)
    session_id = up["session"]
    before = _carry(cli, lab.client, interface, times=2)

    daemon = cli.daemons[lab.client.name]
    cli.stop_daemon(lab.client, kill=True)
    assert daemon.returncode == -signal.SIGKILL
    # While it is gone: the tunnel, its routes and the kill switch stand; nothing goes around the tunnel.
    assert lab.client.run("ip", "link", "show", interface, check=False).returncode == 0
    assert fetch(lab.client, f"http://{WEB_ADDRESS}/index.html", interface=lab.client_links[0], timeout=2) is None
    assert fetch(lab.client, f"http://{WEB_ADDRESS}/index.html", timeout=10) is not None  # through the tunnel

    start_device(cli, lab.client, cli.home)
    status = wait_for(
        lambda: (s := _status(cli, lab.client))["status"] == "connected" and s, what="the session resumed"
    )
    assert status["session"] == session_id and status["receipts_signed"] >= before["receipts_signed"]
    after = _carry(cli, lab.client, interface, times=1)
    assert after["receipts_signed"] > before["receipts_signed"]

    down = _down(cli, lab.client)
    assert down["settlement"]["status"] == "settled"
    assert len(_settled(chain, session_id)) == 1
    stored = exits[0].db(
        "SELECT COUNT(*), MAX(CAST(bytes_used AS INTEGER)) FROM receipts WHERE session_id = ?", session_id
    )
    assert stored == [
        (down["receipts_signed"], down["signed_bytes"])
    ]  # every receipt the daemon signed reached the exit
    assert down["settlement"]["bytes_used"] == down["signed_bytes"]


def test_with_exit_auto_a_dead_exit_is_replaced_under_the_kill_switch_and_both_sessions_settle(world, start_exits):
    lab, cli, registered, chain, second, url = world
    start_exits("--idle-timeout", "4", "--final-receipt-wait", "1")  # back, the first exit settles the idle session
    interface = unique("oc")
    up = cli.run(
        "up", "--exit", "auto", "--indexer", url, "--interface", interface, "--max-pay", "0.01", host=lab.client
    )
    assert up["exit"] == registered.exit_address  # the cheaper one
    first = _carry(cli, lab.client, interface, times=1)
    _watch_leaks(lab)
    try:
        lab.internet.run("ip", "link", "set", lab.internet_links[0], "down")  # the first exit is gone
        moved = wait_for(
            lambda: (s := _status(cli, lab.client))["exit"] == second.exit_address and s["status"] == "connected" and s,
            timeout=60,
            what="the failover",
        )
        assert fetch(lab.client, f"http://{WEB_ADDRESS}/big.bin", timeout=20) is not None  # through the second exit
        assert _leaked(lab) == 0
    finally:
        _stop_watching(lab)
    failover = moved["last_failover"]
    assert (failover["from"], failover["to"], failover["old_session"]) == (
        registered.exit_address,
        second.exit_address,
        first["session"],
    )
    assert moved["session"] != first["session"] and moved["ending"][0]["session"] == first["session"]

    # The first exit comes back and settles its session with the last receipt; the daemon sees it settled.
    lab.internet.run("ip", "link", "set", lab.internet_links[0], "up")
    (old,) = wait_for(lambda: _settled(chain, first["session"]), timeout=60, what="the first session's settlement")
    assert old.args["bytes_used"] == moved["ending"][0]["figure"]
    wait_for(lambda: not _status(cli, lab.client)["ending"], what="the daemon to record it")
    down = _down(cli, lab.client)
    assert down["settlement"]["status"] == "settled" and down["session"] == moved["session"]
    assert len(_settled(chain, moved["session"])) == 1


def test_a_stalled_chain_stops_no_traffic_and_status_answers_throughout(world, start_exits):
    lab, cli, registered, chain, second, url = world
    start_exits()
    interface = unique("oc")
    session_id = cli.run("up", "--exit", "operator", "--interface", interface, "--max-pay", "0.01", host=lab.client)[
        "session"
    ]
    anvil = _process_tree(int((cli.home / "data" / "octravpn" / "devnet" / "anvil.pid").read_text()))
    status_api = LocalAPI(read_socket(cli.socket(lab.client)), timeout=2.0)
    for pid in anvil:  # the RPC accepts connections and never answers
        os.kill(pid, signal.SIGSTOP)
    try:
        stalled_until = time.monotonic() + 60
        seen = []
        while time.monotonic() < stalled_until:
            page = "big.bin" if len(seen) == 10 else "index.html"
            assert fetch(lab.client, f"http://{WEB_ADDRESS}/{page}", timeout=10) is not None
            try:
                seen.append(status_api.get("/v1/status"))
            except DaemonUnavailable as exc:
                pytest.fail(f"status did not answer while the chain was stalled: {exc}")
            time.sleep(1)
    finally:
        for pid in anvil:
            os.kill(pid, signal.SIGCONT)
    assert all(s["status"] == "connected" for s in seen)
    unreachable = [s for s in seen if not s["chain"]["reachable"]]
    assert unreachable and unreachable[-1]["chain"]["unreachable_since"] is not None
    assert seen[-1]["receipts_signed"] > seen[0]["receipts_signed"]  # receipts need the exit, not the chain

    wait_for(lambda: _status(cli, lab.client)["chain"]["reachable"], what="the chain back in the status")
    down = _down(cli, lab.client)
    assert down["settlement"]["status"] == "settled" and len(_settled(chain, session_id)) == 1
    assert down["settlement"]["bytes_used"] == down["signed_bytes"] > BIG


@contextmanager
def no_block_until_the_end(chain):
    """Inside, no block is mined (anvil's automine off); at the end one is, with whatever was sent meanwhile."""
    rpc = chain.w3.provider
    rpc.make_request("evm_setAutomine", [False])
    try:
        yield
    finally:
        rpc.make_request("evm_setAutomine", [True])
        rpc.make_request("evm_mine", [])


def test_a_new_session_carries_before_its_open_is_mined_up_to_the_exits_budget(world, start_exits):
    """With no block coming, `up` connects: the exit took the device with its signed open transaction. It serves
    its budget (1.5 MB here), then carries nothing until the open is mined, then carries on; the session settles."""
    lab, cli, registered, chain, second, url = world
    exits = start_exits("--opening-budget", "1.5")
    interface = unique("oc")
    with no_block_until_the_end(chain):
        up = cli.run("up", "--exit", "operator", "--interface", interface, "--max-pay", "0.01", host=lab.client)
        session_id = up["session"]
        assert _status(cli, lab.client)["session_status"] == "opening"
        assert exits[0].db("SELECT open_tx IS NOT NULL FROM sessions WHERE session_id = ?", session_id) == [(1,)]
        assert fetch(lab.client, f"http://{WEB_ADDRESS}/big.bin", timeout=20) is not None  # within the budget
        # Beyond it: held until the block (the peer stays, with nothing to carry).
        wait_for(
            lambda: fetch(lab.client, f"http://{WEB_ADDRESS}/big.bin", timeout=3) is None,
            timeout=30,
            what="the exit to hold the session at its budget",
        )
    wait_for(
        lambda: exits[0].db("SELECT open_tx FROM sessions WHERE session_id = ?", session_id) == [(None,)],
        timeout=30,
        what="the exit to see the open mined",
    )
    wait_for(lambda: _status(cli, lab.client)["session_status"] == "open", timeout=30, what="the daemon to see it")
    assert fetch(lab.client, f"http://{WEB_ADDRESS}/big.bin", timeout=20) is not None  # carried on
    down = _down(cli, lab.client)
    assert down["settlement"]["status"] == "settled" and len(_settled(chain, session_id)) == 1


def test_an_open_that_fails_when_mined_is_served_no_more_and_its_sender_waits_for_blocks_after(world, start_exits):
    """The tailnet's owner takes the exit off the tailnet in the block that mines the open, ahead of it: the open
    reverts. The exit stops serving the session it took before the block and makes the sender's next openings
    wait for their block; the daemon says why the session never opened."""
    lab, cli, registered, chain, second, url = world
    exits = start_exits()
    settings = config.load(env=cli.env)
    alice = Keystore(settings.keystore_dir).unlock("alice", cli.env["OCTRAVPN_PASSWORD"])
    exit_address = cli.run("wallet", "show", "operator")["address"]
    interface = unique("oc")
    with no_block_until_the_end(chain):
        up = cli.run("up", "--exit", "operator", "--interface", interface, "--max-pay", "0.01", host=lab.client)
        session_id = up["session"]
        assert fetch(lab.client, f"http://{WEB_ADDRESS}/index.html", timeout=10) is not None  # served meanwhile
        fees = chain.w3.eth.get_block("latest")["baseFeePerGas"]
        removal = chain.contract.functions.remove_tailnet_exit(registered.tailnet_id, exit_address).build_transaction(
            {
                "from": alice.address,
                "nonce": chain.w3.eth.get_transaction_count(alice.address, "pending"),
                "gas": 200_000,
                "maxPriorityFeePerGas": 50 * 10**9,  # ahead of the open in the block
                "maxFeePerGas": 4 * fees + 50 * 10**9,
                "chainId": chain.w3.eth.chain_id,
            }
        )
        chain.send_raw(bytes(alice.sign_transaction(removal).raw_transaction))
    try:
        wait_for(
            lambda: exits[0].db("SELECT state FROM sessions WHERE session_id = ?", session_id) == [("unopened",)],
            timeout=30,
            what="the exit to stop serving the session that never opened",
        )
        status = wait_for(
            lambda: (s := _status(cli, lab.client))["session_status"].startswith("not opened") and s,
            timeout=30,
            what="the daemon to see the open fail",
        )
        assert status["session_status"] == "not opened (exit not configured)"
        wait_for(lambda: "exit not configured" in (_status(cli, lab.client)["last_error"] or ""), what="it said why")
        assert fetch(lab.client, f"http://{WEB_ADDRESS}/index.html", timeout=3) is None  # no longer served
        assert "never opened" in exits[0].log.read_text()
    finally:
        down = cli.run("down", host=lab.client)
        cli.run("-w", "alice", "tailnet", "add-exit", str(registered.tailnet_id), "operator")
    assert down["settlement"]["status"] == "not opened"  # nothing on chain to settle
    # The sender's next open waits for its block (mined at once here) and is served as usual.
    cli.run("up", "--exit", "operator", "--interface", unique("oc"), "--max-pay", "0.01", host=lab.client)
    assert fetch(lab.client, f"http://{WEB_ADDRESS}/index.html", timeout=10) is not None
    _down(cli, lab.client)
