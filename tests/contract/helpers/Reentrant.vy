# pragma version ~=0.4.3
"""
@title Hostile receiver: acts as an operator, owner or sweeper, and when paid
       tries to call back into the target (once) with prepared calldata.
@dev Records whether the re-entry succeeded so a test can assert it did not.
"""

target: public(address)
reentry_data: public(Bytes[1024])
reentry_attempted: public(bool)
reentry_succeeded: public(bool)
refuse_payment: public(bool)


@deploy
def __init__(target: address):
    self.target = target


@external
def arm(data: Bytes[1024]):
    self.reentry_data = data


@external
def set_refuse_payment(refuse: bool):
    self.refuse_payment = refuse


@external
@payable
def execute(data: Bytes[2048], amount: uint256):
    raw_call(self.target, data, value=amount)


@external
def approve_token(token: address, amount: uint256):
    raw_call(token, abi_encode(self.target, amount, method_id=method_id("approve(address,uint256)")))


@external
def on_tokens_received():
    self._try_reentry()


@external
@payable
def __default__():
    assert not self.refuse_payment, "receiver refuses"
    self._try_reentry()


@internal
def _try_reentry():
    if len(self.reentry_data) == 0 or self.reentry_attempted:
        return
    self.reentry_attempted = True
    self.reentry_succeeded = raw_call(self.target, self.reentry_data, revert_on_failure=False)
