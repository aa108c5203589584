"""The mesh's preferences are checked as they are set; its state and key survive a restart, privately."""

import os

import pytest

from octravpn.errors import ConfigError, UsageError
from octravpn.host.mesh import MeshChanges
from octravpn.mesh.prefs import MeshPrefs, machine_hostname
from octravpn.mesh.state import MeshState, load_or_create_key


def test_preferences_are_checked_and_normalised():
    prefs = MeshPrefs().changed(hostname="Build-Box", relay=True)
    assert prefs.hostname == "build-box" and prefs.relay and prefs.dns
    for bad in ({"hostname": "-x"}, {"hostname": "a.b"}, {"hostname": "bob-box\n"}):
        with pytest.raises(UsageError):
            MeshPrefs().changed(**bad)
    with pytest.raises(UsageError, match="tailnet id"):
        MeshPrefs().changed(tailnet=-1)
    assert MeshPrefs.from_json(prefs.to_json()) == prefs
    assert machine_hostname()  # always one DNS label, whatever the machine is called


def test_the_state_round_trips_and_a_broken_file_is_named(tmp_path):
    path = tmp_path / "mesh.json"
    state = MeshState(
        seq=7,
        hostname_since=5,
        expires=99,
        seen={"0xab": 3},
        host=MeshChanges(interface="ovpn-mesh", rules=True, resolver_address="100.100.100.100"),
    )
    state.save(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    again = MeshState.load(path)
    assert again == state
    assert MeshState.load(tmp_path / "absent.json").seq == 0
    path.write_text("{")
    with pytest.raises(ConfigError, match="move it away"):
        MeshState.load(path)


def test_the_mesh_key_is_made_once_and_refused_when_others_can_read_it(tmp_path):
    path = tmp_path / "mesh.key"
    first = load_or_create_key(path)
    assert load_or_create_key(path).public == first.public and os.stat(path).st_mode & 0o777 == 0o600
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_or_create_key(path)
    os.chmod(path, 0o600)
    path.write_text("not a key\n")
    with pytest.raises(ConfigError, match="no WireGuard key"):
        load_or_create_key(path)
