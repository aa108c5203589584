# pragma version ~=0.4.3
"""
@title Test ERC-20: mintable, with three hostile modes for tests
@dev `hooked[to]`: call `on_tokens_received()` on the recipient after a
     transfer (like ERC-777), to test reentrancy through the token.
     `fee_bps`: deliver less than asked (fee-on-transfer), which the payment
     module must refuse.
     `returns_false`: report failure with `false` instead of reverting, as
     some old tokens do.
"""

balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
totalSupply: public(uint256)
decimals: public(uint8)
hooked: public(HashMap[address, bool])
fee_bps: public(uint256)
returns_false: public(bool)

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256


@deploy
def __init__():
    self.decimals = 6


@external
def mint(to: address, amount: uint256):
    self.balanceOf[to] += amount
    self.totalSupply += amount
    log Transfer(sender=empty(address), receiver=to, value=amount)


@external
def set_hooked(account: address, on: bool):
    self.hooked[account] = on


@external
def set_fee_bps(bps: uint256):
    self.fee_bps = bps


@external
def set_returns_false(on: bool):
    self.returns_false = on


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@external
def transfer(to: address, amount: uint256) -> bool:
    if self.returns_false:
        return False
    self._move(msg.sender, to, amount)
    return True


@external
def transferFrom(sender: address, to: address, amount: uint256) -> bool:
    if self.returns_false:
        return False
    assert self.allowance[sender][msg.sender] >= amount, "erc20: allowance"
    self.allowance[sender][msg.sender] -= amount
    self._move(sender, to, amount)
    return True


@internal
def _move(sender: address, to: address, amount: uint256):
    assert self.balanceOf[sender] >= amount, "erc20: balance"
    fee: uint256 = amount * self.fee_bps // 10000
    self.balanceOf[sender] -= amount
    self.balanceOf[to] += amount - fee
    self.totalSupply -= fee
    log Transfer(sender=sender, receiver=to, value=amount - fee)
    if self.hooked[to]:
        raw_call(to, method_id("on_tokens_received()"))
