"""A full disk at the exit, for real: its store on a small tmpfs filled to the last byte (ENOSPC).

A reading the store cannot keep changes nothing (once, each failed tick added the same bytes again: 2.65 GB
stored after 62 MB carried); a client lagging in signing is still cut; a new client gets a 503 that says why;
once space is back the bytes are counted once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from octravpn.node.api import create_app
from octravpn.node.store import NodeStore
from tests.fakehost import FakeHost
from tests.node.fakes import EXIT_KEYS, _body
from tests.node.test_metering_and_receipts import CLIENT, MB, Counters, exit_parts


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs, unmounted after the test (whatever it leaves in it goes with it)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def _fill(mount: Path) -> Path:
    """Take every free byte of the filesystem; the file that holds them."""
    filler = mount / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    return filler


@pytest.fixture
def exit_on_small_disk(small_disk):
    """An exit whose store is on the small disk, its client (session 7) joined: `start(**meter_options)` gives
    its host, store, handshake service and meters; the store is closed after the test."""
    stores = []

    def start(**meter_options):
        host, store = FakeHost(), NodeStore(small_disk / "node.db")
        stores.append(store)
        host.interface("ovpn0", EXIT_KEYS.private_b64, address="10.77.0.1/24")
        handshake, meters = exit_parts(host, store, **meter_options)
        TestClient(create_app(handshake)).post("/v1/peers", json=_body())
        return host, store, handshake, meters

    yield start
    for store in stores:
        store.close()


def test_a_reading_the_store_cannot_keep_changes_nothing_and_counts_once_when_space_is_back(
    small_disk, exit_on_small_disk
):
    host, store, handshake, meters = exit_on_small_disk(receipt_every=100 * MB, max_unsigned=100 * MB)
    counters = Counters(host)
    counters.rx = 3 * MB
    meters.tick()
    assert store.stored_session(7).measured_bytes == 3 * MB

    filler = _fill(small_disk)
    for carried in (5 * MB, 9 * MB, 14 * MB):  # three readings the store cannot keep
        counters.rx = carried
        assert meters.tick() == []
        assert store.stored_session(7).measured_bytes == 3 * MB and meters.store_error is not None
    assert meters.store_failures == 1  # one episode, said once
    # A new client is refused with the reason, and nothing is stored of it.
    other = _body(session_id=10, key=b"\x77" * 32)
    handshake.chain.sessions[10] = handshake.chain.sessions[7]
    response = TestClient(create_app(handshake)).post("/v1/peers", json=other)
    assert response.status_code == 503 and "cannot write its store" in response.json()["error"]

    filler.unlink()
    meters.tick()
    assert store.stored_session(7).measured_bytes == 14 * MB  # counted once, not once per failed tick
    assert meters.store_error is None


def test_a_client_lagging_in_signing_is_cut_while_the_store_cannot_record_it(small_disk, exit_on_small_disk):
    host, store, _, meters = exit_on_small_disk(receipt_every=10 * MB, max_unsigned=25 * MB)
    counters = Counters(host)
    filler = _fill(small_disk)
    counters.rx = 40 * MB  # far beyond --max-unsigned, and no receipt
    meters.tick()
    assert host.interfaces["ovpn0"].peers[CLIENT.public_b64]["allowed"] == "(none)"  # it carries nothing now
    assert store.stored_session(7).state == "active"  # the store could not say so yet
    filler.unlink()
    (cut,) = meters.tick()
    assert cut[0] == 7 and store.stored_session(7).state == "cut"
    assert CLIENT.public_b64 not in host.interfaces["ovpn0"].peers
