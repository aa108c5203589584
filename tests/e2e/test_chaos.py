"""Chaos: an exit under attack and failure, with honest clients on it.

One exit and two clients in the namespace lab, on a devnet. In turn: hostile requests from a lab host;
the chain unreachable from every lab host for 60 s (packets dropped: the worst kind of outage, every
RPC waits for its timeout) while the clients keep browsing; the exit agent killed with `kill -9`
while a client keeps browsing through its surviving tunnel, then restarted; one client's daemon
killed with `kill -9`, its WireGuard left handshaking, then restarted. Then: no crash, no 5xx, no honest client cut,
every acknowledged receipt kept, every session settled once and at the right amount."""

import json
import re
import subprocess
import sys
import threading
import time

import pytest

from octravpn import config
from octravpn.lab import EXIT_PORT, EXIT_PUBLIC, WEB_ADDRESS, fetch, unique
from tests.e2e.agents import BIG, Exit, _down, _settled, _status, _up, make_world, start_device
from tests.support.waiting import wait_for

OUTAGE_SECONDS = 60
METRICS = "127.0.0.1:9464"  # inside the exit's namespace


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    yield from make_world(tmp_path_factory)


def _server_errors(lab) -> list[str]:
    """The exit's API responses with a 5xx status, from its Prometheus metrics."""
    text = fetch(lab.exit, f"http://{METRICS}/metrics", timeout=5)
    assert text is not None, "the exit's metrics do not answer"
    responses = [line for line in text.decode().splitlines() if line.startswith("octravpn_api_responses_total{")]
    assert responses, "no API responses counted"
    return [line for line in responses if re.search(r'status="5\d\d"', line)]


class Browsing:
    """A client fetching the big file every few seconds in the background; every fetch must succeed."""

    def __init__(self, host, every: float = 3.0):
        self.host, self.every, self.failures, self.done = host, every, [], 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stopping.wait(self.every):
            if fetch(self.host, f"http://{WEB_ADDRESS}/big.bin", timeout=20) is None:
                self.failures.append(time.strftime("%H:%M:%S"))
            else:
                self.done += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.stopping.set()
        self.thread.join(timeout=40)


def test_chaos(world, tmp_path):
    lab, cli, registered, chain = world
    options = ("--receipt-every", "0.2", "--max-unsigned", "2", "--final-receipt-wait", "2", "--metrics", METRICS)
    node = Exit(cli, tmp_path, *options, "--idle-timeout", "300").start()
    steady, victim = unique("oc"), unique("oc")
    steady_session = _up(cli, lab.clients[0], steady)["session"]
    victim_session = _up(cli, lab.clients[1], victim)["session"]
    try:
        _chaos(world, node, tmp_path, options, (steady, steady_session), (victim, victim_session))
    finally:
        try:
            for host in lab.clients:
                if _status(cli, host)["status"] != "down":
                    _down(cli, host)
        finally:
            assert node.stop() in (0, None)
            wait_for(lambda: not node.leftovers(), timeout=10, what="the exit to leave nothing behind")


def _chaos(world, node, tmp_path, options, steady_client, victim_client):
    lab, cli, registered, chain = world
    (steady, steady_session), (victim, victim_session) = steady_client, victim_client

    # 1. Hostile requests, from a lab host, over the network.
    attacks = json.loads(
        lab.clients[1]
        .run(sys.executable, "-m", "tests.e2e.hostile", f"http://{EXIT_PUBLIC}:{EXIT_PORT}", timeout=120)
        .stdout
    )
    assert all(isinstance(status, int) and 400 <= status < 500 for status in attacks.values()), attacks
    assert attacks["nested 200 KB"] == 413 and attacks["nested 8 KB"] == 400 and attacks["not JSON typed"] == 415
    assert node.process.poll() is None and _server_errors(lab) == []

    # 2. The chain unreachable from every lab host for 60 s; both clients keep browsing.
    chain_address = config.load(env=cli.env).network().rpc_url.split("//")[1].split(":")[0]
    subprocess.run(
        ["ip", "netns", "exec", lab.internet.name, "nft", "-f", "-"],
        check=True,
        text=True,
        input=f"""
table ip chaos_outage {{
    chain forward {{
        type filter hook forward priority filter; policy accept;
        ip daddr {chain_address} drop
    }}
}}""",
    )
    try:
        with Browsing(lab.clients[0]) as steady_browsing, Browsing(lab.clients[1]) as victim_browsing:
            time.sleep(OUTAGE_SECONDS)
    finally:
        lab.internet.run("nft", "delete", "table", "ip", "chaos_outage")
    assert steady_browsing.failures == victim_browsing.failures == [] and steady_browsing.done >= 5
    log = node.log.read_text()
    assert "Traceback" not in log, log[-3000:]
    assert log.count("the chain is unreachable") == 1  # said once, not a flood

    # Back: within the catch-up time nobody is judged; afterwards everybody signed what it owed.
    wait_for(
        lambda: "the chain is reachable again" in node.log.read_text(), timeout=60, what="the exit to see the chain"
    )
    for host, interface, session in (
        (lab.clients[0], steady, steady_session),
        (lab.clients[1], victim, victim_session),
    ):
        assert fetch(host, f"http://{WEB_ADDRESS}/big.bin", timeout=20) is not None
        measured = int(node.db("SELECT measured_bytes FROM sessions WHERE session_id = ?", session)[0][0])
        status = wait_for(
            lambda: (
                (s := _status(cli, host, interface))["signed_bytes"] >= measured - BIG and s["last_error"] is None and s
            ),
            timeout=60,
            what="the client to catch up",
        )
        assert status["status"] == "connected"
    assert node.db("SELECT session_id FROM sessions WHERE state != 'active'") == []  # nobody was cut
    assert _server_errors(lab) == []

    # 3. The exit agent killed; its tunnel keeps carrying the steady client, unsigned; then a restart.
    node.stop(kill=True)
    measured_at_kill = int(node.db("SELECT measured_bytes FROM sessions WHERE session_id = ?", steady_session)[0][0])
    for _ in range(3):
        assert fetch(lab.clients[0], f"http://{WEB_ADDRESS}/big.bin", timeout=20) is not None
    node.options = (*options, "--idle-timeout", "15")
    node.start()
    wait_for(
        lambda: (
            int(node.db("SELECT measured_bytes FROM sessions WHERE session_id = ?", steady_session)[0][0])
            >= measured_at_kill + 3 * BIG
        ),
        what="the restarted exit to bill what its tunnel carried meanwhile",
    )

    # 4. The victim's daemon killed: its WireGuard keeps handshaking, but carries nothing: the exit leaves the idle
    #    session open without it (deposit and receipts kept), while the steady client keeps browsing.
    parked_at = "SELECT parked_at FROM sessions WHERE session_id = ?"
    with Browsing(lab.clients[0], every=2.0) as steady_browsing:
        cli.stop_daemon(lab.clients[1], kill=True)
        wait_for(
            lambda: node.db(parked_at, victim_session)[0][0],
            timeout=120,
            what="the exit to leave the idle session open",
        )
    assert steady_browsing.failures == [] and _settled(chain, victim_session) == []

    # Restarted, the victim's daemon is told its session was left open and joins it again with its interface's
    # key; `down --end` then settles it at its last receipt, and restores the network.
    start_device(cli, lab.clients[1], cli.home)
    wait_for(lambda: node.db(parked_at, victim_session)[0][0] is None, what="the victim's daemon to join again")
    assert wait_for(lambda: fetch(lab.clients[1], f"http://{WEB_ADDRESS}/index.html", timeout=3), what="a page")
    down = _down(cli, lab.clients[1])
    (settled,) = _settled(chain, victim_session)
    ((last_receipt,),) = node.db(
        "SELECT MAX(CAST(bytes_used AS INTEGER)) FROM receipts WHERE session_id = ?", victim_session
    )
    assert down["settlement"]["status"] == "settled" and down["settlement"]["bytes_used"] == settled.args["bytes_used"]
    assert settled.args["bytes_used"] == last_receipt and down["session"] == victim_session
    assert [e.name for e in chain.session_events(victim_session)].count("SettledByReceipt") == 1
    assert not lab.clients[1].run("ip", "link", "show", victim, check=False).returncode == 0

    # 5. The steady client leaves: one settlement, at its last receipt, which covers every byte the exit measured.
    receipts_signed = _status(cli, lab.clients[0], steady)["receipts_signed"]
    down = _down(cli, lab.clients[0])
    assert down["settlement"]["status"] == "settled"
    stored = node.db(
        "SELECT COUNT(*), MAX(CAST(bytes_used AS INTEGER)) FROM receipts WHERE session_id = ?", steady_session
    )
    assert (
        stored[0][0] >= receipts_signed and stored[0][0] == down["receipts_signed"]
    )  # every acknowledged receipt kept
    ((measured,),) = node.db("SELECT measured_bytes FROM sessions WHERE session_id = ?", steady_session)
    assert down["settlement"]["bytes_used"] == down["signed_bytes"] == stored[0][1]
    # Never more than the exit measured; no less than both sides saw (datagrams lost on the way are
    # paid for up to the client's --loss share).
    assert min(int(measured), down["measured_bytes"]) <= down["signed_bytes"] <= int(measured)
    session = chain.session(steady_session)
    assert (
        down["settlement"]["paid"]["base_units"] == down["settlement"]["bytes_used"] * session.price_per_mb // 1_000_000
    )
    assert len(_settled(chain, steady_session)) == 1 and len(_settled(chain, victim_session)) == 1
    assert node.process.poll() is None and _server_errors(lab) == []
    assert "Traceback" not in node.log.read_text()
