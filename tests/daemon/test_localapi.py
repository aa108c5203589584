"""The real daemon process and its local API over its Unix sockets: permissions, hostile bodies (4xx with a
JSON reason, never a 5xx or a crash), the change feed, metrics, and a clean stop. The chain it is configured
with is not there: the daemon starts and answers without it."""

import json
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from octravpn.config import isolated_environment
from octravpn.daemon.localclient import DaemonRefused, DaemonUnavailable, LocalAPI

# octravpnd runs as root: the suite skips it, with the reason, when not root (tests/conftest.py).
pytestmark = pytest.mark.e2e


def _octravpn(env, *args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "octravpn.cli.main", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    home = tmp_path_factory.mktemp("daemon")
    env = {**isolated_environment(home), "OCTRAVPN_SOCKET": str(home / "run" / "octravpnd.sock")}
    with socket.socket() as unused:  # a port nothing listens on: the chain is unreachable
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    added = _octravpn(
        env,
        "network",
        "add",
        "dead",
        "--rpc-url",
        f"http://127.0.0.1:{port}",
        "--chain-id",
        "31337",
        "--contract",
        "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "--use",
    )
    assert added.returncode == 0, added.stderr
    log = open(home / "daemon.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "octravpn.cli.main", "daemon", "run", "--state-dir", str(home / "state")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    control = home / "run" / "octravpnd.sock"
    read = home / "run" / "octravpnd-read.sock"
    deadline = time.monotonic() + 30
    while not read.exists() and time.monotonic() < deadline:
        assert process.poll() is None, (home / "daemon.log").read_text()
        time.sleep(0.05)
    yield {"env": env, "home": home, "control": control, "read": read, "process": process}
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=30)
    log.close()


def _raw(path, request: bytes) -> tuple[int, dict]:
    """Send raw bytes, as a hostile local program would; the status and the JSON body."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body) if body else {}


def _post(path, body: bytes, *, content_type="application/json", route: str = "/v1/up") -> tuple[int, dict]:
    return _raw(
        path,
        b"POST "
        + route.encode()
        + b" HTTP/1.1\r\nHost: d\r\nConnection: close\r\nContent-Type: "
        + content_type.encode()
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body,
    )


def test_the_sockets_give_control_to_root_and_its_group_and_status_to_everyone(daemon):
    assert stat.S_IMODE(daemon["control"].stat().st_mode) == 0o660
    assert stat.S_IMODE(daemon["read"].stat().st_mode) == 0o666
    status = LocalAPI(daemon["read"]).get("/v1/status")
    assert status["status"] == "down" and status["device"].startswith("0x") and status["network"] == "dead"
    key = daemon["home"] / "state" / "device.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    # The read socket takes no orders.
    code, body = _raw(
        daemon["read"],
        b"POST /v1/down HTTP/1.1\r\nHost: d\r\nConnection: close\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\n\r\n{}",
    )
    assert code in (404, 405)


@pytest.mark.parametrize(
    ("body", "content_type", "code", "says"),
    [
        (b"{not json", "application/json", 400, "not JSON"),
        (b'{"exit": "auto", "colour": "red"}', "application/json", 400, "unknown fields ['colour']"),
        (b'{"exit": "0xabc"}', "application/json", 400, "exit"),
        (b'{"exit": "auto", "tailnet": "one"}', "application/json", 400, "tailnet must be int"),
        (b'{"exit": "auto", "tailnet": true}', "application/json", 400, "tailnet must be int"),
        (b'{"exit": "auto", "max_pay": "1e9"}', "application/json", 400, "max_pay must be an amount"),
        (b'{"exit": "auto", "interface": "a-name-far-too-long"}', "application/json", 400, "not a valid name"),
        (b'{"exit": "auto", "loss_percent": 101}', "application/json", 400, "between 0 and 100"),
        (b'["exit"]', "application/json", 400, "JSON object"),
        (b"[" * 100 + b"]" * 100, "application/json", 400, "nests deeper"),
        (b"exit=auto", "application/x-www-form-urlencoded", 415, "not accepted"),
        (b'{"exit": "' + b"a" * 10_000 + b'"}', "application/json", 413, "at most"),
    ],
)
def test_a_bad_request_is_a_4xx_that_says_what_was_wrong(daemon, body, content_type, code, says):
    status, answer = _post(daemon["control"], body, content_type=content_type)
    assert status == code and says in answer["error"]


def test_up_without_a_chain_is_a_503_that_says_so_and_the_command_line_a_single_line(daemon):
    with pytest.raises(DaemonRefused) as refused:
        LocalAPI(daemon["control"]).post("/v1/up", {"exit": "auto"})
    assert refused.value.status == 503 and refused.value.exit_code == 5 and "cannot reach the RPC" in str(refused.value)
    done = _octravpn(daemon["env"], "up", "--exit", "0x5FbDB2315678afecb367f032d93F642f64180aa3")
    assert done.returncode == 5 and done.stderr.count("\n") == 1 and "cannot reach the RPC" in done.stderr
    assert "Traceback" not in done.stderr
    assert LocalAPI(daemon["read"]).get("/v1/status")["status"] == "down"  # nothing half-done


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
        max_leaves=12,
    )
)
def test_no_json_body_makes_the_control_api_fail_with_a_5xx_other_than_the_missing_chain(daemon, document):
    status, answer = _post(daemon["control"], json.dumps(document).encode())
    assert status < 500 or status == 503 and "RPC" in answer["error"], answer
    assert "error" in answer and "exit_code" in answer
    for route in ("/v1/prefs", "/v1/ping"):  # the mesh's requests: never a 5xx either
        status, answer = _post(daemon["control"], json.dumps(document).encode(), route=route)
        assert status < 500, (route, answer)


def test_the_meshs_preferences_are_set_checked_and_kept_and_ping_says_why_it_cannot(daemon):
    done = _octravpn(daemon["env"], "set", "--hostname", "Build-Box", "--relay")
    assert done.returncode == 0, done.stderr
    mesh = LocalAPI(daemon["read"]).get("/v1/prefs")["mesh"]
    assert mesh["hostname"] == "build-box" and mesh["relay"] is True
    done = _octravpn(daemon["env"], "set", "--hostname", "not_a_label", "--relay")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "one DNS label" in done.stderr
    assert LocalAPI(daemon["read"]).get("/v1/prefs")["mesh"]["hostname"] == "build-box"  # nothing half-done
    for args in (("ping", "build-box"), ("ip",)):  # no indexer, no mesh: said in one line
        done = _octravpn(daemon["env"], *args)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "needs-indexer" in done.stderr, done.stderr
    assert _octravpn(daemon["env"], "set", "--no-relay").returncode == 0


def test_the_change_feed_starts_with_the_current_state_and_metrics_are_prometheus_text(daemon):
    first = next(LocalAPI(daemon["read"], timeout=10).lines("/v1/watch"))
    assert first["status"] == "down"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(daemon["read"]))
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        text = b""
        while chunk := sock.recv(65536):
            text += chunk
    assert b'octravpn_client_state{state="down"} 1.0' in text and b"octravpn_client_chain_reachable" in text


def test_status_watch_prints_each_state_as_a_json_line(daemon):
    watching = subprocess.Popen(
        [sys.executable, "-m", "octravpn.cli.main", "status", "--watch"],
        env=daemon["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = json.loads(watching.stdout.readline())
        assert first["status"] == "down" and first["device"].startswith("0x")
    finally:
        watching.send_signal(signal.SIGINT)  # Ctrl-C ends it
        watching.wait(timeout=30)
    assert watching.returncode == 130 and "Traceback" not in watching.stderr.read()


def test_consent_is_given_for_a_wallet_and_refused_for_nonsense(daemon):
    api = LocalAPI(daemon["control"])
    answer = api.post("/v1/device/consent", {"wallet": "0x5FbDB2315678afecb367f032d93F642f64180aa3"})
    assert answer["signature"].startswith("0x") and len(answer["signature"]) == 132
    with pytest.raises(DaemonRefused, match="wallet"):
        api.post("/v1/device/consent", {"wallet": "nobody"})


def test_a_second_daemon_on_the_same_state_is_refused_in_one_line(daemon):
    done = _octravpn(
        {**daemon["env"], "OCTRAVPN_SOCKET": str(daemon["home"] / "other.sock")},
        "daemon",
        "run",
        "--state-dir",
        str(daemon["home"] / "state"),
    )
    assert done.returncode == 3 and "another octravpnd uses" in done.stderr and done.stderr.count("\n") == 1


def test_without_a_daemon_every_thin_command_says_how_to_start_one(daemon, tmp_path):
    env = {**daemon["env"], "OCTRAVPN_SOCKET": str(tmp_path / "none.sock")}
    for args in (("status",), ("status", "--json"), ("down",), ("up", "--exit", "auto")):
        done = _octravpn(env, *args)
        assert done.returncode == 8 and "octravpn daemon run" in done.stderr and done.stderr.count("\n") == 1, args


def test_sigterm_stops_the_daemon_and_removes_its_sockets(daemon):
    process = daemon["process"]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert not daemon["control"].exists() and not daemon["read"].exists()
    with pytest.raises(DaemonUnavailable, match="not running"):
        LocalAPI(daemon["read"]).get("/v1/status")
