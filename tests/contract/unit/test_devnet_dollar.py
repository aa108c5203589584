"""The Devnet Dollar, the ERC-20 `devnet up --erc20` pays in: only its deployer mints; transfers move exactly
what they say or revert."""

import boa
import pytest

from octravpn.chain.build import DEVNET_TOKEN
from tests.contract.harness import actor


@pytest.fixture
def token():
    with boa.env.prank(actor("minter").address):
        return boa.load(str(DEVNET_TOKEN))


def test_only_the_minter_mints(token):
    alice = actor("alice")
    with boa.env.prank(actor("minter").address):
        token.mint(alice.address, 5)
    assert (token.balanceOf(alice.address), token.totalSupply(), token.decimals(), token.symbol()) == (5, 5, 18, "dUSD")
    with boa.env.prank(alice.address), boa.reverts("only the minter mints"):
        token.mint(alice.address, 5)


def test_transfers_move_what_they_say_or_revert(token):
    alice, bob = actor("alice"), actor("bob")
    with boa.env.prank(actor("minter").address):
        token.mint(alice.address, 10)
    with boa.env.prank(alice.address):
        assert token.transfer(bob.address, 4)
        with boa.reverts("balance exceeded"):
            token.transfer(bob.address, 7)
        assert token.approve(bob.address, 3)
    with boa.env.prank(bob.address):
        with boa.reverts("allowance exceeded"):
            token.transferFrom(alice.address, bob.address, 4)
        assert token.transferFrom(alice.address, bob.address, 3)
    assert (
        token.balanceOf(alice.address),
        token.balanceOf(bob.address),
        token.allowance(alice.address, bob.address),
    ) == (
        3,
        7,
        0,
    )
