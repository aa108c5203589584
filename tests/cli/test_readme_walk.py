"""Every example command of the documents, run in their order on a fresh devnet, must succeed without a
traceback, so the manual and the program cannot drift apart.

Each line runs as written, with `--json` added so its answer can be read, and `--yes` where the document marks
it optional (there is no terminal here to answer on). What a reader would have done between two lines (wait
for a grace period, create the file a line names, open the session a line refers to) is done by the steps
below, through the command line too. Long-running commands run in the background until they answer, then get
SIGTERM; the device daemon keeps running for the lines after it (`status`, `device add` of its key) until the
line that needs it stopped. Only the lines that need a running exit node (in its own network namespace) or a
mesh of devices (in theirs) are left out: `tests/e2e` runs those end to end.
"""

import base64
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import vyper

from octravpn.chain.devnet import Anvil, free_port
from octravpn.config import load
from octravpn.protocol import Domain, Receipt, sign
from octravpn.wallet import Keystore
from tests.cli.conftest import Cli
from tests.cli.readme_examples import DOCUMENTS, examples

WG_KEY = base64.b64encode(bytes(range(32))).decode()
NEW_WG_KEY = base64.b64encode(bytes(range(1, 33))).decode()
MOCK_ERC20 = Path(__file__).parents[1] / "contract" / "helpers" / "MockERC20.vy"
POLICY = re.search(r"```hujson\n(.*?)```", "".join(d.read_text() for d in DOCUMENTS), re.S).group(
    1
)  # the example policy
# An exit node runs in its own network namespace: `tests/e2e/test_agents.py` runs these lines end to end.
NEEDS_A_RUNNING_EXIT = {
    "-w operator node run",
    "up --exit operator",
    "-w bob up --exit auto",
    "down",
    "down --end",
    "session end",
    "set --no-kill-switch",
    "wg-config --exit operator -o operator.conf",
}
# A mesh needs peers in network namespaces: `tests/e2e/test_mesh.py` runs these lines end to end.
NEEDS_A_MESH = {"ping build-box", "ip"}
EXAMPLE_SESSION = 8083014895606525  # the session id the documents' examples name


class Walk:
    def __init__(self, cli: Cli, monkeypatch) -> None:
        self.cli, self.monkeypatch = cli, monkeypatch
        self.remote: Anvil | None = None
        self.sessions: list[int] = []
        self.captured: dict[str, str] = {}
        self.daemon: subprocess.Popen | None = None

    # ------------------------------------------------------------ running
    def run(self, *args: str, env: dict[str, str] | None = None) -> dict | list:
        for key, value in (env or {}).items():
            self.monkeypatch.setenv(key, value)
        try:
            result = self.cli(*args, "--json")
        finally:
            for key in env or {}:
                self.monkeypatch.delenv(key)
        assert result.code == 0 and "Traceback" not in result.err, f"octravpn {' '.join(args)}: {result.err}"
        try:
            return json.loads(result.out) if result.out.strip() else {}
        except ValueError:
            return result.out  # a document, as `acl fetch` prints one

    def in_background(self, *args: str, env: dict[str, str], ready) -> None:
        """A long-running command: started as a process, until `ready()`, then SIGTERM; it must exit 0."""
        process = subprocess.Popen(
            [sys.executable, "-m", "octravpn.cli.main", *args],
            env={**self.cli.env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.cli.home,
        )
        try:
            deadline = time.monotonic() + 60
            while not _answers(ready):
                assert process.poll() is None and time.monotonic() < deadline, (
                    process.stdout.read()[-2000:]
                    if process.poll() is not None
                    else f"octravpn {' '.join(args)} did not become ready"
                )
                time.sleep(0.1)
        finally:
            process.send_signal(signal.SIGTERM)
            output = process.communicate(timeout=30)[0]
        assert process.returncode == 0 and "Traceback" not in output, output[-2000:]

    def start_daemon(self, *args: str) -> None:
        """`daemon run`, left running (its socket and state in the walk's home)."""
        self.daemon = subprocess.Popen(
            [sys.executable, "-m", "octravpn.cli.main", *args],
            env=self.cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not _answers(lambda: self.cli("status").code == 0):
            assert self.daemon.poll() is None and time.monotonic() < deadline, "the daemon did not start"
            time.sleep(0.1)

    def stop_daemon(self) -> None:
        self.daemon.send_signal(signal.SIGTERM)
        output = self.daemon.communicate(timeout=30)[0]
        assert self.daemon.returncode == 0 and "Traceback" not in output, output[-2000:]
        self.daemon = None

    def address(self, wallet: str) -> str:
        return self.run("wallet", "show", wallet)["address"]

    def open_session(self, exit_: str = "operator") -> int:
        session_id = self.run("-w", "bob", "session", "open", "--tailnet", "0", "--exit", exit_, "--max-pay", "0.01")[
            "id"
        ]
        self.sessions.append(session_id)
        return session_id

    def indexer(self) -> tuple[dict[str, str], str]:
        listen = f"127.0.0.1:{free_port()}"
        return {"OCTRAVPN_INDEXER_LISTEN": listen, "OCTRAVPN_INDEXER": f"http://{listen}"}, f"http://{listen}"

    # ------------------------------------------------------ between lines
    def before(self, text: str) -> dict[str, str]:
        """What a reader does before the line `text`; the placeholders of the line and their values."""
        home = self.cli.home
        if text.startswith("tx "):  # the first example: a transaction to look at
            self.run("devnet", "up", "--port", str(free_port()))
            (home / "policy.hujson").write_text(POLICY)
            tx = self.run("-w", "bob", "tailnet", "create", "--deposit", "0.5", "--acl", "policy.hujson")["tx"]
            return {"0x0ab2…": tx}
        if text.startswith("devnet fund"):
            self.run("devnet", "up")  # the lines before stopped and erased it
        if text.startswith("wallet import dave"):
            (home / "k").write_text("0x" + "4c" * 32 + "\n")
        if text.startswith("network add sepolia"):
            return {"0xYourDeployment": "0x" + "22" * 20}
        if text.startswith("-w gov network deploy"):
            return self._remote_network()
        if '--wg-pubkey "$(wg pubkey < exit.key)"' in text:
            return {"$(wg pubkey < exit.key)": WG_KEY}
        if "rotate-keys" in text:
            return {"NEWKEY": NEW_WG_KEY}
        if text.startswith("-w alice tailnet tag 0"):  # a policy in which alice owns the tags the line grants
            alice = self.address("alice")
            owners = {"tagOwners": {"tag:server": [alice], "tag:ci": [alice]}, "acls": []}
            (home / "tags.hujson").write_text(json.dumps(owners))
            self.run("-w", "alice", "tailnet", "set-acl", "0", "tags.hujson")
            return {"0x…SERVER": alice, "0x…BUILDBOX": alice}
        if text.startswith("-w operator operator finalize-unbond"):
            self.run("devnet", "advance", "31d")  # the unbond grace
        if text.startswith("-w alice tailnet add-exit 0 operator"):  # it unbonded above: back in service
            self.run("-w", "operator", "operator", "bond", "1.5")
            self.run(
                "-w",
                "operator",
                "operator",
                "register",
                "--endpoint",
                "203.0.113.7:51820",
                "--wg-pubkey",
                WG_KEY,
                "--region",
                "eu-west",
                "--price",
                "0.000002",
                "--receipt-wallet",
                "operator-receipts",
            )
        if text.startswith("-w bob tailnet join"):
            return {"ovpn-invite-1.31337.0x….0.4f9c…": self.captured["invite"]}
        if text.startswith("-w alice tailnet revoke-invite"):  # the invite above is used up: a live one
            return {"0x…": self.run("-w", "alice", "tailnet", "invite", "0", "--expires", "1h")["invite_key"]}
        if text.startswith("-w bob device add laptop"):
            self.run("wallet", "create", "laptop")
        if text.startswith("-w phone device consent"):
            self.run("wallet", "create", "phone")
        if text.startswith("-w bob device add 0x… --signature"):
            return {"0x… --signature 0x…": f"{self.captured['device']} --signature {self.captured['signature']}"}
        if text.startswith("-w bob device add 0x… --fund"):  # the daemon's own key
            return {"0x…": self.run("status")["device"]}
        if text.startswith("daemon cleanup"):
            self.stop_daemon()  # cleaning up is for a daemon stopped for good
        if text.startswith("set --hostname") and self.daemon is None:
            self.start_daemon("daemon", "run")  # the mesh's preferences are the daemon's
        if text.startswith("-w bob device revoke"):
            return {"0x…": self.captured["device"]}
        if text.startswith("-w bob session open"):
            self.run("-w", "alice", "tailnet", "add-exit", "0", "operator")  # removed a few lines above
        if re.match(rf"(-w \w+ )?session (show|claim|confirm|no-show|sweep|close|top-up) {EXAMPLE_SESSION}", text):
            return {f" {EXAMPLE_SESSION}": f" {self._session_for(text)}"}
        if text.startswith("-w operator operator register"):
            self.run("-w", "operator", "operator", "retire")  # registered already: register anew
            return {"KEY": NEW_WG_KEY}
        if text.startswith("-w owner gov execute-params"):
            self.run("devnet", "advance", "3d")  # the governance delay
        if text.startswith("-w bob slash 0x…"):
            self.captured["double_signer"] = self._double_signer()
            return {"0x…": self.captured["double_signer"]}
        if text.startswith("slash 0x… --release"):
            self.run("devnet", "advance", "25h")  # the report window
            return {"0x…": self.captured["double_signer"]}
        if text.startswith("-w owner slash operator --execute"):
            self.run("devnet", "advance", "3d")
        if text.startswith("-w owner gov transfer-ownership"):
            return {"0x…": self.address("owner")}  # to itself: the lines after still need it
        return {}

    def after(self, text: str, answer) -> None:
        if text.startswith("-w alice tailnet invite"):
            self.captured["invite"] = answer["invite"]
        elif text.startswith("-w phone device consent"):
            self.captured.update(device=answer["device"], signature=answer["signature"])
        elif text.startswith("-w bob session open"):
            self.sessions.append(answer["id"])
        elif text.startswith("-w alice session close"):
            self.run("-w", "alice", "tailnet", "add-member", "0", "bob")  # back for the lines after

    def _session_for(self, text: str) -> int:
        """The session a `session … ID` line needs, opened (and brought to where the line starts) if need be."""
        if f"confirm {EXAMPLE_SESSION} 240000000" in text:  # a fresh claim to accept within 5 %
            session_id = self.open_session()
            self.run("-w", "operator", "session", "claim", str(session_id), "250000000")
            return session_id
        if "no-show" in text:
            session_id = self.open_session()
            self.run("devnet", "advance", "25h")  # past its grace
            return session_id
        if "sweep" in text:
            session_id = self.open_session()
            self.run("devnet", "advance", "11d")  # past 10 x the grace
            return session_id
        if "top-up" in text:  # an open session of bob's (the first one has settled by now)
            return self.open_session()
        if "close" in text:
            session_id = self.open_session()
            self.run("-w", "alice", "tailnet", "remove-member", "0", "bob")  # its opener loses its authority
            return session_id
        return self.sessions[0]

    def _remote_network(self) -> dict[str, str]:
        """A second chain stands in for the real network the command reference deploys on, with a token as the asset."""
        self.remote = Anvil().start()
        compiled = vyper.compile_code(MOCK_ERC20.read_text(), output_formats=["abi", "bytecode"])
        self.run("network", "add", "remote", "--rpc-url", self.remote.rpc_url, "--chain-id", "31337")
        self.run("wallet", "create", "gov")
        gov = self.address("gov")
        from web3 import Web3

        w3 = Web3(Web3.HTTPProvider(self.remote.rpc_url))
        w3.provider.make_request("anvil_setBalance", [gov, hex(10**19)])
        factory = w3.eth.contract(abi=compiled["abi"], bytecode=compiled["bytecode"])
        receipt = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": w3.eth.accounts[0]}))
        self.monkeypatch.setenv("OCTRAVPN_NETWORK", "remote")  # as `network add … --use` would have made it
        self.captured["network_override"] = "remote"
        return {"0xA0b8…eB48": receipt.contractAddress}

    def _double_signer(self) -> str:
        """An exit whose receipt key signed two different byte counts for one receipt, and the proof of it."""
        for wallet in ("cheat", "cheat-receipts"):
            self.run("wallet", "create", wallet)
        self.run("devnet", "fund", "cheat", "10")
        self.run("-w", "cheat", "operator", "bond", "1.5")
        self.run(
            "-w",
            "cheat",
            "operator",
            "register",
            "--endpoint",
            "198.51.100.9:51820",
            "--wg-pubkey",
            WG_KEY,
            "--region",
            "eu-west",
            "--price",
            "0.000002",
            "--receipt-wallet",
            "cheat-receipts",
        )
        self.run("-w", "alice", "tailnet", "add-exit", "0", "cheat")
        session_id = self.open_session("cheat")
        key = Keystore(load().keystore_dir).unlock("cheat-receipts", self.cli.env["OCTRAVPN_PASSWORD"]).key
        domain = Domain(chain_id=31337, verifying_contract=load().network("devnet").contract)
        (self.cli.home / "proof.json").write_text(
            json.dumps(
                {
                    "session_id": session_id,
                    "seq": 1,
                    "bytes_a": 1000,
                    "bytes_b": 2000,
                    "sig_a": sign(domain, Receipt(session_id=session_id, seq=1, bytes_used=1000), bytes(key)).hex(),
                    "sig_b": sign(domain, Receipt(session_id=session_id, seq=1, bytes_used=2000), bytes(key)).hex(),
                }
            )
        )
        return self.address("cheat")


def _answers(ready) -> bool:
    try:
        return bool(ready())
    except (httpx.HTTPError, AssertionError):  # not listening yet, or a command that answers only once it is
        return False


@pytest.fixture
def walk(tmp_path, capsys, monkeypatch):
    cli = Cli(tmp_path, capsys, monkeypatch)
    monkeypatch.chdir(tmp_path)  # the files the examples name (k, policy.hujson, proof.json) are here
    for key, value in (
        ("OCTRAVPN_SOCKET", tmp_path / "run" / "octravpnd.sock"),
        ("OCTRAVPN_STATE_DIR", tmp_path / "state"),
    ):
        cli.env[key] = str(value)
        monkeypatch.setenv(key, str(value))
    walk = Walk(cli, monkeypatch)
    yield walk
    if walk.daemon is not None:
        walk.stop_daemon()
    cli("devnet", "down")
    if walk.remote is not None:
        walk.remote.stop()


def test_every_readme_example_runs(walk):
    ran, left_out = [], []
    for example in examples():
        text = " ".join(example.text.split())
        if text in NEEDS_A_RUNNING_EXIT | NEEDS_A_MESH:
            left_out.append(text)
            continue
        substitutions = walk.before(text)
        argv = example.argv(substitutions) + (["--yes"] if "--yes" in example.optional else [])
        where = f"{example.document}:{example.line}: octravpn {' '.join(argv)}"
        if argv[:2] == ["daemon", "run"]:
            walk.start_daemon(*argv)
        elif argv[:2] in (["indexer", "run"], ["indexer", "serve"]):
            env, url = walk.indexer()  # `serve` serves the database the `run` line before it filled
            walk.in_background(*argv, env=env, ready=lambda: httpx.get(f"{url}/healthz", timeout=2).status_code == 200)
        elif argv[:2] == ["exits", "list"]:  # it asks a running indexer
            env, url = walk.indexer()
            answers = []
            walk.in_background(
                "indexer", "run", env=env, ready=lambda: answers.append(walk.run(*argv, env=env)) or answers[-1]
            )
            assert answers, where
        else:
            try:
                answer = walk.run(*argv)
            except AssertionError as exc:
                raise AssertionError(f"{where}\n{exc}") from None
            walk.after(text, answer)
        if walk.captured.pop("network_override", None):
            walk.monkeypatch.delenv("OCTRAVPN_NETWORK")
        ran.append(text)
    assert sorted(left_out) == sorted(NEEDS_A_RUNNING_EXIT | NEEDS_A_MESH)  # every other line ran
    assert len(ran) == len(examples()) - len(NEEDS_A_RUNNING_EXIT | NEEDS_A_MESH)
