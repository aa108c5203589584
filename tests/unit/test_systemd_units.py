"""The systemd units in systemd/: valid for systemd itself (`systemd-analyze verify`), hardened, and running
commands that exist with options they take."""

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = sorted((Path(__file__).parents[2] / "systemd").glob("*.service"))
INSTALLED = "/usr/local/bin/octravpn"


def _service(unit: Path) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    section = None
    for line in unit.read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_systemd_verifies_every_unit(tmp_path):
    octravpn = Path(sys.executable).with_name("octravpn")
    for unit in UNITS:  # the units name the installed command; here it is this checkout's
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED, str(octravpn)))
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(u.name for u in UNITS)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_every_unit_is_hardened_and_restarts(unit):
    service = _service(unit)
    for directive, wanted in (
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("Restart", "on-failure"),
    ):
        assert service[directive] == [wanted], (unit.name, directive)
    assert "CapabilityBoundingSet" in service and "StateDirectory" in service
    assert "CAP_SYS_ADMIN" not in service["CapabilityBoundingSet"][0]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_every_unit_runs_a_command_line_octravpn_accepts(unit):
    (command,) = _service(unit)["ExecStart"]
    argv = shlex.split(command)
    assert argv[0] == INSTALLED
    words = [a for a in argv[1:] if not a.startswith(("-", "$", "/", "sqlite:"))]
    help_ = subprocess.run(
        [sys.executable, "-m", "octravpn.cli.main", *words[:2], "--help"],
        capture_output=True,
        text=True,
        env={"COLUMNS": "300", "PATH": "/usr/bin:/bin"},
    )
    assert help_.returncode == 0, help_.stderr
    for option in (a for a in argv[1:] if a.startswith("--")):
        assert option in help_.stdout or option in ("--password-file",), (unit.name, option)


def test_the_daemon_unit_keeps_the_tunnel_across_a_restart():
    service = _service(Path(__file__).parents[2] / "systemd" / "octravpnd.service")
    assert service["KillMode"] == ["process"]  # wireguard-go is not killed with the daemon
    assert (
        "CAP_NET_ADMIN" in service["CapabilityBoundingSet"][0] and "CAP_NET_RAW" in service["CapabilityBoundingSet"][0]
    )


def test_the_daemon_is_not_restarted_for_ever_on_a_damaged_state(tmp_path):
    """A damaged `state.json` (a power cut's empty file) is a `ConfigError`, exit status 3, which the unit does not
    restart on: it once restarted every two seconds for ever, printing the same error."""
    from octravpn.daemon.state import DaemonState
    from octravpn.errors import ConfigError

    unit = next(u for u in UNITS if u.name == "octravpnd.service")
    assert _service(unit)["RestartPreventExitStatus"] == ["3"]
    damaged = tmp_path / "state.json"
    damaged.write_bytes(b"")
    with pytest.raises(ConfigError, match="is damaged") as raised:
        DaemonState.load(damaged)
    assert raised.value.exit_code == 3
