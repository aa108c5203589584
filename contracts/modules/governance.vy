# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title Governance: owner, pause switch, protocol parameters, program treasury
@notice Time is in seconds (`block.timestamp`); amounts are in the payment
        asset's base units; shares are basis points (1/10,000).
@dev The seed counted time in 10-second epochs; its bounds are kept at the
     same wall-clock length. The stake floor scales with the asset: governance
     may lower `min_endpoint_stake` to a tenth of its deployed value, never
     below (the seed: 1,000 default, 100 floor).
"""

from . import payments

uses: payments

struct Params:
    min_session_deposit: uint256
    min_tailnet_deposit: uint256
    session_grace: uint256
    sweep_grace_multiplier: uint256
    sweep_bounty_bps: uint256
    min_endpoint_stake: uint256
    unbond_grace: uint256
    slash_burn_bps: uint256
    slash_bounty_bps: uint256
    protocol_fee_bps: uint256

BPS_DENOM: constant(uint256) = 10_000
UNBOND_GRACE_DEFAULT: constant(uint256) = 30 * 86_400
UNBOND_GRACE_MIN: constant(uint256) = 10_000
SLASH_BURN_DEFAULT_BPS: constant(uint256) = 9_000
SLASH_BOUNTY_DEFAULT_BPS: constant(uint256) = 1_000
SLASH_BURN_MIN_BPS: constant(uint256) = 5_000
PROTOCOL_FEE_DEFAULT_BPS: constant(uint256) = 50
PROTOCOL_FEE_MAX_BPS: constant(uint256) = 200
SWEEP_GRACE_MULT_DEFAULT: constant(uint256) = 10
SWEEP_BOUNTY_DEFAULT_BPS: constant(uint256) = 100
SWEEP_BOUNTY_MAX_BPS: constant(uint256) = 1_000
STAKE_FLOOR_DIVISOR: constant(uint256) = 10

owner: public(address)
paused: public(bool)
# @dev Protocol fees and the treasury share of slashed stake.
treasury: uint256
params: Params
stake_floor: public(immutable(uint256))

event ParamsUpdated:
    params: Params

event PauseSet:
    paused: bool

event OwnershipTransferred:
    previous_owner: indexed(address)
    new_owner: indexed(address)

event ProgramTreasuryWithdrawn:
    to: indexed(address)
    amount: uint256


@deploy
def __init__(
    min_session_deposit: uint256,
    min_tailnet_deposit: uint256,
    session_grace: uint256,
    min_endpoint_stake: uint256,
):
    assert min_session_deposit > 0, "session deposit > 0"
    assert min_tailnet_deposit > 0, "tailnet deposit > 0"
    assert session_grace > 0, "session grace > 0"
    assert min_endpoint_stake >= STAKE_FLOOR_DIVISOR, "min endpoint stake too low"
    stake_floor = min_endpoint_stake // STAKE_FLOOR_DIVISOR
    self.owner = msg.sender
    self.params = Params(
        min_session_deposit=min_session_deposit,
        min_tailnet_deposit=min_tailnet_deposit,
        session_grace=session_grace,
        sweep_grace_multiplier=SWEEP_GRACE_MULT_DEFAULT,
        sweep_bounty_bps=SWEEP_BOUNTY_DEFAULT_BPS,
        min_endpoint_stake=min_endpoint_stake,
        unbond_grace=UNBOND_GRACE_DEFAULT,
        slash_burn_bps=SLASH_BURN_DEFAULT_BPS,
        slash_bounty_bps=SLASH_BOUNTY_DEFAULT_BPS,
        protocol_fee_bps=PROTOCOL_FEE_DEFAULT_BPS,
    )
    log OwnershipTransferred(previous_owner=empty(address), new_owner=msg.sender)


@external
def set_params(new_params: Params):
    """
    @notice Replace every protocol parameter at once (owner only).
    @dev Bounds from the seed: sweep bounty <= 10 %, unbond grace >= 10,000 s,
         slash burn share >= 50 % and burn + bounty = 100 %, fee <= 2 %.
    """
    self._check_owner()
    assert (
        new_params.min_session_deposit > 0
        and new_params.min_tailnet_deposit > 0
        and new_params.session_grace > 0
        and new_params.sweep_grace_multiplier > 0
    ), "min deposits, session grace and sweep multiplier must be > 0"
    assert new_params.sweep_bounty_bps <= SWEEP_BOUNTY_MAX_BPS, "sweep bounty <= 10%"
    assert new_params.min_endpoint_stake >= stake_floor, "stake floor too low"
    assert new_params.unbond_grace >= UNBOND_GRACE_MIN, "unbond grace too short"
    assert new_params.slash_burn_bps >= SLASH_BURN_MIN_BPS, "burn share too low"
    assert new_params.slash_burn_bps + new_params.slash_bounty_bps == BPS_DENOM, "slash bps sum"
    assert new_params.protocol_fee_bps <= PROTOCOL_FEE_MAX_BPS, "protocol fee > 2%"
    self.params = new_params
    log ParamsUpdated(params=new_params)


@external
def set_paused(paused_: bool):
    """
    @notice Stop (or restart) every state-changing function but governance.
    """
    self._check_owner()
    self.paused = paused_
    log PauseSet(paused=paused_)


@external
def transfer_ownership(new_owner: address):
    """
    @notice Hand governance to `new_owner` (owner only).
    """
    self._check_owner()
    assert new_owner != empty(address), "new owner is the empty address"
    previous: address = self.owner
    self.owner = new_owner
    log OwnershipTransferred(previous_owner=previous, new_owner=new_owner)


@external
def withdraw_program_treasury(to: address, amount: uint256):
    """
    @notice Pay `amount` of protocol fees and slashed stake to `to` (owner only).
    """
    self._check_owner()
    self._check_amount(amount)
    self._check_covers(self.treasury, amount)
    self.treasury -= amount
    payments._push(to, amount)
    log ProgramTreasuryWithdrawn(to=to, amount=amount)


@external
@view
def get_params() -> Params:
    """
    @notice All protocol parameters.
    """
    return self.params


@external
@view
def get_program_treasury() -> uint256:
    """
    @notice Protocol fees and slashed stake held for the owner to withdraw.
    """
    return self.treasury


@external
@view
def get_min_endpoint_stake() -> uint256:
    """
    @notice Stake an operator needs to register and keep an exit active.
    """
    return self.params.min_endpoint_stake


@external
@view
def get_protocol_fee_bps() -> uint256:
    """
    @notice Share of every settled payment kept by the protocol, in bps.
    """
    return self.params.protocol_fee_bps


@internal
@view
def _check_owner():
    assert msg.sender == self.owner, "not owner"


@internal
@view
def _check_not_paused():
    assert not self.paused, "paused"


@internal
@pure
def _check_amount(amount: uint256):
    assert amount > 0, "amount > 0"


@internal
@pure
def _check_covers(treasury: uint256, amount: uint256):
    assert treasury >= amount, "treasury insufficient"


@internal
@view
def _check_elapsed(deadline: uint256):
    assert block.timestamp >= deadline, "grace not elapsed"


@internal
@pure
def _bps(amount: uint256, bps: uint256) -> uint256:
    return amount * bps // BPS_DENOM
