"""Driving the `octravpn` command line in a `Lab`: the commands a user types,
each run on the host (namespace) where it belongs, in one throwaway home.
`make demo`, the e2e tests and the benchmarks tell their stories through it."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from octravpn.chain.devnet import free_port
from octravpn.config import isolated_environment
from octravpn.lab import EXIT_LINKS, EXIT_PORT, EXIT_PUBLIC, Host, Lab, fetch, unique

PASSWORD = "octravpn-lab"  # devnet wallets only hold test funds
PRICE = "0.000002"  # per MB: 2e12 base units


class CommandFailed(RuntimeError):
    def __init__(self, argv: list[str], returncode: int, stderr: str) -> None:
        super().__init__(f"`octravpn {shlex.join(argv)}` failed ({returncode}): {stderr.strip()}")
        self.returncode, self.stderr = returncode, stderr


@dataclass
class Registered:
    tailnet_id: int
    exit_address: str
    wg_pubkey: str


class LabCLI:
    def __init__(self, lab: Lab, home: Path, *, echo: bool = False) -> None:
        self.lab = lab
        self.home = home
        self.echo = echo
        self.env = {**isolated_environment(home), "OCTRAVPN_PASSWORD": PASSWORD}
        self.daemons: dict[str, subprocess.Popen] = {}  # host name -> its octravpnd

    def socket(self, host: Host) -> Path:
        """The control socket of `host`'s daemon (a path on this machine: every namespace reaches it)."""
        return self.home / "run" / host.name / "octravpnd.sock"

    def state_dir(self, host: Host) -> Path:
        return self.home / "daemon" / host.name

    def environment(self, host: Host | None) -> dict[str, str]:
        """The commands on a host with a daemon talk to that daemon."""
        if host is not None and host.name in self.daemons:
            return {**self.env, "OCTRAVPN_SOCKET": str(self.socket(host))}
        return self.env

    def argv(self, args: tuple[str, ...], host: Host | None) -> list[str]:
        prefix = ["ip", "netns", "exec", host.name] if host else []
        return [*prefix, sys.executable, "-m", "octravpn.cli.main", *args]

    def run(
        self,
        *args: str,
        host: Host | None = None,
        title: str | None = None,
        json_out: bool = True,
        timeout: float = 180.0,
    ) -> Any:
        """Run one command to completion; its JSON output (or text), or `CommandFailed`."""
        if self.echo:
            where = f" (on {host.name})" if host else ""
            print(f"\n## {title or ''}{where}\n$ octravpn {shlex.join(args)}", flush=True)
        full = ("--json", *args) if json_out else args
        done = subprocess.run(
            self.argv(full, host), env=self.environment(host), capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise CommandFailed(list(args), done.returncode, done.stderr)
        if self.echo:
            print(json.dumps(json.loads(done.stdout), indent=1) if json_out else done.stdout.rstrip(), flush=True)
        return json.loads(done.stdout) if json_out else done.stdout

    # ------------------------------------------------------------ story
    def setup(self, *, price: str = PRICE, treasury: str = "1", erc20: bool = False) -> Registered:
        """Devnet, an exit registered at the lab's exit host, a tailnet of alice with bob, allowing the exit. With
        `erc20`, everything is paid in the devnet's ERC-20 (`devnet up --erc20`)."""
        self.run(
            "devnet",
            "up",
            "--host",
            self.lab.chain_address,
            "--port",
            str(free_port()),
            *(("--erc20",) if erc20 else ()),
            title="Start a local devnet: anvil, the contract, five funded wallets",
        )
        key = self.run("-w", "operator", "node", "keygen", title="The operator creates its exit's WireGuard key")
        self.run("-w", "operator", "operator", "bond", "1.5", title="…stakes")
        registered = self.run(
            "-w",
            "operator",
            "operator",
            "register",
            "--endpoint",
            f"{EXIT_PUBLIC}:{EXIT_PORT}",
            "--wg-pubkey",
            key["wg_pubkey"],
            "--region",
            "lab",
            "--price",
            price,
            "--receipt-wallet",
            "operator-receipts",
            title="…and registers the exit, with a separate receipt key",
        )
        acl = self.home / "acl.hujson"
        acl.write_text('{"acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["*:*"]}]}\n')
        tailnet = self.run(
            "-w",
            "alice",
            "tailnet",
            "create",
            "--deposit",
            treasury,
            "--acl",
            str(acl),
            title="Alice creates a tailnet with a treasury",
        )
        tid = str(tailnet["id"])
        self.run("-w", "alice", "tailnet", "add-exit", tid, "operator", title="…allows the exit")
        self.run("-w", "alice", "tailnet", "add-member", tid, "bob", title="…and adds Bob")
        return Registered(tailnet_id=tailnet["id"], exit_address=registered["address"], wg_pubkey=key["wg_pubkey"])

    def _start(
        self, args: tuple[str, ...], *, host: Host | None, log: Path, what: str, title: str, answers: Callable[[], bool]
    ) -> subprocess.Popen:
        """Run a long-lived command in the background (output to `log`) and return once `answers()` is true."""
        if self.echo:
            where = f" (on {host.name})" if host else ""
            print(f"\n## {title}{where}\n$ octravpn {shlex.join(args)} &", flush=True)
        with open(log, "ab") as output:
            process = subprocess.Popen(
                self.argv(args, host), env=self.environment(host), stdout=output, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the {what} stopped ({process.returncode}): {log.read_text()[-2000:]}")
            if answers():
                return process
            time.sleep(0.2)
        process.kill()
        raise RuntimeError(f"the {what} did not answer within 60s: {log.read_text()[-2000:]}")

    def start_exit(
        self, *options: str, log: Path, interface: str, index: int = 0, wallet: str = "operator"
    ) -> subprocess.Popen:
        """`octravpn node run` on exit host `index`, in the background, once its API answers."""
        host, public = self.lab.exits[index], EXIT_LINKS[index][1]
        key = () if wallet == "operator" else ("--wg-key-file", str(self.wg_key_file(wallet)))
        args = (
            "-w",
            wallet,
            "node",
            "run",
            "--interface",
            interface,
            "--uplink",
            self.lab.uplinks[index],
            *key,
            *options,
        )
        return self._start(
            args,
            host=host,
            log=log,
            what="exit node",
            title="The operator runs its exit node",
            answers=lambda: fetch(host, f"http://{public}:{EXIT_PORT}/v1/info", timeout=1) is not None,
        )

    def wg_key_file(self, wallet: str) -> Path:
        """Where a second operator's exit key lives (the first one's is in the node's default place)."""
        return self.home / f"{wallet}-wg.key"

    def add_exit(self, tailnet_id: int, *, index: int, wallet: str, price: str) -> Registered:
        """A second operator: a wallet with devnet coin, an exit registered at exit host `index`, allowed by the
        tailnet."""
        for name in (wallet, f"{wallet}-receipts"):
            self.run("wallet", "create", name, title="A second operator creates its wallets")
            self.run("devnet", "fund", name, "10", title="…with devnet coin")
        key = self.run("-w", wallet, "node", "keygen", "--wg-key-file", str(self.wg_key_file(wallet)))
        self.run("-w", wallet, "operator", "bond", "1.5")
        registered = self.run(
            "-w",
            wallet,
            "operator",
            "register",
            "--endpoint",
            f"{EXIT_LINKS[index][1]}:{EXIT_PORT}",
            "--wg-pubkey",
            key["wg_pubkey"],
            "--region",
            "lab",
            "--price",
            price,
            "--receipt-wallet",
            f"{wallet}-receipts",
        )
        self.run("-w", "alice", "tailnet", "add-exit", str(tailnet_id), wallet)
        return Registered(tailnet_id=tailnet_id, exit_address=registered["address"], wg_pubkey=key["wg_pubkey"])

    def start_daemon(self, host: Host, *options: str, log: Path) -> subprocess.Popen:
        """`octravpn daemon run` on `host`, in the background, once its status socket answers."""
        from octravpn.daemon.localclient import DaemonUnavailable, LocalAPI
        from octravpn.daemon.paths import read_socket

        status = LocalAPI(read_socket(self.socket(host)), timeout=2)

        def answers() -> bool:
            try:
                return bool(status.get("/v1/status"))
            except DaemonUnavailable:
                return False

        # wireguard-go's control sockets are shared by every namespace: each daemon's mesh gets a name of its own.
        mesh = () if "--mesh-interface" in options else ("--mesh-interface", unique("om"))
        args = (
            "daemon",
            "run",
            "--state-dir",
            str(self.state_dir(host)),
            "--socket",
            str(self.socket(host)),
            *mesh,
            *options,
        )
        process = self._start(
            args, host=host, log=log, what="daemon", title="The device runs its daemon, octravpnd", answers=answers
        )
        self.daemons[host.name] = process
        return process

    def account(self, wallet: str):
        """A lab wallet's account, unlocked (for tests that send what the command line would refuse)."""
        from octravpn import config
        from octravpn.wallet import Keystore

        return Keystore(config.load(env=self.env).keystore_dir).unlock(wallet, PASSWORD)

    def device(self, host: Host) -> str:
        """The device address of `host`'s daemon."""
        return self.run("status", host=host)["device"]

    def stop_daemon(self, host: Host, *, kill: bool = False) -> int:
        process = self.daemons.pop(host.name)
        return self.stop(process, kill=kill)

    def start_indexer(self, *, log: Path) -> tuple[subprocess.Popen, str]:
        """`octravpn indexer run` on the machine, its API on the address the namespaces reach the devnet at."""
        listen = f"{self.lab.chain_address}:{free_port()}"
        url = f"http://{listen}"

        def healthy() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        process = self._start(
            ("indexer", "run", "--listen", listen, "--poll-interval", "0.2"),
            host=None,
            log=log,
            what="indexer",
            title="Anyone can run an indexer: chain events into SQL, and the discovery API",
            answers=healthy,
        )
        return process, url

    def stop(self, process: subprocess.Popen, *, kill: bool = False, timeout: float = 60.0) -> int:
        if kill:
            process.kill()
        else:
            process.terminate()
        return process.wait(timeout=timeout)

    def down_devnet(self) -> None:
        subprocess.run(self.argv(("devnet", "down"), None), env=self.env, capture_output=True, timeout=60)
