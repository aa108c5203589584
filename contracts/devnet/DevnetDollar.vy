# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title Devnet Dollar: the ERC-20 a local devnet can be paid in
@notice `octravpn devnet up --erc20` deploys it and OctraVPN with it as the
        payment asset, so the ERC-20 paths (approvals, transfers in and out)
        run as they would with a real token. 18 decimals; only its deployer
        mints. It is never deployed outside a devnet.
"""

from ethereum.ercs import IERC20

implements: IERC20

name: public(String[32])
symbol: public(String[8])
decimals: public(uint8)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
totalSupply: public(uint256)
minter: public(immutable(address))


@deploy
def __init__():
    self.name = "Devnet Dollar"
    self.symbol = "dUSD"
    self.decimals = 18
    minter = msg.sender


@external
def mint(to: address, amount: uint256):
    """
    @notice Create `amount` for `to` (the deployer only).
    @param to The receiver.
    @param amount Base units to create.
    """
    assert msg.sender == minter, "only the minter mints"
    self.balanceOf[to] += amount
    self.totalSupply += amount
    log IERC20.Transfer(sender=empty(address), receiver=to, value=amount)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    """
    @notice Send `amount` to `receiver`.
    @param receiver The receiver.
    @param amount Base units.
    @return True.
    """
    self._move(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    """
    @notice Send `amount` of `sender`'s, within the caller's allowance.
    @param sender Whose tokens.
    @param receiver The receiver.
    @param amount Base units.
    @return True.
    """
    assert self.allowance[sender][msg.sender] >= amount, "allowance exceeded"
    self.allowance[sender][msg.sender] -= amount
    self._move(sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice Let `spender` send up to `amount` of the caller's.
    @param spender Who may spend.
    @param amount Base units.
    @return True.
    """
    self.allowance[msg.sender][spender] = amount
    log IERC20.Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@internal
def _move(sender: address, receiver: address, amount: uint256):
    assert self.balanceOf[sender] >= amount, "balance exceeded"
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    log IERC20.Transfer(sender=sender, receiver=receiver, value=amount)
