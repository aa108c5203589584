import json
import stat

import pytest
from eth_account import Account

from octravpn.errors import WalletError
from octravpn.wallet import Keystore

KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


@pytest.fixture
def keystore(tmp_path):
    return Keystore(tmp_path / "keystores")


def test_import_then_unlock(keystore):
    info = keystore.import_key("op", KEY, "correct horse", light_kdf=True)
    assert info.address == Account.from_key(KEY).address
    assert keystore.unlock("op", "correct horse").key.to_0x_hex() == KEY


def test_keystore_file_is_encrypted_v3_and_private(keystore):
    info = keystore.create("alice", "pw", light_kdf=True)
    data = json.loads(info.path.read_text())
    assert data["version"] == 3 and data["crypto"]["kdf"] == "scrypt"
    assert KEY[2:] not in info.path.read_text()
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o600


def test_standard_kdf_is_the_default(keystore):
    info = keystore.import_key("slow", KEY, "pw")
    assert json.loads(info.path.read_text())["crypto"]["kdfparams"]["n"] == 2**18


def test_wrong_passphrase(keystore):
    keystore.create("alice", "pw", light_kdf=True)
    with pytest.raises(WalletError, match="wrong passphrase for wallet 'alice'"):
        keystore.unlock("alice", "nope")


def test_unknown_wallet_lists_the_known_ones(keystore):
    keystore.create("alice", "pw", light_kdf=True)
    with pytest.raises(WalletError, match=r"unknown wallet 'bob' \(wallets: alice\)"):
        keystore.unlock("bob", "pw")


def test_duplicate_and_bad_input(keystore):
    keystore.create("alice", "pw", light_kdf=True)
    with pytest.raises(WalletError, match="already exists"):
        keystore.create("alice", "pw", light_kdf=True)
    with pytest.raises(WalletError, match="invalid private key"):
        keystore.import_key("bad", "0x1234", "pw", light_kdf=True)
    with pytest.raises(WalletError, match="must not be empty"):
        keystore.create("empty", "", light_kdf=True)


def test_list_in_name_order(keystore):
    for name in ("carol", "alice"):
        keystore.create(name, "pw", light_kdf=True)
    assert [w.name for w in keystore.list()] == ["alice", "carol"]
