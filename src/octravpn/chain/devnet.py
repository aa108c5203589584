"""A local anvil node: the embedded default network for the demo and tests.

anvil comes from npm (`make tools` installs it under `.tools/`); nothing is
downloaded at run time. The node binds to 127.0.0.1 only.
"""

from __future__ import annotations

import os
import random
import re
import selectors
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from octravpn.chain.errors import ChainError

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


class DevnetError(ChainError):
    """anvil could not be found or did not start."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, below the kernel's ephemeral range: a port
    from that range is handed to outgoing connections too, and one could take it before the devnet (which
    comes back on the same port after a restart) listens on it again."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for port in random.sample(range(10_000, max(low, 10_001)), k=min(50, max(low - 10_000, 1))):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:  # nothing free below the range: let the kernel choose
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def find_anvil() -> str:
    """The anvil binary: $OCTRAVPN_ANVIL, the project's `.tools/`, or PATH."""
    candidates = [
        os.environ.get("OCTRAVPN_ANVIL"),
        str(REPO_ROOT / ".tools/node_modules/.bin/anvil"),
        shutil.which("anvil"),
    ]
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

    def start(self) -> Anvil:
        args = [
            self.binary,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.requested_port),
            "--chain-id",
            str(self.chain_id),
        ]
        if self.state_path is not None:
            args += ["--state", str(self.state_path)]
        try:
            self._process = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
            )
        except OSError as exc:
            raise DevnetError(
                f"cannot run anvil at {self.binary}: {exc.strerror}; run `make tools` or set OCTRAVPN_ANVIL"
            ) from exc
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
        _stop_group(self._process.pid, timeout=15)
        self._process.wait()
        self._process = None
        self.port = None

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    """Whether `pid` still runs; reaps it if it is our exited child."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: init reaps it
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _stop_group(leader: int, *, timeout: float) -> None:
    """Stop the process group that `leader` started with its own session, and wait until all of it is gone.

    npm's `anvil` is a node wrapper that forwards SIGTERM to the real anvil and then dies at once, while the
    real anvil is still writing its state and holding its port: waiting for the wrapper alone would let a
    `reset` delete a state file that is then written again, or an `up` find the port still taken."""
    for signal_number, wait in ((15, timeout), (9, 5.0)):
        try:
            os.killpg(leader, signal_number)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _alive(leader)  # reaps the leader if it is our child
            if not _group_members(leader):
                return
            time.sleep(0.05)


class LocalDevnet:
    """anvil as a background service, with its chain kept in `directory`.

    `start` leaves anvil running after the command exits (its own session,
    output in `anvil.log`, pid in `anvil.pid`). anvil writes the chain to
    `state.json` every second and on a clean stop, and loads it on start, so
    `down` then `up` keeps accounts, contracts and balances.
    """

    STATE_INTERVAL_SECONDS = 1
    ADDRESS_FILE = "address"  # host:port of the last start

    def __init__(
        self,
        directory: Path,
        *,
        port: int = 8545,
        host: str = "127.0.0.1",
        chain_id: int = 31337,
        binary: str | None = None,
    ) -> None:
        self.directory = directory
        self.host = host  # another local address (a lab's veth) lets network namespaces reach it
        self.port = port
        self.chain_id = chain_id
        self.binary = binary

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state_path(self) -> Path:
        return self.directory / "state.json"

    @property
    def pid_path(self) -> Path:
        return self.directory / "anvil.pid"

    @property
    def log_path(self) -> Path:
        return self.directory / "anvil.log"

    @classmethod
    def remembered_address(cls, directory: Path) -> tuple[str, int] | None:
        """The host and port the devnet in `directory` last started on (it starts there again)."""
        try:
            host, _, port = (directory / cls.ADDRESS_FILE).read_text().strip().rpartition(":")
            return host, int(port)
        except (OSError, ValueError):
            return None

    def pid(self) -> int | None:
        """The running anvil's pid, or None (a stale pid file is ignored)."""
        try:
            pid = int(self.pid_path.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if b"anvil" in cmdline and str(self.state_path).encode() in cmdline else None

    def start(self, *, timeout: float = 30.0) -> bool:
        """Start anvil unless it runs; True if this call started it."""
        if self.pid() is not None:
            return False
        binary = self.binary or find_anvil()
        self._check_port_free()
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            binary,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--state",
            str(self.state_path),
            "--state-interval",
            str(self.STATE_INTERVAL_SECONDS),
        ]
        with open(self.log_path, "ab") as log:
            try:
                process = subprocess.Popen(
                    args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
                )
            except OSError as exc:
                raise DevnetError(
                    f"cannot run anvil at {binary}: {exc.strerror}; run `make tools` or set OCTRAVPN_ANVIL"
                ) from exc
        self.pid_path.write_text(str(process.pid))
        self._wait_until_ready(process, timeout)
        (self.directory / self.ADDRESS_FILE).write_text(f"{self.host}:{self.port}\n")
        self._continue_clock()
        return True

    def rpc(self, method: str, params: list, *, timeout: float = 10.0) -> Any:
        """One JSON-RPC call to the running devnet (anvil's own methods included); its result."""
        import json
        import urllib.request

        request = urllib.request.Request(
            self.rpc_url,
            data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answer = json.loads(response.read())
        except OSError as exc:
            raise DevnetError(f"the devnet at {self.rpc_url} did not answer {method}: {exc}") from exc
        if "error" in answer:
            raise DevnetError(f"the devnet refused {method}: {answer['error'].get('message', answer['error'])}")
        return answer["result"]

    def _continue_clock(self) -> None:
        """A restarted anvil takes the wall clock again and forgets any time it was advanced by: without this,
        the first block after a restart can be older than the last one saved, and sessions look opened in the
        future. Move its clock past the newest saved block instead."""
        latest = int(self.rpc("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
        behind = latest + 1 - int(time.time())
        if behind > 0:
            self.rpc("evm_increaseTime", [behind])

    def _check_port_free(self) -> None:
        # Otherwise the readiness check could be answered by whatever holds the port.
        with socket.socket() as probe:
            # SO_REUSEADDR ignores connections of a previous run in TIME_WAIT; a
            # live listener on the port still makes the bind fail.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.host, self.port))
            except OSError as exc:
                raise DevnetError(
                    f"cannot listen on {self.host}:{self.port} ({exc.strerror}): stop what runs there or "
                    f"choose another --port or --host"
                ) from exc

    def _wait_until_ready(self, process: subprocess.Popen, timeout: float) -> None:
        # anvil answers eth_chainId once it listens; poll that, bounded by `timeout`.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_path.unlink(missing_ok=True)
                tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
                raise DevnetError(f"anvil exited at start (port {self.port} in use?): " + " | ".join(tail))
            try:
                if int(self.rpc("eth_chainId", [], timeout=1), 16) == self.chain_id:
                    return
            except DevnetError:
                time.sleep(0.05)
        self.stop()
        raise DevnetError(f"anvil did not answer on {self.rpc_url} within {timeout:.0f}s; see {self.log_path}")

    def stop(self, *, timeout: float = 15.0) -> bool:
        """Stop anvil (it saves the chain first); True if it was running."""
        pid = self.pid()
        if pid is None:
            self.pid_path.unlink(missing_ok=True)
            return False
        _stop_group(pid, timeout=timeout)
        self.pid_path.unlink(missing_ok=True)
        return True

    def reset(self) -> None:
        """Stop anvil and forget the chain."""
        self.stop()
        self.state_path.unlink(missing_ok=True)
