"""The exit and client agents end to end: real WireGuard tunnels between network
namespaces, the real contract on a devnet, every step through the `octravpn`
command line (see `octravpn.lab`). One lab and chain per module; each test
runs its own exit node (own interface and database) and stops it."""

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from octravpn.lab import EXIT_PORT, WEB_ADDRESS, fetch, unique
from octravpn.lab_cli import PASSWORD
from tests.e2e.agents import (
    BIG,
    LEEWAY,
    _carry,
    _down,
    _settled,
    _status,
    _up,
    exit_starter,
    make_world,
    one_batch_pays_one_session_and_skips_a_revoked_devices,
)
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    yield from make_world(tmp_path_factory)


@pytest.fixture
def start_exit(world, tmp_path):
    yield from exit_starter(world, tmp_path)


def test_a_page_through_the_exit_settles_at_the_signed_bytes(world, start_exit):
    lab, cli, registered, chain = world
    node = start_exit("--receipt-every", "0.2", "--max-unsigned", "2", "--dns", "203.0.113.53")
    interface = unique("oc")
    earnings_before = chain.earnings(registered.exit_address)
    up = _up(cli, lab.client, interface)
    assert up["status"] == "connected" and up["kill_switch"]
    route = json.loads(lab.client.run("ip", "-j", "route", "get", WEB_ADDRESS).stdout)[0]
    assert route["dev"] == interface  # the page goes through the tunnel
    assert "nameserver 203.0.113.53" in Path(f"/etc/netns/{lab.client.name}/resolv.conf").read_text()

    status = _carry(cli, lab.client, interface, times=2)
    assert status["measured_bytes"] > 2 * BIG

    down = _down(cli, lab.client)
    settlement = down["settlement"]
    assert settlement["status"] == "settled", down
    assert "nameserver 192.0.2.1" in Path(f"/etc/netns/{lab.client.name}/resolv.conf").read_text()
    assert not lab.client.run("ip", "link", "show", interface, check=False).returncode == 0

    ((measured,),) = node.db("SELECT measured_bytes FROM sessions WHERE session_id = ?", down["session"])
    ((last_receipt,),) = node.db(
        "SELECT MAX(CAST(bytes_used AS INTEGER)) FROM receipts WHERE session_id = ?", down["session"]
    )
    # The exit settled with the client's last receipt, which covers all it measured; the client saw the same.
    assert settlement["bytes_used"] == down["signed_bytes"] == last_receipt == int(measured)
    assert abs(down["measured_bytes"] - int(measured)) <= LEEWAY
    session = chain.session(down["session"])
    paid = settlement["bytes_used"] * session.price_per_mb // 1_000_000
    fee = paid * chain.params().protocol_fee_bps // 10_000
    assert settlement["paid"]["base_units"] == paid and settlement["refund"]["base_units"] == session.deposit - paid
    assert chain.earnings(registered.exit_address) - earnings_before == paid - fee
    assert len(_settled(chain, down["session"])) == 1


def test_a_client_that_stops_signing_is_cut_and_settled_at_its_last_receipt(world, start_exit, tmp_path):
    lab, cli, registered, chain = world
    start_exit("--receipt-every", "0.004", "--max-unsigned", "0.2", "--final-receipt-wait", "1")
    interface = unique("oc")
    silent = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            lab.client.name,
            sys.executable,
            "-m",
            "tests.e2e.silent_client",
            interface,
            registered.exit_address,
            PASSWORD,
        ],
        env=cli.env,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    try:
        session_id = json.loads(silent.stdout.readline())["session_id"]
        assert fetch(lab.client, f"http://{WEB_ADDRESS}/index.html") is not None
        signed = json.loads(silent.stdout.readline())
        assert signed["seq"] == 1 and signed["bytes_used"] > 0
        # Now it carries far more than it signs for: at its next reading the exit cuts it.
        assert fetch(lab.client, f"http://{WEB_ADDRESS}/big.bin", timeout=20) is not None
        wait_for(lambda: fetch(lab.client, f"http://{WEB_ADDRESS}/index.html", timeout=2) is None, what="the cut")
        (settled,) = wait_for(lambda: _settled(chain, session_id), what="the exit's settlement")
        assert settled.args["bytes_used"] == signed["bytes_used"]
        by_receipt = [e for e in chain.session_events(session_id) if e.name == "SettledByReceipt"]
        assert by_receipt[0].args["seq"] == 1
    finally:
        silent.terminate()
        silent.wait(timeout=30)


def test_the_client_disputes_an_exit_that_claims_more_than_it_signed(world, start_exit):
    lab, cli, registered, chain = world
    node = start_exit("--receipt-every", "0.2", "--max-unsigned", "2")
    interface = unique("oc")
    session_id = _up(cli, lab.client, interface)["session"]
    signed = _carry(cli, lab.client, interface, times=1)

    node.stop()  # the operator now claims more than the client signed
    inflated = signed["signed_bytes"] + 5_000_000
    cli.run("-w", "operator", "session", "claim", str(session_id), str(inflated))
    down = _down(cli, lab.client, "--settle-wait", "5")
    figure = down["signed_bytes"]
    assert down["settlement"]["status"] == "open" and down["settlement"]["confirmed_bytes"] == figure
    assert (
        chain.client_confirm(session_id).bytes_used == figure
        and chain.operator_claim(session_id).bytes_used == inflated
    )
    (dispute,) = [e for e in chain.session_events(session_id) if e.name == "SettleDispute"]
    assert (dispute.args["operator_bytes"], dispute.args["client_bytes"]) == (inflated, figure)

    # The exit, restarted, still settles alone at the signed receipt, never at its claim.
    node.options = (*node.options, "--idle-timeout", "2")
    node.start()
    (settled,) = wait_for(lambda: _settled(chain, session_id), what="settlement by receipt")
    assert settled.args["bytes_used"] == figure


def test_kill_9_of_the_exit_loses_no_receipt_bills_what_its_tunnel_carried_meanwhile_and_settles_once(
    world, start_exit
):
    lab, cli, registered, chain = world
    node = start_exit("--receipt-every", "0.1", "--max-unsigned", "2")
    interface = unique("oc")
    session_id = _up(cli, lab.client, interface)["session"]
    signed = _carry(cli, lab.client, interface, times=3)
    time.sleep(1.5)  # let a receipt in flight land before the kill
    before = _status(cli, lab.client, interface)

    node.stop(kill=True)
    stored = node.db("SELECT seq, bytes_used FROM receipts WHERE session_id = ? ORDER BY seq", session_id)
    assert len(stored) == before["receipts_signed"] >= signed["receipts_signed"]  # every acknowledged receipt is there
    assert int(stored[-1][1]) == before["signed_bytes"]
    ((measured_at_kill,),) = node.db("SELECT measured_bytes FROM sessions WHERE session_id = ?", session_id)

    # The exit's WireGuard outlives its agent: the client keeps browsing, unsigned, for more than --max-unsigned.
    for _ in range(3):
        assert fetch(lab.client, f"http://{WEB_ADDRESS}/big.bin", timeout=20) is not None

    node.start()  # same database, same (surviving) interface
    ((measured,),) = wait_for(
        lambda: (
            (rows := node.db("SELECT measured_bytes FROM sessions WHERE session_id = ?", session_id))
            and int(rows[0][0]) >= int(measured_at_kill) + 3 * BIG
            and rows
        ),
        what="the restarted exit to meter what its tunnel carried meanwhile",
    )

    def answered():  # the client signed the exit's newest request (for what it saw, if less was lost)
        issued = node.db("SELECT MAX(seq) FROM receipt_requests WHERE session_id = ?", session_id)[0][0]
        return issued == node.db("SELECT MAX(seq) FROM receipts WHERE session_id = ?", session_id)[0][0]

    wait_for(
        lambda: (
            int(
                node.db(
                    "SELECT MAX(CAST(bytes_used AS INTEGER)) FROM receipt_requests WHERE session_id = ?", session_id
                )[0][0]
            )
            >= int(measured)
            and answered()
        ),
        what="the client to sign for it",
    )
    status = _status(cli, lab.client, interface)
    assert status["status"] == "connected"  # caught up, not cut for the exit's own absence
    assert status["signed_bytes"] > int(measured_at_kill) + 2 * BIG  # what it carried meanwhile, signed for
    assert node.db("SELECT state FROM sessions WHERE session_id = ?", session_id) == [("active",)]
    down = _down(cli, lab.client)
    assert down["settlement"]["status"] == "settled"
    assert len(_settled(chain, session_id)) == 1
    assert node.db("SELECT COUNT(*) FROM settlements WHERE session_id = ?", session_id) == [(1,)]
    assert down["settlement"]["bytes_used"] == down["signed_bytes"] >= status["signed_bytes"]


def test_down_leaves_the_session_open_and_up_rejoins_it_with_no_transaction(world, start_exit):
    """Pay once, connect many times: `down` leaves the session open at the exit (no peer there, its deposit still
    locked); the next `up` joins it again with a new key and sends no transaction; its receipts number on;
    `session end` ends it, and the exit settles it for the bytes of both connections."""
    lab, cli, registered, chain = world
    node = start_exit("--receipt-every", "0.2", "--max-unsigned", "2")
    interface = unique("oc")
    session_id = _up(cli, lab.client, interface)["session"]
    _carry(cli, lab.client, interface, times=1)
    first = cli.run("down", host=lab.client)
    assert first["left_open"]["keep_alive"] == 86400 and chain.session(session_id).status == 0  # still open
    assert node.db("SELECT state, parked_at IS NOT NULL FROM sessions WHERE session_id = ?", session_id) == [
        ("active", 1)
    ]
    device = cli.device(lab.client)
    sent = chain.w3.eth.get_transaction_count(device)
    again = _up(cli, lab.client, interface)
    assert again["session"] == session_id and chain.w3.eth.get_transaction_count(device) == sent
    status = _carry(cli, lab.client, interface, times=1)
    assert status["signed_bytes"] > first["signed_bytes"] and status["session"] == session_id
    second = cli.run("down", host=lab.client)
    ended = cli.run("session", "end", str(session_id), host=lab.client)["ended"]
    assert [e["session"] for e in ended] == [session_id] and ended[0]["settlement"]["status"] == "settled", ended
    (settled,) = _settled(chain, session_id)
    assert settled.args["bytes_used"] == second["signed_bytes"] == ended[0]["settlement"]["bytes_used"]
    assert _status(cli, lab.client)["left_open"] == []


def test_the_exit_is_paid_by_checkpoints_while_the_session_goes_on(world, start_exit):
    """An exit owed more than --checkpoint-at is paid for what the device's receipts prove, while the session
    stays open and carries on; the settlement at the end pays only the rest, and the fee once on all of it."""
    lab, cli, registered, chain = world
    node = start_exit("--receipt-every", "0.2", "--max-unsigned", "2", "--checkpoint-at", "0.0000001")
    interface = unique("oc")
    earnings_before = chain.earnings(registered.exit_address)
    session_id = _up(cli, lab.client, interface)["session"]
    _carry(cli, lab.client, interface, times=1)

    def checkpoints():
        return [e for e in chain.session_events(session_id) if e.name == "SessionCheckpointed"]

    first = wait_for(checkpoints, timeout=60, what="the exit to checkpoint the session")[0]
    record = chain.session(session_id)
    assert record.status_name == "open" and record.bytes_paid >= first.args["bytes_used"] > 0
    ((stored,),) = node.db("SELECT paid_bytes FROM sessions WHERE session_id = ?", session_id)
    assert int(stored) >= first.args["bytes_used"]
    status = _carry(cli, lab.client, interface, times=1)  # the session goes on, same tunnel
    assert status["status"] == "connected" and status["session"] == session_id
    assert status["signed_bytes"] > first.args["bytes_used"]

    down = _down(cli, lab.client)
    (settled,) = _settled(chain, session_id)
    total = settled.args["total_paid"]
    assert settled.args["bytes_used"] == down["signed_bytes"] and total == record.value_of(down["signed_bytes"])
    assert settled.args["protocol_fee"] == total * record.protocol_fee_bps // 10_000
    # Paid in steps, earned once: what the checkpoints and the settlement credited adds up to the exit's share.
    assert chain.earnings(registered.exit_address) - earnings_before == total - settled.args["protocol_fee"]


def test_one_batch_pays_the_exit_for_one_session_and_skips_a_revoked_devices(world, start_exit, tmp_path):
    one_batch_pays_one_session_and_skips_a_revoked_devices(world, start_exit, tmp_path)


def test_a_session_left_open_ends_when_its_keep_alive_passes_and_the_rest_returns_to_the_tailnet(world, start_exit):
    """The device's keep-alive passes with no connection: it ends the session at the exit, which settles with
    the last receipt; the unused deposit goes back to the tailnet. An exit whose own keep-alive is shorter ends
    it the same way without the device."""
    lab, cli, registered, chain = world
    start_exit("--receipt-every", "0.2", "--max-unsigned", "2")
    interface = unique("oc")
    session_id = _up(cli, lab.client, interface, "--keep-alive", "5s")["session"]
    _carry(cli, lab.client, interface, times=1)
    down = cli.run("down", host=lab.client)
    assert down["left_open"]["keep_alive"] == 5
    (settled,) = wait_for(lambda: _settled(chain, session_id), timeout=60, what="the keep-alive to end the session")
    assert settled.args["bytes_used"] == down["signed_bytes"] and settled.args["refund"] > 0
    outcome = wait_for(
        lambda: next((o for o in _status(cli, lab.client)["settled"] if o["session"] == session_id), None),
        what="the daemon to record how the session ended",
    )
    assert outcome["reason"] == "keep-alive" and _status(cli, lab.client)["left_open"] == []


def test_an_exit_ends_a_session_left_open_after_its_own_keep_alive(world, start_exit):
    lab, cli, registered, chain = world
    start_exit("--receipt-every", "0.2", "--max-unsigned", "2", "--keep-alive", "3")
    interface = unique("oc")
    session_id = _up(cli, lab.client, interface)["session"]
    _carry(cli, lab.client, interface, times=1)
    down = cli.run("down", host=lab.client)
    (settled,) = wait_for(lambda: _settled(chain, session_id), timeout=60, what="the exit's keep-alive")
    assert settled.args["bytes_used"] == down["signed_bytes"]
    wait_for(lambda: _status(cli, lab.client)["left_open"] == [], what="the daemon to see it ended on chain")


def test_a_device_idle_past_the_exits_idle_timeout_joins_its_session_again_with_no_transaction(world, start_exit):
    """The exit leaves an idle session open without its device (a laptop asleep) instead of ending it; the
    device, back, is told so and joins again with the key its interface has: same session, no transaction."""
    lab, cli, registered, chain = world
    node = start_exit("--receipt-every", "0.2", "--max-unsigned", "2", "--idle-timeout", "3")
    interface = unique("oc")
    session_id = _up(cli, lab.client, interface)["session"]
    device = cli.device(lab.client)
    sent = chain.w3.eth.get_transaction_count(device)
    parked = wait_for(
        lambda: node.db("SELECT parked_at FROM sessions WHERE session_id = ?", session_id)[0][0],
        what="the exit to leave the idle session open without its device",
    )
    wait_for(
        lambda: (
            (row := node.db("SELECT parked_at FROM sessions WHERE session_id = ?", session_id)[0][0]) is None
            or row > parked
        ),
        what="the device to join its session again",
    )
    assert wait_for(lambda: fetch(lab.client, f"http://{WEB_ADDRESS}/index.html", timeout=3), what="a page again")
    status = _status(cli, lab.client)
    assert status["session"] == session_id and status["status"] == "connected"
    assert chain.w3.eth.get_transaction_count(device) == sent and chain.session(session_id).status == 0
    _down(cli, lab.client)


def test_sigterm_stops_the_exit_cleanly_and_a_restart_serves_the_session_again(world, start_exit):
    lab, cli, registered, chain = world
    node = start_exit("--receipt-every", "0.2", "--max-unsigned", "2")
    interface = unique("oc")
    session_id = _up(cli, lab.client, interface)["session"]
    _carry(cli, lab.client, interface, times=1)

    assert node.stop() == 0  # SIGTERM, as systemd sends it
    wait_for(lambda: not node.leftovers(), timeout=10, what="a clean stop")
    assert node.db("SELECT state FROM sessions WHERE session_id = ?", session_id) == [("active",)]
    assert fetch(lab.client, f"http://{WEB_ADDRESS}/index.html", timeout=3) is None  # the tunnel is gone with it

    node.start()  # the peer comes back from the store: the same session carries traffic again
    assert wait_for(lambda: fetch(lab.client, f"http://{WEB_ADDRESS}/index.html", timeout=3), what="the tunnel back")
    down = _down(cli, lab.client)
    assert down["settlement"]["status"] == "settled" and len(_settled(chain, session_id)) == 1


def test_clients_reach_the_internet_and_nothing_else_through_the_exit(world, start_exit):
    lab, cli, registered, chain = world
    start_exit()
    first, second = unique("oc"), unique("oc")
    one = _up(cli, lab.clients[0], first)
    other = _up(cli, lab.clients[1], second)
    try:
        assert fetch(lab.clients[0], f"http://{WEB_ADDRESS}/index.html") is not None  # the internet: yes
        exit_tunnel_address = one["address"].split("/")[0].rsplit(".", 1)[0] + ".1"
        assert exit_tunnel_address == "10.77.0.1"
        # The exit host itself: only echo requests (the daemon's liveness probe of an idle tunnel) are answered.
        assert lab.clients[0].ping(exit_tunnel_address, count=2)
        assert fetch(lab.clients[0], f"http://{exit_tunnel_address}:{EXIT_PORT}/v1/info", timeout=2) is None
        assert not lab.clients[0].ping(other["address"].split("/")[0], count=2)  # another client: no
        assert fetch(lab.clients[1], f"http://{WEB_ADDRESS}/index.html") is not None
    finally:
        _down(cli, lab.clients[0])
        _down(cli, lab.clients[1])


def test_the_kill_switch_drops_traffic_outside_the_tunnel(world, start_exit):
    lab, cli, registered, chain = world
    start_exit()
    interface, underlay = unique("oc"), lab.client_links[0]
    _up(cli, lab.client, interface)
    try:
        assert fetch(lab.client, f"http://{WEB_ADDRESS}/index.html") is not None  # through the tunnel
        assert fetch(lab.client, f"http://{WEB_ADDRESS}/index.html", interface=underlay, timeout=2) is None
        assert lab.client.run("ping", "-c", "2", "-W", "1", "-I", underlay, WEB_ADDRESS, check=False).returncode != 0
        # `set` turns it off and on again on the live connection.
        assert cli.run("set", "--no-kill-switch", host=lab.client)["kill_switch"] is False
        assert fetch(lab.client, f"http://{WEB_ADDRESS}/index.html", interface=underlay, timeout=5) is not None
        assert cli.run("set", "--kill-switch", host=lab.client)["kill_switch"] is True
        assert fetch(lab.client, f"http://{WEB_ADDRESS}/index.html", interface=underlay, timeout=2) is None
        assert fetch(lab.client, f"http://{WEB_ADDRESS}/index.html") is not None
    finally:
        _down(cli, lab.client)
    # Once down, the same direct request goes out: the checks above could fail.
    assert fetch(lab.client, f"http://{WEB_ADDRESS}/index.html", interface=underlay, timeout=5) is not None


def test_wg_config_exports_a_session_for_a_plain_wireguard_app(world, start_exit, tmp_path):
    lab, cli, registered, chain = world
    node = start_exit()
    path = tmp_path / "exit.conf"
    written = cli.run("wg-config", "--exit", "operator", "--output", str(path), host=lab.client)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    text = path.read_text()
    assert f"PublicKey = {registered.wg_pubkey}" in text and "Endpoint = 198.51.100.2:51820" in text
    assert "AllowedIPs = 0.0.0.0/0, ::/0" in text and "Address = 10.77.0." in text
    # The exit knows this session signs no receipts: it will settle by claim + confirm.
    assert node.db("SELECT signs_receipts FROM sessions WHERE session_id = ?", written["session"]) == [(0,)]


def test_plain_wg_quick_carries_the_session_and_the_client_settles_the_exits_claim(world, start_exit, tmp_path):
    """A wg-config file under Linux's own wg-quick (no resolvconf here), billed by claim: the exit's
    store says `claimed` until the chain settles, and `session confirm` accepts a claim within a tolerance."""
    lab, cli, registered, chain = world
    node = start_exit("--dns", "203.0.113.53", "--idle-timeout", "8", "--final-receipt-wait", "1")
    name = unique("wq")
    path = tmp_path / f"{name}.conf"  # wg-quick names the interface after the file
    session_id = str(cli.run("wg-config", "--exit", "operator", "--output", str(path), host=lab.client)["session"])
    assert "# DNS = 203.0.113.53" in path.read_text()  # a `DNS =` line would need resolvconf

    lab.client.run("wg-quick", "up", str(path), timeout=60)
    try:
        for _ in range(2):
            assert fetch(lab.client, f"http://{WEB_ADDRESS}/big.bin", timeout=20) is not None
        transfer = lab.client.run("wg", "show", name, "transfer").stdout.split()
        own = int(transfer[1]) + int(transfer[2])  # what this side's WireGuard counted, both ways
    finally:
        lab.client.run("wg-quick", "down", str(path), timeout=60)
    assert own > 2 * BIG

    # Silent now: the exit ends the idle session and claims what it measured.
    claim = wait_for(
        lambda: (c := chain.operator_claim(int(session_id))).is_set and c, timeout=60, what="the exit's claim"
    )
    assert chain.session(int(session_id)).status_name == "open"
    assert node.db("SELECT state FROM sessions WHERE session_id = ?", session_id) == [("claimed",)]  # not "settled"

    # The session is the daemon's device's: `session confirm` has the daemon confirm it with the device key.
    confirmed = cli.run("session", "confirm", session_id, str(own), "--accept-within", "25", host=lab.client)
    assert (confirmed["exit_claim_bytes"], confirmed["your_bytes"]) == (claim.bytes_used, own)
    assert confirmed["outcome"] == "settled" and confirmed["confirmed_bytes"] == claim.bytes_used
    wait_for(
        lambda: node.db("SELECT state FROM sessions WHERE session_id = ?", session_id) == [("settled",)],
        what="the exit to see the settlement on chain",
    )


def test_up_exit_auto_connects_through_the_exit_the_indexer_ranks_best(world, start_exit, tmp_path):
    lab, cli, registered, chain = world
    indexer, url = cli.start_indexer(log=tmp_path / "indexer.log")
    try:
        start_exit()
        listed = cli.run("exits", "list", "--indexer", url)
        assert [e["address"] for e in listed] == [registered.exit_address]
        interface = unique("oc")
        up = cli.run(
            "up", "--exit", "auto", "--indexer", url, "--interface", interface, "--max-pay", "0.01", host=lab.client
        )
        assert up["status"] == "connected" and up["exit"] == registered.exit_address
        assert fetch(lab.client, f"http://{WEB_ADDRESS}/big.bin", timeout=20) is not None
        down = _down(cli, lab.client)
        assert down["settlement"]["status"] == "settled"

        # The indexer saw the settlement: its session row says what the chain says.
        def indexed():
            body = httpx.get(f"{url}/v1/sessions/{down['session']}").json()
            return body if body.get("status") == "settled" else None

        session = wait_for(indexed, what="the indexer to see the settlement")
        assert session["bytes_used"] == down["settlement"]["bytes_used"] and session["close_reason"] == "receipt"
        assert (
            session["total_paid"] == str(down["settlement"]["paid"]["base_units"])
            and session["opener"] == chain.session(down["session"]).opener
        )
    finally:
        cli.stop(indexer)


@pytest.mark.parametrize("exit_stopped", [False, True], ids=["exit-running", "exit-stopped"])
def test_the_tailnet_owner_closes_a_removed_members_session_and_the_exit_cuts_it_and_settles(
    world, start_exit, exit_stopped
):
    """The exit reads SessionClosed, removes the peer and settles at once with the receipts it holds, also a
    close made while it was stopped (found in review: an exit that read events from the head on start never saw
    it, served the removed member until the session's own deadline, and was paid nothing)."""
    lab, cli, registered, chain = world
    node = start_exit("--receipt-every", "0.2", "--max-unsigned", "2", "--final-receipt-wait", "2")
    interface = unique("oc")
    tailnet = str(registered.tailnet_id)
    session_id = _up(cli, lab.client, interface)["session"]
    signed = _carry(cli, lab.client, interface, times=1)
    promised = chain.session(session_id).settle_by
    try:
        if exit_stopped:
            assert node.stop() == 0
        cli.run("-w", "alice", "tailnet", "remove-member", tailnet, "bob")
        closed = cli.run("-w", "alice", "session", "close", str(session_id))
        assert closed["settle_by"] == chain.session(session_id).settle_by == promised  # the exit keeps its window
        if exit_stopped:
            node.start()
        (settled,) = wait_for(
            lambda: _settled(chain, session_id),
            what="the exit's settlement after the close",
            explain=lambda: node.log.read_text()[-3000:],
        )
        assert settled.args["bytes_used"] >= signed["signed_bytes"]
        assert node.db("SELECT state, settle_by FROM sessions WHERE session_id = ?", session_id) == [
            ("settled", promised)
        ]
        assert fetch(lab.client, f"http://{WEB_ADDRESS}/index.html", timeout=3) is None  # no longer served
    finally:
        cli.run("-w", "alice", "tailnet", "add-member", tailnet, "bob")
        _down(cli, lab.client)


def test_up_on_a_new_device_names_the_command_and_with_a_wallet_registers_it_itself(world, start_exit, tmp_path):
    lab, cli, registered, chain = world
    start_exit()
    host = lab.clients[1]
    cli.stop_daemon(host)  # this machine's daemon, replaced by one with a brand-new device key
    cli.start_daemon(host, "--state-dir", str(tmp_path / "new-device"), log=tmp_path / "daemon.log")
    try:
        device = cli.device(host)
        assert int(chain.device_owner(device), 16) == 0
        interface = unique("oc")
        refused = cli.argv(("up", "--exit", "operator", "--interface", interface), host)
        done = subprocess.run(refused, env=cli.environment(host), capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and f"octravpn -w WALLET device add {device} --fund" in done.stderr
        up = cli.run("-w", "bob", "up", "--exit", "operator", "--interface", interface, "--max-pay", "0.01", host=host)
        assert up["status"] == "connected" and up["device"] == device and up["member"] == chain.device_owner(device)
        assert chain.w3.eth.get_balance(device) > 0  # it paid its own gas from the coin `up` sent it
        assert fetch(host, f"http://{WEB_ADDRESS}/index.html") is not None
        assert _down(cli, host)["settlement"]["status"] == "settled"
    finally:
        cli.stop_daemon(host)
        cli.start_daemon(host, log=tmp_path / "daemon-again.log")  # the world's own daemon, for the tests after
