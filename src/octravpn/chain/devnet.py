"""A local anvil node: the embedded default network for the demo and tests.

anvil comes from npm (`make tools` installs it under `.tools/`); nothing is
downloaded at run time. The node binds to 127.0.0.1 only.
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import subprocess
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
_LISTENING = re.compile(rb"Listening on ([0-9.]+):(\d+)")
# anvil's default development mnemonic: its accounts are public test keys that
# hold funds only on a local devnet.
DEV_MNEMONIC = "test test test test test test test test test test test junk"


def dev_private_key(index: int) -> str:
    """Private key of anvil's funded development account `index`."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}").key.to_0x_hex()


class DevnetError(RuntimeError):
    """anvil could not be found or did not start."""


def find_anvil() -> str:
    """The anvil binary: $OCTRAVPN_ANVIL, the project's `.tools/`, or PATH."""
    candidates = [os.environ.get("OCTRAVPN_ANVIL"), str(REPO_ROOT / ".tools/node_modules/.bin/anvil"), shutil.which("anvil")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise DevnetError("anvil not found: run `make tools` (installs @foundry-rs/anvil from npm) or set OCTRAVPN_ANVIL")


class Anvil:
    """An anvil process on 127.0.0.1; use as a context manager.

    `state_path` keeps the chain (accounts, contracts, balances) across restarts.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        chain_id: int = 31337,
        state_path: Path | None = None,
        binary: str | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.binary = binary or find_anvil()
        self.requested_port = port
        self.chain_id = chain_id
        self.state_path = state_path
        self.start_timeout = start_timeout
        self.port: int | None = None
        self._process: subprocess.Popen | None = None

    @property
    def rpc_url(self) -> str:
        if self.port is None:
            raise DevnetError("anvil is not running")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Anvil":
        args = [self.binary, "--host", "127.0.0.1", "--port", str(self.requested_port), "--chain-id", str(self.chain_id)]
        if self.state_path is not None:
            args += ["--state", str(self.state_path)]
        try:
            self._process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except OSError as exc:
            raise DevnetError(f"cannot run anvil at {self.binary}: {exc.strerror}; run `make tools` or set OCTRAVPN_ANVIL") from exc
        self.port = self._wait_until_listening()
        return self

    def _wait_until_listening(self) -> int:
        # Read anvil's own announcement instead of polling the RPC port.
        assert self._process is not None and self._process.stdout is not None
        output = b""
        deadline = time.monotonic() + self.start_timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            while (remaining := deadline - time.monotonic()) > 0:
                if not selector.select(remaining):
                    continue
                chunk = os.read(self._process.stdout.fileno(), 65536)
                if not chunk:
                    break
                output += chunk
                if match := _LISTENING.search(output):
                    self._drain_output()
                    return int(match.group(2))
        self.stop()
        tail = output.decode(errors="replace").strip().splitlines()[-5:]
        raise DevnetError(f"anvil did not start within {self.start_timeout:.0f}s: " + " | ".join(tail))

    def _drain_output(self) -> None:
        # anvil logs every request; an unread pipe would eventually block it.
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout

        def drain() -> None:
            while stdout.read(65536):
                pass

        threading.Thread(target=drain, name="anvil-output", daemon=True).start()

    def stop(self) -> None:
        """Stop the node; with `state_path` set, anvil writes its state on exit."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        self.port = None

    def __enter__(self) -> "Anvil":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
