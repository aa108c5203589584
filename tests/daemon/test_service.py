"""The daemon's logic with a fake host, chain, exits and indexer (no root): connect, receipts, health,
failover, rejoin, restart, chain outages, leaving and settling."""

import pytest

from octravpn.client import exit_api
from octravpn.client.exit_api import ExitAPIError
from octravpn.config import Network
from octravpn.daemon import dialing, exit, service, settling
from octravpn.daemon.service import Conflict, Daemon, DaemonSettings, NotRegistered
from octravpn.daemon.wire import UpRequest
from octravpn.protocol import Receipt, recover
from tests.daemon.fakes import (
    CONTRACT,
    DEVICE,
    DOMAIN,
    ENDPOINTS,
    MEMBER,
    NOW,
    OPERATORS,
    FakeChain,
    FakeExits,
    FakeIndexer,
    exit_key,
)
from tests.fakehost import FakeHost

IFACE = "ovpn0"


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world(tmp_path, monkeypatch):
    host, chain, clock = FakeHost(), FakeChain(), Clock()
    exits, indexer, probes = FakeExits(chain), FakeIndexer(), []
    monkeypatch.setattr(
        exit_api.ExitAPI,
        "_call",
        lambda self, method, path, body=None, headers=None: exits.call(self.base_url, method, path, body, headers),
    )

    class Indexer:
        def __init__(self, url, timeout):
            pass

        def tailnets_of(self, member):
            return indexer.tailnets_of(member)

        def exits(self, **filters):
            return indexer.list_exits(**filters)

        def close(self):
            pass

    monkeypatch.setattr(dialing, "IndexerClient", Indexer)
    monkeypatch.setattr(exit, "send_echo", lambda address, interface, seq: probes.append((address, interface)))
    monkeypatch.setattr(settling.time, "sleep", lambda seconds: clock.__setattr__("now", clock.now + seconds))
    (tmp_path / "resolv.conf").write_text("nameserver 192.0.2.1\n")

    opened = []

    def open_chain():
        opened.append(1)
        return chain

    def daemon() -> Daemon:
        settings = DaemonSettings(
            state_dir=tmp_path / "state",
            dns_file=tmp_path / "resolv.conf",
            network=Network(name="devnet", rpc_url="http://10.254.0.1:8545", chain_id=31337, contract=CONTRACT),
            indexers=("http://10.254.0.1:8787",),
        )
        made = Daemon(
            settings, account=DEVICE, runner=host, open_chain=open_chain, resolve=lambda name: name, clock=clock
        )
        made.start()
        return made

    class World:
        pass

    w = World()
    w.opened = opened
    w.host, w.chain, w.clock, w.exits, w.indexer, w.probes, w.daemon, w.tmp = (
        host,
        chain,
        clock,
        exits,
        indexer,
        probes,
        daemon,
        tmp_path,
    )
    return w


def _up(daemon, exit_=OPERATORS[0].address, **options):
    return daemon.up(UpRequest(exit=exit_, interface=IFACE, max_pay="0.01", **options))


def _tick(world, daemon, seconds: float = 1.0, times: int = 1):
    for _ in range(times):
        world.clock.now += seconds
        daemon.tick()


def test_up_brings_up_the_tunnel_routes_kill_switch_and_dns_and_saves_what_to_undo(world):
    daemon = world.daemon()
    state = _up(daemon)
    assert state["status"] == "connected" and state["session"] == 0 and state["exit"] == OPERATORS[0].address
    interface = world.host.interfaces[IFACE]
    assert list(interface.peers) == [exit_key(0)] and interface.addresses == ["10.77.0.2/16"] and interface.up
    assert (
        interface.peers[exit_key(0)]["allowed"] == "0.0.0.0/0"
        and interface.peers[exit_key(0)]["endpoint"] == ENDPOINTS[0]
    )
    assert {
        "0.0.0.0/1 dev ovpn0",
        "128.0.0.0/1 dev ovpn0",
        "198.51.100.2/32 via 192.0.2.1 dev eth0",
        "10.254.0.1/32 via 192.0.2.1 dev eth0",
    } == world.host.routes
    rules = world.host.tables["octravpn_ks_ovpn0"]
    assert (
        "ip daddr 198.51.100.2 udp dport 51820 accept" in rules and "ip daddr 10.254.0.1 tcp dport 8545 accept" in rules
    )
    assert "ip daddr 10.254.0.1 tcp dport 8787 accept" in rules  # the indexer, for a failover's choice
    assert (world.tmp / "resolv.conf").read_text().endswith("nameserver 203.0.113.53\n")
    assert world.chain.sessions[0].deposit == 10**16 and world.chain.sessions[0].opener == DEVICE.address
    saved = service.DaemonState.load(daemon.settings.state_path)
    assert saved.connection.session_id == 0 and saved.host.kill_switch_table == "octravpn_ks_ovpn0"
    assert saved.prefs["exit"] == OPERATORS[0].address
    with pytest.raises(Conflict, match="already up"):
        _up(daemon)


def test_an_unregistered_device_is_told_exactly_what_to_run(world):
    world.chain.devices.clear()
    daemon = world.daemon()
    with pytest.raises(NotRegistered, match=f"octravpn -w WALLET device add {DEVICE.address} --fund") as refused:
        _up(daemon)
    assert refused.value.detail == {"device": DEVICE.address}
    assert not world.host.interfaces and not world.chain.sessions


def test_receipts_are_signed_for_what_this_side_saw_and_no_more(world):
    daemon = world.daemon()
    _up(daemon)
    world.host.traffic(IFACE, rx=3_000_000, tx=1_000_000)
    world.exits.ask(0, 1, 3_500_000)
    _tick(world, daemon)
    world.exits.ask(0, 2, 50_000_000)  # far more than was carried
    _tick(world, daemon)
    signed = world.exits.receipts[0]
    assert [r["bytes_used"] for r in signed] == [3_500_000, 4_000_000 + 1_000_000 + 400_000]  # seen + leeway + 10 %
    receipt = Receipt(session_id=0, seq=2, bytes_used=signed[1]["bytes_used"])
    assert recover(DOMAIN, receipt, bytes.fromhex(signed[1]["signature"][2:])) == DEVICE.address  # the device key signs
    status = daemon.status()
    assert (status["receipts_signed"], status["signed_bytes"], status["measured_bytes"]) == (2, 5_400_000, 4_000_000)
    assert status["tunnel"]["rx_bytes"] == 3_000_000 and status["tunnel"]["receiving"] is True


def test_status_is_served_from_memory_while_chain_and_exit_are_gone(world):
    daemon = world.daemon()
    _up(daemon)
    world.chain.down, world.exits.gone = True, {0}
    calls = len(world.host.calls)
    status = daemon.status()
    assert status["status"] == "connected" and len(world.host.calls) == calls


def test_a_named_exit_that_stops_answering_is_reported_and_kept(world):
    daemon = world.daemon()
    _up(daemon)
    world.exits.gone.add(0)
    _tick(world, daemon, times=3)
    assert daemon.status()["status"] == "connected"  # not yet: a few seconds of silence are normal
    assert world.probes == [("10.77.0.1", IFACE)] * 2  # quiet, API failing: the tunnel is probed
    _tick(world, daemon, times=4)
    status = daemon.status()
    assert status["status"] == "exit-unreachable" and status["exit_unreachable_since"] == NOW
    assert "has not answered since" in status["last_error"] and "ConnectTimeout" in status["last_error"]
    assert status["exit"] == OPERATORS[0].address and len(world.chain.sessions) == 1  # no failover for a named exit
    world.exits.gone.clear()
    _tick(world, daemon)
    assert daemon.status()["status"] == "connected" and daemon.status()["last_error"] is None


def test_an_exit_whose_tunnel_still_carries_is_not_dead(world):
    """The exit's agent is gone but its WireGuard answers the probes: the tunnel works, so no failover."""
    daemon = world.daemon()
    _up(daemon, exit_="auto")
    world.exits.gone.add(0)
    for _ in range(10):
        world.host.traffic(IFACE, rx=120)  # the probe's answer
        _tick(world, daemon)
    assert daemon.status()["status"] == "connected" and daemon.status()["failovers"] == 0


def test_exit_auto_fails_over_opening_the_kill_switch_for_the_new_exit_before_joining_it(world):
    daemon = world.daemon()
    _up(daemon, exit_="auto")
    world.host.traffic(IFACE, rx=2_000_000)
    world.exits.ask(0, 1, 2_000_000)
    _tick(world, daemon)
    world.exits.gone.add(0)
    joined_at = {}
    original = world.exits.call

    def watch(base_url, method, path, body, headers=None):
        if path in ("/v1/peers", "/v1/peers/opening") and base_url.endswith(ENDPOINTS[1]):
            joined_at["rules"] = world.host.tables["octravpn_ks_ovpn0"]
            joined_at["routes"] = set(world.host.routes)
        return original(base_url, method, path, body, headers)

    world.exits.call = watch
    _tick(world, daemon, times=7)
    status = daemon.status()
    assert status["status"] == "connected" and status["exit"] == OPERATORS[1].address and status["session"] == 1
    # When the new exit was asked to add us, its hole in the kill switch and its route were already there.
    assert "ip daddr 198.18.0.2 udp dport 51820 accept" in joined_at["rules"]
    assert "198.18.0.2/32 via 192.0.2.1 dev eth0" in joined_at["routes"]
    # Now the old exit's hole and route are closed; the interface moved to the new exit.
    rules = world.host.tables["octravpn_ks_ovpn0"]
    assert "198.51.100.2" not in rules and "ip daddr 198.18.0.2 udp dport 51820 accept" in rules
    assert "198.51.100.2/32 via 192.0.2.1 dev eth0" not in world.host.routes
    assert list(world.host.interfaces[IFACE].peers) == [exit_key(1)]
    # The second exit gave another address: the old one went first, and the tunnel's routes are back.
    assert world.host.interfaces[IFACE].addresses == ["10.77.0.3/16"] and status["address"] == "10.77.0.3/16"
    assert {"0.0.0.0/1 dev ovpn0", "128.0.0.0/1 dev ovpn0"} <= world.host.routes
    assert status["last_failover"]["from"] == OPERATORS[0].address and status["last_failover"]["old_session"] == 0
    assert status["ending"] == [
        {
            "session": 0,
            "exit": OPERATORS[0].address,
            "reason": "failover",
            "figure": 2_000_000,
            "confirmed": None,
            "exit_told": False,  # it was unreachable: the chain loop tells it again
        }
    ]
    # The old exit claims more than was signed: the daemon confirms its own figure (a dispute); the exit can
    # still settle with the receipt.
    from octravpn.chain.records import ClaimRecord

    world.chain.claims[0] = ClaimRecord(is_set=True, bytes_used=9_000_000, claimed_at=NOW)
    daemon.chain_step()
    assert world.chain.confirmed == {0: 2_000_000} and daemon.status()["ending"][0]["confirmed"] == 2_000_000
    world.chain.settle(0, 2_000_000)
    world.clock.now += 10
    daemon.chain_step()
    status = daemon.status()
    assert status["ending"] == [] and status["settled"][0]["status"] == "settled"
    assert status["settled"][0]["reason"] == "failover"


def test_an_abandoned_session_nobody_settles_comes_back_after_the_grace(world):
    daemon = world.daemon()
    _up(daemon, exit_="auto")
    world.exits.gone.add(0)
    _tick(world, daemon, times=7)
    assert daemon.status()["ending"][0]["session"] == 0
    daemon.chain_step()
    assert world.chain.no_shows == []  # not before the grace
    world.chain.now += 3600
    world.clock.now += 10
    daemon.chain_step()
    assert world.chain.no_shows == [0] and daemon.status()["settled"][0]["status"] == "refunded"


def test_a_restarted_daemon_resumes_the_session_without_touching_the_network(world):
    daemon = world.daemon()
    _up(daemon)
    world.host.traffic(IFACE, rx=1_000_000)
    world.exits.ask(0, 1, 1_000_000)
    _tick(world, daemon)
    calls = len(world.host.calls)
    again = world.daemon()  # the old one was killed: no clean-up ran
    assert [c for c in world.host.calls[calls:] if c[:2] != ["wg", "show"]] == []
    status = again.status()
    assert (status["status"], status["session"], status["signed_bytes"]) == ("connected", 0, 1_000_000)
    world.host.traffic(IFACE, rx=1_000_000)
    world.exits.ask(0, 2, 2_000_000)
    _tick(world, again)
    assert [r["bytes_used"] for r in world.exits.receipts[0]] == [1_000_000, 2_000_000]


def test_a_vanished_interface_rejoins_the_same_session_with_a_new_key(world):
    daemon = world.daemon()
    _up(daemon)
    world.host.traffic(IFACE, rx=1_000_000)
    _tick(world, daemon)
    first_key = world.exits.peers[0][0]
    world.host.run(["ip", "link", "del", "dev", IFACE])  # wireguard-go died, or someone deleted the link
    _tick(world, daemon)
    assert len(world.exits.peers[0]) == 2 and world.exits.peers[0][1] != first_key
    assert IFACE in world.host.interfaces and "0.0.0.0/1 dev ovpn0" in world.host.routes
    assert daemon.status()["session"] == 0 and daemon.counters["rejoins"] == 1
    world.host.traffic(IFACE, rx=500_000)  # counters start again on the new interface: the total carries on
    _tick(world, daemon)
    assert daemon.status()["measured_bytes"] == 1_500_000


def test_a_new_session_joins_with_its_open_transaction_and_is_open_once_mined(world):
    """`up` sends the open and joins at once, showing the exit the transaction (no block to wait for); the
    chain loop then finds it mined and takes the chain's terms."""
    daemon = world.daemon()
    state = _up(daemon)
    assert state["status"] == "connected" and world.exits.openings == [0]
    assert daemon.status()["session_status"] == "opening"
    daemon.chain_step()
    assert daemon.status()["session_status"] == "open"
    assert service.DaemonState.load(daemon.settings.state_path).connection.open_tx is None


def test_an_exit_that_waits_for_the_block_is_joined_once_the_open_is_mined(world):
    """An exit that takes no opening (or one from before them: a 404) gets the ordinary join after the block."""
    daemon = world.daemon()
    original = world.exits.call
    asked = []

    def refuse_openings(base_url, method, path, body, headers=None):
        asked.append(path)
        if path == "/v1/peers/opening":
            raise ExitAPIError(409, "this exit serves no session before its open is mined: wait for the block")
        return original(base_url, method, path, body, headers)

    world.exits.call = refuse_openings
    state = _up(daemon)
    assert state["status"] == "connected" and asked == ["/v1/peers/opening", "/v1/peers"]
    assert daemon.status()["session_status"] == "open"


def test_a_chain_outage_is_said_with_its_start_retried_with_backoff_and_cleared(world):
    daemon = world.daemon()
    _up(daemon)
    world.chain.down = True
    daemon.chain_step()
    status = daemon.status()
    assert status["chain"]["reachable"] is False and status["chain"]["unreachable_since"] == NOW
    assert "no answer within the RPC timeout" in status["chain"]["error"]
    waits = []
    for _ in range(5):
        waits.append(daemon.chain_loop.backoff.next_at - world.clock.now)
        world.clock.now = daemon.chain_loop.backoff.next_at
        daemon.chain_step()
    assert waits == [5.0, 10.0, 20.0, 30.0, 30.0]
    world.chain.down = False
    world.clock.now = daemon.chain_loop.backoff.next_at
    daemon.chain_step()
    assert daemon.status()["chain"] == {"reachable": True, "error": None, "unreachable_since": None}
    assert daemon.status()["status"] == "connected"  # the tunnel never depended on it


def test_down_signs_the_last_receipt_restores_the_host_and_reports_the_settlement(world):
    daemon = world.daemon()
    _up(daemon)
    world.host.traffic(IFACE, rx=2_000_000)
    world.exits.ask(0, 1, 2_000_000)
    world.chain.settle(0, 2_000_000)  # the exit settles with that receipt as soon as it is signed
    down = daemon.down(settle_wait=5, end=True)
    assert world.exits.left == [0] and down["signed_bytes"] == 2_000_000
    assert down["settlement"]["status"] == "settled" and down["settlement"]["bytes_used"] == 2_000_000
    assert down["settlement"]["paid"]["base_units"] == 2_000_000 * 2 * 10**12 // 10**6
    assert world.host.interfaces == {} and world.host.tables == {} and world.host.routes == set()
    assert (world.tmp / "resolv.conf").read_text() == "nameserver 192.0.2.1\n"
    assert daemon.status()["status"] == "down"
    with pytest.raises(Conflict, match="not connected"):
        daemon.down(settle_wait=0)


def test_down_leaves_the_session_open_and_up_rejoins_it_with_no_transaction(world):
    """Pay once, connect many times: `down` signs the last receipt and leaves the session open at the exit; the
    next `up` to that exit joins it again with a new key, its receipts numbered on, and sends no transaction."""
    daemon = world.daemon()
    _up(daemon)
    world.host.traffic(IFACE, rx=2_000_000)
    world.exits.ask(0, 1, 2_000_000)
    _tick(world, daemon)
    down = daemon.down(settle_wait=0)
    assert world.exits.parked == [0] and world.exits.left == [] and down["left_open"]["keep_alive"] == 86400
    assert world.host.interfaces == {} and world.host.tables == {}
    status = daemon.status()
    assert status["status"] == "down" and status["ending"] == []
    assert [(s["session"], s["signed_bytes"]) for s in status["left_open"]] == [(0, 2_000_000)]
    sessions = len(world.chain.sessions)
    again = _up(daemon)
    assert again["session"] == 0 and len(world.chain.sessions) == sessions  # no new session
    assert again["signed_bytes"] == 2_000_000 and again["left_open"] == [] and again["keep_alive"] == 86400
    assert len(world.exits.peers[0]) == 2  # a new key for the same session
    world.host.traffic(IFACE, rx=1_000_000)  # the new interface counts from zero, on top of what was measured
    world.exits.ask(0, 2, 3_000_000)
    _tick(world, daemon)
    assert world.exits.receipts[0][-1]["bytes_used"] == 3_000_000 and world.exits.receipts[0][-1]["seq"] == 2


def test_a_device_the_exit_left_idle_joins_again_with_the_key_it_has(world):
    """Asleep past the exit's idle timeout: the exit left the session open and took the key away. Back, the
    device is told so when it reads its receipt request, and joins again with its interface's key: no new
    session, nothing on the host changes."""
    daemon = world.daemon()
    _up(daemon)
    interface = dict(vars(world.host.interfaces[IFACE]))
    world.exits.parked_here.add(0)
    _tick(world, daemon)
    assert world.exits.peers[0] == [world.exits.peers[0][0]] * 2 and len(world.chain.sessions) == 1
    assert daemon.counters["rejoins"] == 1 and vars(world.host.interfaces[IFACE]) == interface
    _tick(world, daemon)
    assert daemon.status()["status"] == "connected" and daemon.status()["last_error"] is None


def test_down_up_down_in_one_second_leaves_the_session_open_both_times(world):
    """Two requests to leave a session open in the same second once signed the same message, which the exit
    refused as a replay: the second `down` then ended the session."""
    daemon = world.daemon()
    _up(daemon)
    daemon.down(settle_wait=0)
    _up(daemon)
    assert "left_open" in daemon.down(settle_wait=0) and world.exits.parked == [0, 0] and world.exits.left == []


def test_a_session_left_open_outlives_a_restart_of_the_daemon(world):
    daemon = world.daemon()
    _up(daemon)
    daemon.down(settle_wait=0)
    restarted = world.daemon()
    assert [s["session"] for s in restarted.status()["left_open"]] == [0]
    assert _up(restarted)["session"] == 0 and len(world.chain.sessions) == 1


def test_exit_auto_prefers_an_exit_with_a_session_left_open(world):
    """The dearer exit, with a session paid for already, before the cheaper one with a new transaction."""
    daemon = world.daemon()
    _up(daemon, exit_=OPERATORS[1].address)
    daemon.down(settle_wait=0)
    assert _up(daemon, exit_="auto")["exit"] == OPERATORS[1].address and len(world.chain.sessions) == 1
    daemon.down(settle_wait=0, end=True)
    assert _up(daemon, exit_="auto")["exit"] == OPERATORS[0].address  # none left open: the best by price


def test_a_session_left_open_ends_when_its_keep_alive_passes_or_when_the_user_says(world):
    daemon = world.daemon()
    _up(daemon, keep_alive=600)
    daemon.down(settle_wait=0)
    _tick(world, daemon, seconds=599)
    assert daemon.status()["left_open"] and world.exits.left == []
    _tick(world, daemon, seconds=2)
    assert daemon.status()["left_open"] == [] and world.exits.left == [0]
    assert daemon.status()["ending"][0]["reason"] == "keep-alive"
    _up(daemon)  # a new session: the old one is ending
    assert daemon.status()["session"] == 1
    daemon.down(settle_wait=0)
    with pytest.raises(Conflict, match="no session 7 left open"):
        daemon.end_sessions(7, settle_wait=0)
    ended = daemon.end_sessions(None, settle_wait=0)
    assert [e["session"] for e in ended["ended"]] == [1] and world.exits.left == [0, 1]
    _up(daemon, keep_alive=0)  # no keep-alive: `down` ends the session
    assert daemon.down(settle_wait=0)["settlement"]["status"] == "open" and world.exits.left == [0, 1, 2]


def test_up_opens_anew_when_the_session_left_open_cannot_be_rejoined(world):
    """Ended on chain (its exit settled it), or with too little of its term left: the next `up` opens a new
    session, and the old one is settled as left."""
    daemon = world.daemon()
    _up(daemon)
    daemon.down(settle_wait=0)
    world.chain.settle(0, 0)
    daemon.chain_step()
    assert daemon.status()["left_open"] == [] and "settled on chain" in daemon.status()["settled"][-1]["reason"]
    assert _up(daemon)["session"] == 1
    daemon.down(settle_wait=0)
    world.chain.now += 3600 - 899  # under 15 minutes of its term left
    assert _up(daemon)["session"] == 2


def test_a_rejoin_the_exit_does_not_answer_keeps_the_session_for_the_next_up(world):
    """Offline for a moment: the session stays left open (no new transaction next time); an exit that refuses
    it (it ended the session) has it settled, and the next `up` opens anew."""
    daemon = world.daemon()
    _up(daemon)
    daemon.down(settle_wait=0)
    world.exits.gone.add(0)
    with pytest.raises(exit_api.ExitAPIError, match="did not answer"):
        _up(daemon)
    assert [s["session"] for s in daemon.status()["left_open"]] == [0]
    world.exits.gone.discard(0)
    assert _up(daemon)["session"] == 0 and len(world.chain.sessions) == 1
    daemon.down(settle_wait=0)
    world.exits.refuse_peers = "session 0 was ended by the exit (cut): open a new session"
    with pytest.raises(exit_api.ExitAPIError, match="ended by the exit"):
        _up(daemon)
    status = daemon.status()
    assert status["left_open"] == [] and status["ending"][0]["session"] == 0
    world.exits.refuse_peers = None
    assert _up(daemon)["session"] == 1


def test_down_end_while_down_ends_the_sessions_left_open(world):
    daemon = world.daemon()
    _up(daemon)
    daemon.down(settle_wait=0)
    ended = daemon.down(settle_wait=0, end=True)
    assert [e["session"] for e in ended["ended"]] == [0] and world.exits.left == [0]
    with pytest.raises(Conflict, match="not connected"):
        daemon.down(settle_wait=0, end=True)


def test_an_exit_that_did_not_hear_a_session_end_is_told_again_when_it_is_back(world):
    """Gone during `down --end` (or a failover), the exit would keep the session open for its keep-alive, the
    deposit locked meanwhile: the chain loop tells it again every 30 s until it hears it."""
    daemon = world.daemon()
    _up(daemon)
    world.exits.gone.add(0)
    daemon.down(settle_wait=0, end=True)
    assert daemon.status()["ending"][0]["exit_told"] is False and world.exits.left == []
    daemon.chain_step()  # still gone
    world.exits.gone.discard(0)
    world.clock.now += 10
    daemon.chain_step()
    assert world.exits.left == []  # not yet: it was tried 10 s ago
    world.clock.now += 21
    daemon.chain_step()
    assert world.exits.left == [0] and daemon.status()["ending"][0]["exit_told"] is True


def test_down_with_the_exit_gone_leaves_the_session_to_the_chain_loop(world):
    daemon = world.daemon()
    _up(daemon)
    world.exits.gone.add(0)
    down = daemon.down(settle_wait=2)
    assert down["settlement"]["status"] == "open" and "daemon confirms" in down["settlement"]["note"]
    assert daemon.status()["ending"][0]["reason"] == "down" and world.host.interfaces == {}
    assert "leaving" in service.DaemonState.load(daemon.settings.state_path).last_error


def test_consent_is_signed_by_the_device_key_for_the_wallet_named(world):
    from octravpn.protocol import Device

    answer = world.daemon().consent(MEMBER.address)
    assert answer["device"] == DEVICE.address
    assert recover(DOMAIN, Device(wallet=MEMBER.address), bytes.fromhex(answer["signature"][2:])) == DEVICE.address


def test_an_up_that_fails_halfway_leaves_nothing_behind(world):
    """The interface is made while the session opens; the exit then does not answer: all of it is undone."""
    daemon = world.daemon()
    world.exits.gone.add(0)
    with pytest.raises(exit_api.ExitAPIError, match="did not answer"):
        _up(daemon)
    assert world.host.interfaces == {} and world.host.tables == {} and world.host.routes == set()
    status = daemon.status()
    assert status["status"] == "down" and "could not connect" in status["last_error"]
    assert service.DaemonState.load(daemon.settings.state_path).host is None


def test_a_session_opened_for_an_up_that_failed_is_ended_and_its_deposit_comes_back(world):
    """The open was sent, then the exit did not answer: the session is not left locked with nobody connected.
    It is ended like one left behind: `status` shows it, the exit is told once it answers, and after the
    grace the daemon takes the deposit back. (Before: nothing held it, and `down` said there was nothing.)"""
    daemon = world.daemon()
    world.exits.gone.add(0)
    with pytest.raises(exit_api.ExitAPIError, match="did not answer"):
        _up(daemon)
    status = daemon.status()
    assert "session 0 was opened for it and is being ended" in status["last_error"]
    assert [(e["session"], e["reason"], e["exit_told"]) for e in status["ending"]] == [(0, "up failed", False)]
    world.exits.gone.clear()
    original = world.exits.call

    def full_disk(base_url, method, path, body, headers=None):  # the exit answers, but cannot store the end
        if path.endswith("/close"):
            raise exit_api.ExitAPIError(503, "the exit cannot write its store right now (try another exit)")
        return original(base_url, method, path, body, headers)

    world.exits.call = full_disk
    world.clock.now += 60
    daemon.chain_step()
    assert not daemon.status()["ending"][0]["exit_told"]  # a 503 is no answer: told again later
    world.exits.call = original
    world.clock.now += 60
    daemon.chain_step()
    assert world.exits.left == [0] and daemon.status()["ending"][0]["exit_told"]
    world.clock.now = world.chain.sessions[0].settle_by
    world.chain.now = world.clock.now
    world.clock.now += 60
    daemon.chain_step()
    assert world.chain.no_shows == [0]
    assert daemon.status()["settled"][-1]["status"] == "refunded" and daemon.status()["ending"] == []


def test_status_tells_the_handshakes_age_as_of_now(world):
    daemon = world.daemon()
    _up(daemon)
    (peer,) = world.host.interfaces[IFACE].peers.values()
    peer["handshake"] = NOW + 1
    _tick(world, daemon)  # the clock is now NOW + 1
    world.clock.now += 30
    assert daemon.status()["tunnel"]["handshake_age_s"] == 30.0
    assert "handshake_age_s" not in daemon.shown["tunnel"]  # not part of what wakes watchers


def test_preferences_change_in_place_and_outlive_a_restart(world):
    daemon = world.daemon()
    _up(daemon)
    with pytest.raises(Exception, match="must be bool"):
        daemon.set_preferences({"kill_switch": "off"})
    daemon.set_preferences({"kill_switch": False, "accept_dns": False, "leeway_mb": 0})
    assert world.host.tables == {} and (world.tmp / "resolv.conf").read_text() == "nameserver 192.0.2.1\n"
    assert "0.0.0.0/1 dev ovpn0" in world.host.routes  # still through the tunnel
    world.host.traffic(IFACE, rx=1_000_000)
    world.exits.ask(0, 1, 5_000_000)
    _tick(world, daemon)
    assert world.exits.receipts[0][-1]["bytes_used"] == 1_100_000  # no leeway now: seen + 10 %
    again = world.daemon()  # preferences are part of the saved state
    assert again.state.prefs["kill_switch"] is False and again.state.prefs["leeway_mb"] == 0
    again.set_preferences({"kill_switch": True, "accept_dns": True})
    assert "ip daddr 198.51.100.2 udp dport 51820 accept" in world.host.tables["octravpn_ks_ovpn0"]
    assert (world.tmp / "resolv.conf").read_text().endswith("nameserver 203.0.113.53\n")
    again.down(settle_wait=0)
    assert (world.tmp / "resolv.conf").read_text() == "nameserver 192.0.2.1\n" and world.host.tables == {}
    with pytest.raises(Conflict, match="not connected"):
        again.set_preferences({"kill_switch": False})


def test_an_exit_that_refuses_is_there_and_is_not_failed_over(world, monkeypatch):
    """A 4xx (say, for a session the exit ended) is an answer: the exit is alive, so no failover."""
    daemon = world.daemon()
    _up(daemon, exit_="auto")
    original = world.exits.call

    def refusing(base_url, method, path, body, headers=None):
        if path.endswith("/receipt-request"):
            raise exit_api.ExitAPIError(409, "session 0 was ended by the exit (cut)")
        return original(base_url, method, path, body, headers)

    world.exits.call = refusing
    _tick(world, daemon, times=10)
    status = daemon.status()
    assert status["status"] == "connected" and status["failovers"] == 0 and "ended by the exit" in status["last_error"]
    world.exits.call = original
    _tick(world, daemon)
    assert daemon.status()["last_error"] is None


def test_the_connection_the_chain_loop_and_the_mesh_share_one_chain_client(world):
    daemon = world.daemon()
    _up(daemon)
    daemon.chain_step()
    daemon.mesh.step()
    assert len(world.opened) == 1


def test_a_rejoin_needs_neither_the_chain_nor_an_indexer(world):
    daemon = world.daemon()
    _up(daemon)
    world.chain.down = True
    world.host.run(["ip", "link", "del", "dev", IFACE])
    _tick(world, daemon)
    assert (
        daemon.status()["status"] == "connected" and daemon.counters["rejoins"] == 1 and IFACE in world.host.interfaces
    )


def test_a_daemon_stopped_in_the_middle_of_down_finishes_it_when_it_starts(world):
    daemon = world.daemon()
    _up(daemon)

    def killed(**_):
        raise KeyboardInterrupt  # the daemon is killed while it tells the exit it leaves

    daemon.exit._leave_exit = killed
    with pytest.raises(KeyboardInterrupt):
        daemon.down(settle_wait=0)
    assert service.DaemonState.load(daemon.settings.state_path).status == "disconnecting"
    again = world.daemon()
    status = again.status()
    assert (
        status["status"] == "down" and status["ending"][0]["session"] == 0 and status["ending"][0]["reason"] == "down"
    )
    assert world.host.interfaces == {} and world.host.tables == {}
    assert (world.tmp / "resolv.conf").read_text() == "nameserver 192.0.2.1\n"
    _up(again)  # and it can go up again
