# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title Payment asset: moves the one asset the deployment was fixed to
@notice Either the chain's native coin (`asset == empty(address)`) or one
        ERC-20. Every function that takes money also takes an explicit
        `amount`, so the ABI is the same for both kinds of deployment.
@dev Other modules call `_pull` before crediting anything and `_push` only
     after their state is final (checks-effects-interactions); the contract
     runs under `# pragma nonreentrancy on`, so a receiver that calls back in
     is refused.
"""

from ethereum.ercs import IERC20

# @dev The empty address means the native coin.
asset: public(immutable(address))


@deploy
def __init__(asset_: address):
    asset = asset_


@internal
@view
def _balance() -> uint256:
    if asset == empty(address):
        return self.balance
    return staticcall IERC20(asset).balanceOf(self)


@internal
def _pull(payer: address, amount: uint256, sent_value: uint256):
    """
    @dev Takes `amount` from `payer`. `sent_value` is the caller's `msg.value`.
         For an ERC-20 the balance is read before and after, so a token that
         takes a fee on transfer (and would break the ledger) is refused.
    """
    assert amount > 0, "amount > 0"
    if asset == empty(address):
        assert sent_value == amount, "sent value must equal amount"
        return
    assert sent_value == 0, "asset is an ERC-20: send no native coin"
    before: uint256 = staticcall IERC20(asset).balanceOf(self)
    self._call_token(abi_encode(payer, self, amount, method_id=method_id("transferFrom(address,address,uint256)")))
    assert staticcall IERC20(asset).balanceOf(self) == before + amount, "token moved a different amount"


@internal
def _push(receiver: address, amount: uint256):
    """
    @dev Pays `amount` to `receiver`. Callers have already updated their
         state, so a failed payout reverts the whole transaction.
    """
    assert receiver != empty(address), "receiver is the empty address"
    # An ERC-20 sent to this contract would be stranded outside every ledger.
    assert receiver != self, "receiver is this contract"
    if amount == 0:
        return
    if asset == empty(address):
        success: bool = raw_call(receiver, b"", value=amount, revert_on_failure=False)
        assert success, "payout failed: receiver refused the coin"
        return
    self._call_token(abi_encode(receiver, amount, method_id=method_id("transfer(address,uint256)")))


@internal
def _call_token(payload: Bytes[100]):
    # Tokens such as USDT return nothing; others return a bool that must be true.
    success: bool = False
    response: Bytes[32] = b""
    success, response = raw_call(asset, payload, max_outsize=32, revert_on_failure=False)
    assert success, "token transfer failed"
    if len(response) > 0:
        assert abi_decode(response, bool), "token transfer returned false"
