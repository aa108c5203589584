import json
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from octravpn.cli.main import main

PASSWORD = "devnet-test-passphrase"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


class Cli:
    """Runs `octravpn` in-process (or as a subprocess) in an isolated home."""

    def __init__(self, home: Path, capsys, monkeypatch) -> None:
        self.home = home
        self.capsys = capsys
        self.env = {
            "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
            "OCTRAVPN_PASSWORD": PASSWORD,
        }
        for key, value in self.env.items():
            monkeypatch.setenv(key, value)
        for key in ("OCTRAVPN_CONFIG", "OCTRAVPN_NETWORK", "OCTRAVPN_WALLET", "OCTRAVPN_DATA_DIR"):
            monkeypatch.delenv(key, raising=False)

    def __call__(self, *args: str) -> Result:
        self.capsys.readouterr()
        code = main(list(args))
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def json(self, *args: str):
        result = self("--json", *args)
        assert result.code == 0, result.err
        return result.json()

    def fails(self, code: int, *args: str) -> str:
        result = self(*args)
        assert result.code == code, (result.code, result.out, result.err)
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.err
        return lines[0]

    def subprocess(self, *args: str) -> Result:
        import os

        done = subprocess.run([sys.executable, "-m", "octravpn.cli.main", *args], capture_output=True, text=True,
                              env={**os.environ, **self.env}, timeout=120)
        return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def devnet_home(tmp_path_factory):
    """A devnet started through `octravpn devnet up` in its own home, for the module."""
    home = tmp_path_factory.mktemp("home")
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
           "OCTRAVPN_PASSWORD": PASSWORD}
    import os

    port = free_port()
    run = lambda *a: subprocess.run([sys.executable, "-m", "octravpn.cli.main", *a],  # noqa: E731
                                    env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    started = run("--json", "devnet", "up", "--port", str(port))
    assert started.returncode == 0, started.stderr
    yield home
    run("devnet", "down")


@pytest.fixture
def cli(devnet_home, capsys, monkeypatch) -> Cli:
    return Cli(devnet_home, capsys, monkeypatch)
