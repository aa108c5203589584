"""Wallets: private keys kept as encrypted Ethereum V3 keystore files.

One file per wallet, `<data dir>/keystores/<name>.json`, readable by geth,
MetaMask and eth-account. Keys are encrypted with scrypt; `light_kdf` (like
geth's `--lightkdf`) uses a cheaper work factor and is meant only for devnet
wallets that hold test funds.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from octravpn.addresses import to_checksum_address
from octravpn.config import check_name, sync_directory
from octravpn.errors import WalletError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

STANDARD_SCRYPT_N = 2**18
LIGHT_SCRYPT_N = 2**12


@dataclass(frozen=True)
class WalletInfo:
    name: str
    address: str
    path: Path


class Keystore:
    """The keystore directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str) -> Path:
        return self.directory / f"{check_name('wallet', name)}.json"

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def create(self, name: str, password: str, *, light_kdf: bool = False) -> WalletInfo:
        """A new random key, encrypted under `password`."""
        from eth_account import Account  # loaded when a key is used: listing wallets stays fast

        return self.import_key(name, Account.create().key, password, light_kdf=light_kdf)

    def import_key(self, name: str, private_key: bytes | str, password: str, *, light_kdf: bool = False) -> WalletInfo:
        from eth_account import Account  # loaded when a key is used: listing wallets stays fast

        path = self.path(name)
        if path.exists():
            raise WalletError(f"wallet {name!r} already exists at {path}: choose another name")
        if not password:
            raise WalletError("the passphrase must not be empty")
        try:
            account = Account.from_key(private_key)
        except (ValueError, TypeError) as exc:
            raise WalletError(f"invalid private key: {exc}; give 32 bytes as 64 hex digits") from exc
        keystore = Account.encrypt(
            account.key, password, kdf="scrypt", iterations=LIGHT_SCRYPT_N if light_kdf else STANDARD_SCRYPT_N
        )
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Created 0600 from the start: the file is never readable by others.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(keystore, handle)
            handle.flush()
            os.fsync(handle.fileno())  # a wallet lost to a power cut is money lost
        sync_directory(self.directory)
        return WalletInfo(name, account.address, path)

    def info(self, name: str) -> WalletInfo:
        path = self.path(name)
        try:
            address = json.loads(path.read_text())["address"]
        except FileNotFoundError as exc:
            known = ", ".join(w.name for w in self.list()) or "none"
            raise WalletError(
                f"unknown wallet {name!r} (wallets: {known}): create it with `octravpn wallet create {name}`"
            ) from exc
        except (ValueError, KeyError) as exc:
            raise WalletError(f"{path} is not a V3 keystore file") from exc
        return WalletInfo(name, to_checksum_address(address), path)

    def list(self) -> list[WalletInfo]:
        if not self.directory.exists():
            return []
        return [self.info(path.stem) for path in sorted(self.directory.glob("*.json"))]

    def unlock(self, name: str, password: str) -> LocalAccount:
        """Decrypt the wallet; a wrong passphrase is a `WalletError`."""
        from eth_account import Account  # loaded when a key is used: listing wallets stays fast

        info = self.info(name)
        try:
            key = Account.decrypt(json.loads(info.path.read_text()), password)
        except ValueError as exc:
            raise WalletError(f"wrong passphrase for wallet {name!r}") from exc
        return Account.from_key(key)
