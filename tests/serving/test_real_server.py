"""The attack from the field, against a real server process: 100,000 nested `[` once crashed the
exit with a segmentation fault (an imported library had raised the recursion limit, the JSON decoder ran
past the C stack). The server must answer 4xx and stay up."""

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from octravpn.chain.devnet import free_port

ROOT = Path(__file__).parents[2]


def test_importing_the_servers_and_the_cli_keeps_the_interpreters_recursion_limit():
    code = (
        "import sys; before = sys.getrecursionlimit(); import octravpn.node.service, octravpn.indexer.service; "
        "from octravpn.cli.app import COMMANDS, load_command; "
        "[load_command(name) for name in COMMANDS]; print(before, sys.getrecursionlimit())"
    )
    before, after = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert before == after == "1000"


@pytest.fixture
def server(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.serving.exit_app", str(port), str(tmp_path / "node.db")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/v1/info", timeout=1)
            break
        except httpx.HTTPError:
            assert process.poll() is None, process.stdout.read().decode()
            time.sleep(0.1)
    yield url, process
    process.terminate()
    process.wait(timeout=10)


@pytest.mark.parametrize("size", [200_000, 8_000])  # the field's body (over the limit), and one within it
def test_nested_brackets_get_a_4xx_and_the_server_stays_up(server, size):
    url, process = server
    response = httpx.post(
        f"{url}/v1/peers", content=b"[" * size, headers={"content-type": "application/json"}, timeout=10
    )
    assert response.status_code in (400, 413) and response.json()["error"]
    assert process.poll() is None
    assert httpx.get(f"{url}/v1/info", timeout=5).status_code == 200


def test_a_10_mb_body_is_refused_without_being_read(server):
    url, process = server
    response = httpx.post(
        f"{url}/v1/peers", content=b" " * 10_000_000, headers={"content-type": "application/json"}, timeout=30
    )
    assert response.status_code == 413
    assert process.poll() is None
