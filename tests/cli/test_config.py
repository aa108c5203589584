import pytest

from octravpn.config import Network, default_config_path, default_data_dir, load
from octravpn.errors import ConfigError


def test_missing_file_is_an_empty_configuration(tmp_path):
    config = load(tmp_path / "config.toml", env={})
    assert config.networks == {} and config.default_network is None


def test_round_trip(tmp_path):
    path = tmp_path / "octravpn" / "config.toml"
    config = load(path, env={"OCTRAVPN_DATA_DIR": str(tmp_path / "data")})
    net = Network(
        name="devnet",
        rpc_url="http://127.0.0.1:8545",
        chain_id=31337,
        contract="0x5fbdb2315678afecb367f032d93f642f64180aa3",
    )
    config.with_network(net, make_default=True).save()
    again = load(path, env={})
    assert again.network() == net
    assert again.network().contract == "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert again.default_network == "devnet"


def test_environment_overrides_defaults(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('default_network = "a"\ndefault_wallet = "w"\n')
    config = load(path, env={"OCTRAVPN_NETWORK": "b", "OCTRAVPN_WALLET": "x"})
    assert (config.selected_network, config.selected_wallet) == ("b", "x")
    # Rewriting the file while they are set keeps the file's own defaults: an override is for one process.
    config.with_network(Network(name="b", rpc_url="http://127.0.0.1:8545", chain_id=1)).save()
    assert (load(path, env={}).default_network, load(path, env={}).default_wallet) == ("a", "w")


def test_xdg_locations():
    assert default_config_path({"XDG_CONFIG_HOME": "/cfg"}).as_posix() == "/cfg/octravpn/config.toml"
    assert default_config_path({"OCTRAVPN_CONFIG": "/x.toml"}).as_posix() == "/x.toml"
    assert default_data_dir({"XDG_DATA_HOME": "/data"}).as_posix() == "/data/octravpn"
    assert default_data_dir({"OCTRAVPN_DATA_DIR": "/d"}).as_posix() == "/d"


@pytest.mark.parametrize(
    "text, reason",
    [
        ("this is = = not toml", "is not valid TOML"),
        ('networks = "x"', r"\[networks\] must be a table"),
        ("[networks.dev]\nchain_id = 1", "needs rpc_url"),
        ('[networks.dev]\nrpc_url = "ftp://x"\nchain_id = 1', "must be an http"),
        ('[networks.dev]\nrpc_url = "http://x"\nchain_id = 0', "chain_id must be a positive integer"),
        ('[networks.dev]\nrpc_url = "http://x"\nchain_id = 1\ncontract = "0x12"', "not a 20-byte hex address"),
        ('[networks.dev]\nrpc_url = "http://x"\nchain_id = 1\nrpc = 2', "unknown keys"),
        ('[networks."Bad Name"]\nrpc_url = "http://x"\nchain_id = 1', "invalid network name"),
    ],
)
def test_invalid_files_are_explained(tmp_path, text, reason):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=reason):
        load(path, env={})


def test_selecting_a_network_that_does_not_exist(tmp_path):
    config = load(tmp_path / "c.toml", env={})
    with pytest.raises(ConfigError, match="no network selected: run `octravpn devnet up`"):
        config.network()
    with pytest.raises(ConfigError, match="unknown network 'main'.*octravpn network add"):
        config.network("main")


def test_isolated_environment_points_everything_at_the_home(tmp_path):
    from octravpn.config import isolated_environment

    env = isolated_environment(tmp_path, {"PATH": "/bin", "OCTRAVPN_WALLET": "x", "OCTRAVPN_CONFIG": "/c.toml"})
    assert env == {
        "PATH": "/bin",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    assert load(env=env).path == tmp_path / "config" / "octravpn" / "config.toml"


def test_a_state_file_is_written_durably_before_it_replaces_the_old_one(tmp_path, monkeypatch):
    """A power cut once left the daemon's state empty: a rename can reach the disk before the data it names.
    The data is flushed before the rename, and the directory after it."""
    import os

    from octravpn.config import replace_file

    path = tmp_path / "state.json"
    path.write_text('{"old": true}')
    steps = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor):
        steps.append(("fsync", "directory" if os.path.isdir(f"/proc/self/fd/{descriptor}") else "file"))
        real_fsync(descriptor)

    def replace(source, target):
        steps.append(("rename", os.path.basename(target)))
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    replace_file(path, '{"new": true}')
    assert steps == [("fsync", "file"), ("rename", "state.json"), ("fsync", "directory")]
    assert path.read_text() == '{"new": true}' and not (tmp_path / "state.json.tmp").exists()


def test_a_write_that_fails_halfway_leaves_the_old_file(tmp_path, monkeypatch):
    """A full disk mid-write (ENOSPC at the flush) leaves the file as it was: only the temporary file is lost."""
    import errno
    import os

    from octravpn.config import replace_file

    path = tmp_path / "state.json"
    path.write_text('{"old": true}')

    def full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        replace_file(path, '{"new": true}')
    assert path.read_text() == '{"old": true}'
