"""Paying in an ERC-20 end to end: the lab's devnet deployed with the Devnet Dollar (`devnet up --erc20`) as the
payment asset, every stake, treasury and payment in it, with real WireGuard tunnels between namespaces. The
exit stakes and is paid in the token, sessions outlive connections, checkpoints pay it while a session goes on
(in one batch that skips a revoked device's session), and a session left open past its keep-alive is settled
with the rest back in the tailnet's treasury."""

import pytest

from octravpn.lab import unique
from tests.e2e.agents import (
    _carry,
    _down,
    _settled,
    _status,
    _up,
    exit_starter,
    make_world,
    one_batch_pays_one_session_and_skips_a_revoked_devices,
)
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    yield from make_world(tmp_path_factory, clients=2, erc20=True)


@pytest.fixture
def start_exit(world, tmp_path):
    yield from exit_starter(world, tmp_path)


def _token_balance(chain, address: str) -> int:
    return chain.token().functions.balanceOf(address).call()


def test_the_deployment_pays_in_the_token(world):
    lab, cli, registered, chain = world
    assert chain.asset != "0x" + "00" * 20 and chain.asset_symbol() == "dUSD"
    assert chain.stake(registered.exit_address) == 15 * 10**17  # `operator bond 1.5`, in dUSD
    assert _token_balance(chain, chain.address) >= chain.stake(registered.exit_address) + 10**18


def test_down_up_rejoins_with_no_transaction_and_checkpoints_pay_the_exit_in_the_token(world, start_exit):
    lab, cli, registered, chain = world
    start_exit("--receipt-every", "0.2", "--max-unsigned", "2", "--checkpoint-at", "0.0000001")
    interface = unique("oc")
    held_before = _token_balance(chain, chain.address)
    session_id = _up(cli, lab.client, interface)["session"]
    _carry(cli, lab.client, interface, times=1)
    cli.run("down", host=lab.client)  # left open
    device = cli.device(lab.client)
    sent = chain.w3.eth.get_transaction_count(device)
    assert _up(cli, lab.client, interface)["session"] == session_id
    assert chain.w3.eth.get_transaction_count(device) == sent  # rejoined: no transaction
    _carry(cli, lab.client, interface, times=1)
    wait_for(lambda: chain.session(session_id).bytes_paid > 0, timeout=60, what="a checkpoint paid in the token")
    earnings = chain.earnings(registered.exit_address)
    down = _down(cli, lab.client)
    (settled,) = _settled(chain, session_id)
    assert settled.args["bytes_used"] == down["signed_bytes"]
    assert chain.earnings(registered.exit_address) > earnings > 0
    # Nothing left the contract: the exit's earnings, the fee and the refund are books in it until claimed.
    assert _token_balance(chain, chain.address) == held_before
    wallet_before = _token_balance(chain, registered.exit_address)
    claimed = cli.run("-w", "operator", "earnings", "claim")["claimed"]["base_units"]
    assert claimed > 0 and chain.earnings(registered.exit_address) == 0
    assert _token_balance(chain, registered.exit_address) == wallet_before + claimed  # paid out in the token
    assert _token_balance(chain, chain.address) == held_before - claimed


def test_a_session_left_open_past_its_keep_alive_settles_and_refunds_the_treasury_in_the_token(world, start_exit):
    lab, cli, registered, chain = world
    start_exit("--receipt-every", "0.2", "--max-unsigned", "2")
    interface = unique("oc")
    treasury = chain.tailnet(registered.tailnet_id).treasury
    session_id = _up(cli, lab.client, interface, "--keep-alive", "5s")["session"]
    _carry(cli, lab.client, interface, times=1)
    cli.run("down", host=lab.client)
    (settled,) = wait_for(lambda: _settled(chain, session_id), timeout=60, what="the keep-alive to end the session")
    assert settled.args["refund"] > 0
    assert chain.tailnet(registered.tailnet_id).treasury == treasury - settled.args["total_paid"]
    wait_for(lambda: _status(cli, lab.client)["left_open"] == [], what="the daemon to see it ended")


def test_one_batch_pays_the_exit_in_the_token_and_skips_a_revoked_devices_session(world, start_exit, tmp_path):
    one_batch_pays_one_session_and_skips_a_revoked_devices(world, start_exit, tmp_path)
