"""The device's own key: created at first start, kept in the state directory, never sent anywhere.

The daemon opens sessions and signs receipts with it as a registered device of
a member wallet (`octravpn device add`), so the member's wallet is needed once,
to register it, and never to stay connected. The key is a secp256k1 key in a
file only root can read (`device.key`), or, for those who want it encrypted at
rest, an Ethereum keystore (`device.json`) unlocked with a password read from
a credentials file (systemd's `LoadCredential=` puts one in
`$CREDENTIALS_DIRECTORY`).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from octravpn.config import write_private_file
from octravpn.errors import ConfigError

PLAIN_KEY = "device.key"
SEALED_KEY = "device.json"


def load_or_create(state_dir: Path, *, password: str | None = None) -> LocalAccount:
    """The device key in `state_dir`, created on first use; encrypted at rest when `password` is given."""
    plain, sealed = state_dir / PLAIN_KEY, state_dir / SEALED_KEY
    if password is None:
        if sealed.exists():
            raise ConfigError(f"the device key {sealed} is encrypted: pass --key-password-file")
        if plain.exists():
            return _read_plain(plain)
        account = Account.create()
        write_private_file(plain, account.key.hex() + "\n")
        return account
    if plain.exists():
        raise ConfigError(
            f"{plain} holds an unencrypted device key: run without --key-password-file, or move it "
            "away to create a new (encrypted) device key, which must then be registered again"
        )
    if sealed.exists():
        try:
            return Account.from_key(Account.decrypt(json.loads(sealed.read_text()), password))
        except ValueError as exc:
            raise ConfigError(f"cannot unlock the device key {sealed}: {exc}") from exc
    account = Account.create()
    write_private_file(sealed, json.dumps(Account.encrypt(account.key, password)))
    return account


def _read_plain(path: Path) -> LocalAccount:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path} is readable by others (mode {oct(mode & 0o777)}): `chmod 600 {path}`, and consider the key exposed"
        )
    try:
        return Account.from_key(bytes.fromhex(path.read_text().strip().removeprefix("0x")))
    except ValueError as exc:
        raise ConfigError(f"{path} does not hold a device key ({exc}): move it away to create a new one") from exc


def read_password_file(path: Path) -> str:
    try:
        return path.read_text().rstrip("\n")
    except OSError as exc:
        raise ConfigError(f"cannot read the key password file {path}: {exc.strerror}") from exc


def credentials_password(name: str = "device-key-password") -> str | None:
    """The password systemd's `LoadCredential=` provides, if it does."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    path = Path(directory) / name if directory else None
    return read_password_file(path) if path is not None and path.exists() else None
