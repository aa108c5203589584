import ipaddress
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from octravpn.node.store import NodeStore, StoreError
from octravpn.protocol import Receipt

OPENER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
POOL = ipaddress.ip_network("10.77.0.0/29")  # hosts .1 - .6


@pytest.fixture
def store(tmp_path):
    opened = NodeStore(tmp_path / "node.db")
    yield opened
    opened.close()


def _add(store, session_id, deposit=10**19):
    store.add_session(
        session_id=session_id,
        tailnet_id=0,
        opener=OPENER,
        deposit=deposit,
        price_per_mb=2 * 10**12,
        wg_pubkey=bytes([session_id]) * 32,
        opened_at=1_800_000_000,
    )


def test_sessions_round_trip_with_uint256_amounts(store):
    _add(store, 1, deposit=2**200)
    _add(store, 1, deposit=5)  # idempotent: the first record stays
    record = store.session(1)
    assert record.deposit == 2**200 and record.state == "active" and record.measured_bytes == 0
    store.update_measured(1, 10**12)
    store.set_state(1, "cut")
    assert store.session(1).measured_bytes == 10**12
    assert [s.session_id for s in store.sessions("cut")] == [1]
    assert store.session(2) is None


def test_measured_bytes_never_decrease_and_unknown_sessions_are_refused(store):
    _add(store, 1)
    store.update_measured(1, 100)
    with pytest.raises(StoreError, match="cannot decrease"):
        store.update_measured(1, 99)
    with pytest.raises(StoreError, match="unknown session 9"):
        store.update_measured(9, 1)
    with pytest.raises(StoreError, match="unknown session state"):
        store.set_state(1, "paused")
    with pytest.raises(StoreError, match="unknown session 9"):
        store.set_state(9, "cut")


def test_receipts(store):
    _add(store, 1)
    assert store.latest_receipt(1) is None
    store.save_receipt(Receipt(session_id=1, seq=1, bytes_used=10), b"s1")
    store.save_receipt(Receipt(session_id=1, seq=2, bytes_used=2**70), b"s2")
    assert store.latest_receipt(1) == (Receipt(session_id=1, seq=2, bytes_used=2**70), b"s2")
    with pytest.raises(StoreError, match="duplicate or for an unknown session"):
        store.save_receipt(Receipt(session_id=1, seq=2, bytes_used=11), b"again")
    with pytest.raises(StoreError, match="duplicate or for an unknown session"):
        store.save_receipt(Receipt(session_id=9, seq=1, bytes_used=1), b"x")
    assert store.receipt_count(1) == 2


def test_a_session_settles_once_even_across_restarts(tmp_path):
    first = NodeStore(tmp_path / "node.db")
    _add(first, 1)
    assert first.begin_settlement(1, method="receipt", bytes_used=500, seq=3)
    first.record_settlement_tx(1, "0xabc")
    first.close()

    again = NodeStore(tmp_path / "node.db")  # the agent restarted before the tx was confirmed
    assert again.begin_settlement(1, method="claim", bytes_used=900) is False
    (pending,) = again.pending_settlements()
    assert (pending.method, pending.seq, pending.bytes_used, pending.tx_hash, pending.confirmed) == (
        "receipt",
        3,
        500,
        "0xabc",
        False,
    )
    again.confirm_settlement(1)
    assert again.pending_settlements() == [] and again.session(1).state == "settled"
    with pytest.raises(StoreError, match="cannot settle session 9"):
        again.begin_settlement(9, method="claim", bytes_used=1)
    again.close()


def test_tunnel_addresses(store):
    for session_id in range(1, 7):
        _add(store, session_id)
    assert store.allocate_address(1, POOL, reserved=("10.77.0.1",)) == "10.77.0.2"
    assert store.allocate_address(1, POOL, reserved=("10.77.0.1",)) == "10.77.0.2"  # stable
    assert [store.allocate_address(i, POOL, reserved=("10.77.0.1",)) for i in (2, 3, 4, 5)] == [
        "10.77.0.3",
        "10.77.0.4",
        "10.77.0.5",
        "10.77.0.6",
    ]
    with pytest.raises(StoreError, match="exhausted"):
        store.allocate_address(6, POOL, reserved=("10.77.0.1",))
    store.set_state(3, "settled")  # its address is free again
    assert store.allocate_address(6, POOL, reserved=("10.77.0.1",)) == "10.77.0.4"
    assert store.session(3).tunnel_address is None


CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from octravpn.node.store import NodeStore
    from octravpn.protocol import Receipt
    store = NodeStore(Path(sys.argv[1]))
    store.add_session(session_id=1, tailnet_id=0, opener="0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                      deposit=1, price_per_mb=1, wg_pubkey=b"k" * 32, opened_at=0)
    seq = 0
    while True:
        seq += 1
        store.save_receipt(Receipt(session_id=1, seq=seq, bytes_used=seq * 1000), b"sig%d" % seq)
        print(seq, flush=True)  # acknowledged only once saved
""")


def test_kill_9_loses_no_acknowledged_receipt(tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "node.db")], stdout=subprocess.PIPE, text=True
    )
    watchdog = threading.Timer(30, child.kill)  # bounded in time as well as in count
    watchdog.start()
    acknowledged = 0
    try:
        for line in child.stdout:
            acknowledged = int(line)
            if acknowledged >= 200:
                break
    finally:
        watchdog.cancel()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert acknowledged >= 200
    reopened = NodeStore(tmp_path / "node.db")
    latest, signature = reopened.latest_receipt(1)
    assert latest.seq >= acknowledged and signature == b"sig%d" % latest.seq
    assert reopened.receipt_count(1) == latest.seq  # no gaps
    reopened.close()


def test_a_database_of_the_previous_version_is_upgraded_in_place(tmp_path):
    import sqlite3

    from octravpn.node.store import _MIGRATIONS

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:  # what a node of the previous release left behind
        for number, script in enumerate(_MIGRATIONS[:2], start=1):
            old.executescript(f"BEGIN; {script} PRAGMA user_version = {number}; COMMIT;")
        old.execute(
            "INSERT INTO sessions (session_id, tailnet_id, opener, deposit, price_per_mb, wg_pubkey, state, "
            "measured_bytes, opened_at) VALUES (4, 0, '0xabc', '100', '2', x'01', 'cut', '77', 5)"
        )
        old.execute("INSERT INTO receipts VALUES (4, 1, '70', x'02', 6)")
    store = NodeStore(path)
    record = store.session(4)
    assert (record.state, record.measured_bytes, record.wg_counter) == ("cut", 77, 0)
    assert store.latest_receipt(4)[0].bytes_used == 70 and store.latest_request(4) is None
    assert store.begin_settlement(4, method="claim", bytes_used=77)
    store.confirm_settlement(4, state="claimed")  # the new state fits the rebuilt table
    assert store.session(4).state == "claimed"
    store.save_request(4, 2, 77)
    with pytest.raises(StoreError):
        store.save_request(4, 2, 78)  # a seq is issued once
    assert store.latest_request(4) == (2, 77)
    store.close()
