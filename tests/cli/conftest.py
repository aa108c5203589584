import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from octravpn.chain.devnet import free_port
from octravpn.cli.main import main
from octravpn.config import isolated_environment

PASSWORD = "devnet-test-passphrase"


def home_environment(home: Path) -> dict[str, str]:
    return {**isolated_environment(home), "OCTRAVPN_PASSWORD": PASSWORD}


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`octravpn` as a separate process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "octravpn.cli.main", *args], capture_output=True, text=True, env=env, timeout=120
    )


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
        self.env = home_environment(home)
        for key in set(os.environ) - set(self.env):
            monkeypatch.delenv(key)
        for key, value in self.env.items():
            monkeypatch.setenv(key, value)

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
        done = run_cli(self.env, *args)
        return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def devnet_home(tmp_path_factory):
    """A devnet started through `octravpn devnet up` in its own home, for the module."""
    home = tmp_path_factory.mktemp("home")
    env = home_environment(home)
    started = run_cli(env, "--json", "devnet", "up", "--port", str(free_port()))
    assert started.returncode == 0, started.stderr
    yield home
    run_cli(env, "devnet", "down")


@pytest.fixture
def cli(devnet_home, capsys, monkeypatch) -> Cli:
    return Cli(devnet_home, capsys, monkeypatch)
