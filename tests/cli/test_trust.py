"""What a newcomer must be able to trust: no silent double payment, no typo'd address, no traceback,
options where people type them, and amounts said the same way everywhere. Real signals, real devnet."""

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from octravpn.chain.client import open_client
from octravpn.config import load
from tests.support.waiting import wait_for

HASH = re.compile(r"0x[0-9a-f]{64}")


def _chain():
    return open_client(load().network())


@pytest.fixture
def tailnet(cli):
    acl = cli.home / "acl.json"
    acl.write_text("{}")
    return cli.json("-w", "alice", "tailnet", "create", "--deposit", "0.5", "--acl", str(acl))["id"]


@pytest.fixture
def no_automine():
    """Transactions wait in the mempool until the test mines them."""
    chain = _chain()
    chain.w3.provider.make_request("evm_setAutomine", [False])
    yield chain
    chain.w3.provider.make_request("evm_setAutomine", [True])


def _spawn(cli, *args):
    return subprocess.Popen(
        [sys.executable, "-m", "octravpn.cli.main", *args],
        env=cli.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_mempool(chain, count: int = 1):
    wait_for(
        lambda: len(chain.w3.provider.make_request("txpool_content", [])["result"]["pending"]) >= count,
        what=f"{count} transaction(s) in the mempool",
    )


# ------------------------------------------------------------------ 1: never a silent double payment


def test_ctrl_c_after_broadcast_names_the_pending_transaction_and_tx_follows_it(cli, tailnet, no_automine):
    chain = no_automine
    treasury = chain.tailnet(tailnet).treasury
    process = _spawn(cli, "-w", "alice", "tailnet", "deposit", str(tailnet), "0.1")
    _wait_for_mempool(chain)
    process.send_signal(signal.SIGINT)  # Ctrl-C, while it waits for the transaction to be mined
    out, err = process.communicate(timeout=60)
    assert process.returncode == 7, err
    (line,) = err.strip().splitlines()
    (tx_hash,) = set(HASH.findall(line))
    assert line.startswith(f"error: transaction {tx_hash} was sent and then interrupted") and "do not resend" in line
    assert f"octravpn tx {tx_hash} --wait" in line

    assert "is in the node's mempool, not mined yet" in cli.fails(7, "tx", tx_hash)
    chain.w3.provider.make_request("evm_mine", [])
    mined = cli.json("tx", tx_hash)
    assert (
        mined["status"] == "mined"
        and mined["function"] == "deposit_to_tailnet"
        and mined["events"] == ["TailnetDeposit"]
    )
    assert chain.tailnet(tailnet).treasury == treasury + 10**17  # paid once, by the interrupted command


def test_a_timeout_is_pending_not_failed_and_tx_wait_sees_it_mined(cli, tailnet, no_automine):
    chain = no_automine
    line = cli.fails(7, "--timeout", "1", "-w", "alice", "tailnet", "deposit", str(tailnet), "0.1")
    (tx_hash,) = set(HASH.findall(line))
    assert "was not mined within 1s" in line and "do not resend" in line
    waiting = _spawn(cli, "--json", "tx", tx_hash, "--wait")
    time.sleep(1)  # let it wait; the outcome does not depend on how long
    chain.w3.provider.make_request("evm_mine", [])
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err and json.loads(out)["status"] == "mined"


def test_tx_reports_reverted_and_unknown_transactions(cli, tailnet):
    from octravpn.chain.errors import ContractRevert
    from octravpn.chain.sent import sent_transactions
    from octravpn.chain.transactions import TransactionManager
    from octravpn.wallet import Keystore

    chain = _chain()
    bob = Keystore(load().keystore_dir).unlock("bob", cli.env["OCTRAVPN_PASSWORD"])
    # Mined although it reverts: a fixed gas limit skips the estimate that would have refused it.
    with pytest.raises(ContractRevert, match="not tailnet owner"):
        TransactionManager(chain.w3, bob).send(
            chain.contract.functions.withdraw_from_tailnet(tailnet, bob.address, 1), gas=200_000
        )
    line = cli.fails(6, "tx", sent_transactions()[-1])
    assert line.startswith("error: withdraw_from_tailnet reverted: not tailnet owner (mined in block ")
    assert "safe to send again" in cli.fails(5, "tx", "0x" + "ab" * 32)
    assert "not a transaction hash" in cli.fails(2, "tx", "0x1234")


def _loading_web3(pid: int) -> bool:
    """Whether the process is inside our command's imports: web3's pydantic is mapped, and only a command loads it
    (a signal before Python runs our code at all is Python's own to report)."""
    try:
        return "pydantic_core" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def test_ctrl_c_while_loading_is_one_line(cli):
    process = _spawn(cli, "tailnet", "list")
    deadline = time.monotonic() + 60
    while not _loading_web3(process.pid) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    if process.returncode == 0:
        pytest.skip("the command finished before the signal arrived")  # a very fast machine
    assert process.returncode == 130 and "Traceback" not in err
    assert err.strip().splitlines() == ["error: interrupted: no transaction was sent"]


# ------------------------------------------------------------------ 2: checksums


def test_a_mistyped_mixed_case_address_is_refused_and_nothing_moves(cli, tailnet):
    chain = _chain()
    bob = cli.json("wallet", "show", "bob")["address"]
    letters = [i for i, c in enumerate(bob) if i > 1 and c.isalpha()]
    i = letters[0]
    typo = bob[:i] + bob[i].swapcase() + bob[i + 1 :]  # one character's case changed: the checksum breaks
    line = cli.fails(2, "-w", "alice", "tailnet", "add-member", str(tailnet), typo)
    assert f"address {typo} fails its EIP-55 checksum" in line and "its checksummed form is 0x" in line
    assert not chain.is_member(tailnet, bob)
    treasury = chain.tailnet(tailnet).treasury
    cli.fails(2, "-w", "alice", "tailnet", "withdraw", str(tailnet), "0.01", "--to", typo)
    assert chain.tailnet(tailnet).treasury == treasury
    cli.json("-w", "alice", "tailnet", "add-member", str(tailnet), bob.lower())  # no checksum to check: accepted
    assert chain.is_member(tailnet, bob)


# ------------------------------------------------------------------ 3: one line, never a traceback


def test_amounts_beyond_uint256_are_refused_before_sending(cli, tailnet):
    line = cli.fails(2, "-w", "alice", "tailnet", "deposit", str(tailnet), "1" + "0" * 80)
    assert "is more than the contract can hold" in line
    line = cli.fails(2, "-w", "operator", "session", "claim", "0", str(2**256))
    assert "does not fit the contract's types" in line


def test_deploy_errors_are_one_line(cli):
    cli.json("wallet", "create", "pauper")
    line = cli.fails(5, "-w", "pauper", "network", "deploy")
    assert "cannot pay for this transaction (balance 0 ETH (0))" in line
    line = cli.fails(2, "-w", "owner", "network", "deploy", "--asset", "0x" + "12" * 20)
    assert "has no contract on network 'devnet'" in line
    assert load().network("devnet").contract == _chain().address  # the config still points at the deployment


def test_every_failure_of_a_subprocess_is_one_line(cli):
    for args, code in [
        (("tailnet", "deposit", "0", "1e999"), 2),
        (("-w", "nobody", "tailnet", "list"), 0),
        (("session", "list", "--status", "closed"), 2),
        (("bogus",), 2),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "octravpn.cli.main", *args],
            env=cli.env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == code, (args, done.stderr)
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 1, (args, done.stderr)


# ------------------------------------------------------------------ 5: options where people type them


def test_global_options_after_the_command(cli, tailnet):
    before = cli.json("-w", "bob", "wallet", "show")
    assert cli("wallet", "show", "-w", "bob", "--json").json() == before
    assert cli("wallet", "show", "--wallet=bob", "--json").json() == before
    shown = cli("tailnet", "show", str(tailnet), "--json")
    assert shown.code == 0 and shown.json()["id"] == tailnet
    # A command's own option keeps its value, even one that looks like a global option.
    assert cli("-w", "alice", "tailnet", "invite", str(tailnet), "--expires", "1h", "--json").code == 0


def test_help_and_version(cli):
    for args in (("-h",), ("tailnet", "-h"), ("tailnet", "invite", "-h")):
        result = cli(*args)
        assert result.code == 0 and "Usage: octravpn" in result.out, args
    from importlib.metadata import version

    assert cli("--version").out.strip() == f"octravpn {version('octravpn')}"


def test_piped_tables_keep_every_token_whole(cli, tailnet):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "octravpn.cli.main",
            "-w",
            "alice",
            "tailnet",
            "invite",
            str(tailnet),
            "--expires",
            "1h",
        ],
        env={**cli.env, "COLUMNS": "60"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    invites = re.findall(r"ovpn-invite-\S+", done.stdout)
    tx = HASH.findall(done.stdout)
    assert len(invites) == 1 and len(invites[0]) > 100 and len(tx) == 1  # whole on one line, however narrow
    joined = cli.json("-w", "bob", "tailnet", "join", invites[0])
    assert joined["tailnet"] == tailnet


# ------------------------------------------------------------------ 6: one way to say an amount


def test_amounts_have_one_shape(cli, tailnet):
    balance = cli.json("wallet", "balance", "bob")["native"]
    assert set(balance) == {"amount", "base_units", "symbol", "human"} and balance["symbol"] == "ETH"
    assert balance["human"] == f"{balance['amount']} ETH ({balance['base_units']})"
    treasury = cli.json("tailnet", "show", str(tailnet))["treasury"]
    assert set(treasury) == set(balance)
    assert "(native)" not in cli("wallet", "balance", "bob").out


def test_operator_show_of_a_stranger_is_an_error_not_zeros(cli):
    line = cli.fails(2, "operator", "show", "0x" + "00" * 19 + "01")
    assert "has never bonded a stake or registered an exit" in line


# ------------------------------------------------------------------ 8: what a command loads


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], ["wallet", "list"], ["network", "list"], ["wallet", "show", "bob"], ["tailnet", "-h"]],
)
def test_commands_that_need_no_chain_do_not_load_it(cli, args):
    code = (
        "import sys; from octravpn.cli.main import main; code = main(sys.argv[1:]); "
        "print('\\n'.join(m for m in ('web3', 'eth_account', 'sqlalchemy') if m in sys.modules), "
        "file=sys.stderr); sys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", code, *args], env=cli.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr.strip() == "", (args, done.stderr)


def test_the_quick_path_knows_exactly_the_options_of_the_full_commands():
    """`status`, `up` and `down` are answered without Typer when they can be: same options, same meaning."""
    from octravpn.cli.app import load_command
    from octravpn.cli.quick import QUICK, parse

    for name, options in QUICK.items():
        full = {opt for param in load_command(name).params for opt in param.opts + param.secondary_opts}
        assert set(options) == full - {"--help", "-h", "--watch"}, name
    assert parse(["--json", "up", "--exit", "auto", "--no-kill-switch", "--loss=5"]) == (
        "up",
        True,
        False,
        {"exit": "auto", "kill_switch": False, "loss_percent": 5.0},
    )
    assert parse(["-w", "bob", "up", "--exit", "auto"])[2] is True  # may need the wallet: registration
    for needs_the_full_parser in (
        ["up", "--help"],
        ["status", "--watch"],
        ["up", "--leeway", "lots"],
        ["up", "--exit"],
        ["tailnet", "list"],
        ["down", "--settle-wait"],
        ["up", "--kill-switch=yes"],
    ):
        assert parse(needs_the_full_parser) is None, needs_the_full_parser


@pytest.mark.parametrize(
    "args",
    [["status"], ["status", "--watch"], ["up", "--exit", "auto"], ["down"], ["wg-config", "--exit", "auto"]],
)
def test_the_daemons_thin_clients_load_neither_web3_nor_eth_account(cli, tmp_path, args):
    """Quick path or full command, they only talk to the daemon (here: none answers, exit code 8)."""
    code = (
        "import sys; from octravpn.cli.main import main; code = main(sys.argv[1:]); "
        "print('\\n'.join(m for m in ('web3', 'eth_account') if m in sys.modules), file=sys.stderr); sys.exit(code)"
    )
    env = {**cli.env, "OCTRAVPN_SOCKET": str(tmp_path / "none.sock")}
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 8 and [line for line in done.stderr.splitlines()[1:] if line] == [], (args, done.stderr)
