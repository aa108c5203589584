"""Configuration: networks, the default network and the default wallet.

One TOML file, by default `$XDG_CONFIG_HOME/octravpn/config.toml`; `--config`
or `OCTRAVPN_CONFIG` point elsewhere. Data (keystores, the devnet's chain
state) live under `$XDG_DATA_HOME/octravpn`, or `OCTRAVPN_DATA_DIR`.
`OCTRAVPN_NETWORK` and `OCTRAVPN_WALLET` override the defaults in the file.

    default_network = "devnet"
    default_wallet = "alice"

    [networks.devnet]
    rpc_url = "http://127.0.0.1:8545"
    chain_id = 31337
    contract = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

import tomli_w

from octravpn.addresses import is_hex_address, parse_address
from octravpn.errors import ConfigError, UsageError

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("OCTRAVPN_CONFIG"):
        return Path(env["OCTRAVPN_CONFIG"])
    base = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "octravpn" / "config.toml"


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("OCTRAVPN_DATA_DIR"):
        return Path(env["OCTRAVPN_DATA_DIR"])
    base = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "octravpn"


def isolated_environment(home: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with config and data under `home`,
    and none of the `OCTRAVPN_*` selections that would point elsewhere."""
    env = dict(os.environ if base is None else base)
    for key in ("OCTRAVPN_CONFIG", "OCTRAVPN_NETWORK", "OCTRAVPN_WALLET", "OCTRAVPN_DATA_DIR"):
        env.pop(key, None)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"))
    return env


def write_private_file(path: Path, text: str) -> None:
    """Create or replace a file only its owner can read (keys, WireGuard configurations), durably."""
    replace_file(path, text, private=True)


def sync_directory(directory: Path) -> None:
    """Flush a directory's entries (a file just created or renamed in it) to the disk."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def replace_file(path: Path, text: str, *, private: bool = False) -> None:
    """Write `text` to `path` atomically and durably: a temporary file beside it, flushed to the disk, renamed
    over `path`, and the directory flushed too. A reader, a crash or a power cut finds the old file or the new
    one, never half of one or an empty one (a rename can reach the disk before the data it names).
    `private`: only the owner may read it (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o666)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    sync_directory(path.parent)


def check_name(kind: str, name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise ConfigError(
            f"invalid {kind} name {name!r}: use 1-32 of a-z, 0-9, '-' and '_', starting with a letter or digit"
        )
    return name


@dataclass(frozen=True, kw_only=True)
class Network:
    """An EVM network with a deployed OctraVPN contract."""

    name: str
    rpc_url: str
    chain_id: int
    contract: str | None = None
    rpc_fallbacks: tuple[str, ...] = ()  # used in turn when the one before fails

    def __post_init__(self) -> None:
        check_name("network", self.name)
        if not isinstance(self.rpc_fallbacks, (list, tuple)):
            raise ConfigError(f"network {self.name}: rpc_fallbacks must be a list of URLs")
        object.__setattr__(self, "rpc_fallbacks", tuple(self.rpc_fallbacks))
        for key, url in (("rpc_url", self.rpc_url), *(("rpc_fallbacks", u) for u in self.rpc_fallbacks)):
            parsed = urlparse(url) if isinstance(url, str) else None
            if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ConfigError(f"network {self.name}: {key} {url!r} must be an http(s):// URL")
        if isinstance(self.chain_id, bool) or not isinstance(self.chain_id, int) or self.chain_id <= 0:
            raise ConfigError(f"network {self.name}: chain_id must be a positive integer, got {self.chain_id!r}")
        if self.contract is not None:
            if not isinstance(self.contract, str) or not is_hex_address(self.contract):
                raise ConfigError(f"network {self.name}: contract {self.contract!r} is not a 20-byte hex address")
            try:
                object.__setattr__(
                    self, "contract", parse_address(self.contract, what=f"network {self.name}: contract")
                )
            except UsageError as exc:
                raise ConfigError(str(exc)) from None

    @property
    def contract_address(self) -> str:
        """The contract's address; a network without one is a `ConfigError` that says how to set it."""
        if self.contract is None:
            raise ConfigError(
                f"network {self.name!r} has no contract address: deploy or set one with `octravpn network add`"
            )
        return self.contract

    def to_toml(self) -> dict:
        data: dict[str, object] = {"rpc_url": self.rpc_url, "chain_id": self.chain_id}
        if self.contract:
            data["contract"] = self.contract
        if self.rpc_fallbacks:
            data["rpc_fallbacks"] = list(self.rpc_fallbacks)
        return data

    @property
    def rpc_urls(self) -> tuple[str, ...]:
        return (self.rpc_url, *self.rpc_fallbacks)


@dataclass(frozen=True, kw_only=True)
class Config:
    path: Path
    data_dir: Path
    networks: dict[str, Network] = field(default_factory=dict)
    default_network: str | None = None  # the file's: what `save` writes
    default_wallet: str | None = None
    # OCTRAVPN_NETWORK / OCTRAVPN_WALLET: they select for this process only and are never saved, so a command
    # that rewrites the file while one is set does not make it the file's default.
    env_network: str | None = None
    env_wallet: str | None = None

    @property
    def selected_network(self) -> str | None:
        return self.env_network or self.default_network

    @property
    def selected_wallet(self) -> str | None:
        return self.env_wallet or self.default_wallet

    @property
    def keystore_dir(self) -> Path:
        return self.data_dir / "keystores"

    @property
    def devnet_dir(self) -> Path:
        return self.data_dir / "devnet"

    def network(self, name: str | None = None) -> Network:
        """The named network, or the default one, with a fix in the error."""
        name = name or self.selected_network
        if name is None:
            raise ConfigError(
                "no network selected: run `octravpn devnet up`, or `octravpn network add` then `octravpn network use NAME`"
            )
        if name not in self.networks:
            known = ", ".join(sorted(self.networks)) or "none"
            raise ConfigError(f"unknown network {name!r} (configured: {known}): add it with `octravpn network add`")
        return self.networks[name]

    def with_network(self, network: Network, *, make_default: bool = False) -> Config:
        networks = {**self.networks, network.name: network}
        return replace(self, networks=networks, default_network=network.name if make_default else self.default_network)

    def save(self) -> None:
        data: dict = {}
        if self.default_network:
            data["default_network"] = self.default_network
        if self.default_wallet:
            data["default_wallet"] = self.default_wallet
        data["networks"] = {name: net.to_toml() for name, net in sorted(self.networks.items())}
        replace_file(self.path, tomli_w.dumps(data))  # a crash or power cut never leaves half a file


def load(path: Path | None = None, *, env: Mapping[str, str] | None = None) -> Config:
    """Read the configuration (a missing file is an empty configuration)."""
    env = os.environ if env is None else env
    path = path or default_config_path(env)
    try:
        raw = tomllib.loads(path.read_text()) if path.exists() else {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}; fix or remove the file") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    networks_raw = raw.get("networks", {})
    if not isinstance(networks_raw, dict):
        raise ConfigError(f"{path}: [networks] must be a table of networks")
    networks = {}
    for name, table in networks_raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [networks.{name}] must be a table")
        unknown = set(table) - {"rpc_url", "chain_id", "contract", "rpc_fallbacks"}
        if unknown:
            raise ConfigError(f"{path}: [networks.{name}] has unknown keys {sorted(unknown)}")
        try:
            networks[name] = Network(
                name=name,
                rpc_url=table["rpc_url"],
                chain_id=table["chain_id"],
                contract=table.get("contract"),
                rpc_fallbacks=table.get("rpc_fallbacks", ()),
            )
        except KeyError as exc:
            raise ConfigError(f"{path}: [networks.{name}] needs {exc.args[0]}") from exc
    return Config(
        path=path,
        data_dir=default_data_dir(env),
        networks=networks,
        default_network=raw.get("default_network"),
        default_wallet=raw.get("default_wallet"),
        env_network=env.get("OCTRAVPN_NETWORK") or None,
        env_wallet=env.get("OCTRAVPN_WALLET") or None,
    )
