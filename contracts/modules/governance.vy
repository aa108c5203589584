# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title Governance: owner, timelocked parameters, pause switch, the clock,
       program treasury
@notice Time is in seconds; amounts are in the payment asset's base units;
        shares are basis points (1/10,000).
@dev What governance cannot do, by construction:
     - change a parameter without announcing it `GOV_DELAY` seconds ahead on
       the clock, which a pause stops (`schedule_params`, then
       `execute_params` within `GOV_EXECUTION_WINDOW`, after which the
       announcement lapses; `cancel_params` drops it);
     - set a parameter outside its bounds: every one has a floor and a
       ceiling, the three amounts within a factor `AMOUNT_RANGE` of their
       deployed values;
     - change what an open session depends on: sessions copy the fee, the
       grace and the sweep terms when they open;
     - run any deadline while paused: deadlines are kept on `clock()`, which
       stands still during a pause;
     - pause for long: a pause ends by itself after `MAX_PAUSE`, and the
       next may start `PAUSE_COOLDOWN` after one ended, so the clock runs at
       least half of any long stretch and nothing owed is held for ever;
     - stop anyone taking out what they own or leaving: claims, finalized
       unbonds and unlocked tailnet treasury are paid while paused, and an
       exit can unbond, retire or change its listing.
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
# @dev Two days: long enough for operators and tailnets to see a change
#      coming and leave (an unbond's grace is never shorter than this plus a day).
GOV_DELAY: constant(uint256) = 2 * 86_400
# @dev A scheduled change (or slash) executes within this long after its eta,
#      on the clock, or lapses: an old announcement cannot be used later.
GOV_EXECUTION_WINDOW: constant(uint256) = 7 * 86_400
MAX_PAUSE: constant(uint256) = 7 * 86_400
PAUSE_COOLDOWN: constant(uint256) = 7 * 86_400
AMOUNT_RANGE: constant(uint256) = 10
SESSION_GRACE_MIN: constant(uint256) = 3_600
SESSION_GRACE_MAX: constant(uint256) = 30 * 86_400
SWEEP_GRACE_MULT_MIN: constant(uint256) = 2
SWEEP_GRACE_MULT_MAX: constant(uint256) = 100
SWEEP_BOUNTY_MAX_BPS: constant(uint256) = 1_000
UNBOND_GRACE_MIN: constant(uint256) = GOV_DELAY + 86_400
UNBOND_GRACE_MAX: constant(uint256) = 90 * 86_400
SLASH_BURN_MIN_BPS: constant(uint256) = 5_000
PROTOCOL_FEE_MAX_BPS: constant(uint256) = 200
MASK_16: constant(uint256) = 2**16 - 1
MASK_24: constant(uint256) = 2**24 - 1
MASK_32: constant(uint256) = 2**32 - 1
MASK_64: constant(uint256) = 2**64 - 1
MASK_96: constant(uint256) = 2**96 - 1

# @dev The pause, packed in one slot (`PauseState`, see `_pause`): the
#      clock every session call reads.
struct PauseState:
    # @dev Whether the owner paused (see `paused()`: a pause past
    #      `MAX_PAUSE` has ended by itself).
    is_set: bool
    started_at: uint256
    # @dev All time spent paused before the current pause.
    seconds: uint256
    # @dev When the last pause ended (0: none yet), for `PAUSE_COOLDOWN`.
    ended_at: uint256

owner: public(address)
# @dev Protocol fees and the treasury share of slashed stake.
treasury: uint256
# @dev Stake taken by a governance slash: held for ever, paid to no one, so
#      slashing can never enrich the owner.
burned: uint256
# @dev The parameters in force, packed in two slots because Vyper does not
#      pack storage: `params_hot` holds what opening a session reads (and an
#      exit's minimum stake), `params_cold` the rest (see `_pack`). Every
#      amount fits 96 bits: the constructor refuses minimums whose tenfold
#      does not, and no later value may leave that range.
params_hot: uint256
params_cold: uint256
pending_params: Params
pending_params_eta: uint256
pause: uint256
# @dev Each minimum amount stays within [deployed / 10, deployed * 10].
deployed_minimums: immutable(uint256[3])

event ParamsScheduled:
    params: Params
    eta: uint256

event ParamsCancelled:
    params: Params

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
    program_treasury: uint256


@deploy
def __init__(
    min_session_deposit: uint256,
    min_tailnet_deposit: uint256,
    session_grace: uint256,
    min_endpoint_stake: uint256,
):
    assert max(max(min_session_deposit, min_tailnet_deposit), min_endpoint_stake) <= convert(max_value(uint96), uint256) // AMOUNT_RANGE, "minimum amounts above (2**96 - 1) / 10"
    deployed_minimums = [min_session_deposit, min_tailnet_deposit, min_endpoint_stake]
    params: Params = Params(
        min_session_deposit=min_session_deposit,
        min_tailnet_deposit=min_tailnet_deposit,
        session_grace=session_grace,
        sweep_grace_multiplier=10,
        sweep_bounty_bps=100,
        min_endpoint_stake=min_endpoint_stake,
        unbond_grace=30 * 86_400,
        slash_burn_bps=9_000,
        slash_bounty_bps=1_000,
        protocol_fee_bps=50,
    )
    self._check_params(params)
    self._set_params(params)
    self.owner = msg.sender
    log OwnershipTransferred(previous_owner=empty(address), new_owner=msg.sender)


@external
def schedule_params(new_params: Params) -> uint256:
    """
    @notice Announce a change of the protocol parameters (owner only); it can
            be executed `GOV_DELAY` seconds from now on the clock (a pause
            stops it), within `GOV_EXECUTION_WINDOW`, or cancelled before.
    @param new_params The complete set of parameters to apply (each checked
           against its bounds now).
    @return The clock time (s) from which `execute_params` applies it.
    """
    self._check_owner()
    assert not self._is_scheduled(self.pending_params_eta), "a change is already scheduled: execute or cancel it"
    self._check_params(new_params)
    eta: uint256 = self._clock() + GOV_DELAY
    self.pending_params = new_params
    self.pending_params_eta = eta
    log ParamsScheduled(params=new_params, eta=eta)
    return eta


@external
def execute_params():
    """
    @notice Apply the scheduled parameters once their delay has passed
            (owner only). Open sessions keep the terms they opened with.
    """
    self._check_owner()
    eta: uint256 = self.pending_params_eta
    assert eta != 0, "no change scheduled"
    self._check_due(eta)
    new_params: Params = self.pending_params
    self._set_params(new_params)
    self.pending_params_eta = 0
    log ParamsUpdated(params=new_params)


@external
def cancel_params():
    """
    @notice Drop the scheduled parameter change (owner only).
    """
    self._check_owner()
    assert self.pending_params_eta != 0, "no change scheduled"
    self.pending_params_eta = 0
    log ParamsCancelled(params=self.pending_params)


@external
def set_paused(paused_: bool):
    """
    @notice Stop (or restart) new business: bonding, registering, tailnets,
            sessions, settlement, slashing. Withdrawals of what users own
            (earnings, finalized unbonds, unlocked tailnet treasury) and an
            exit's leaving go on, and every deadline (the governance
            timelock too) stands still while paused. A pause ends by itself
            after `MAX_PAUSE`; the next may start `PAUSE_COOLDOWN` after one
            ended.
    @param paused_ True to pause, False to resume.
    """
    self._check_owner()
    state: PauseState = self._lapsed(self._pause())
    assert paused_ != state.is_set, "already in that state"
    if paused_:
        assert state.ended_at == 0 or block.timestamp >= state.ended_at + PAUSE_COOLDOWN, "a pause may start 7 days after the last one ended"
        state.started_at = block.timestamp
    else:
        state.seconds += block.timestamp - state.started_at
        state.ended_at = block.timestamp
    state.is_set = paused_
    self._set_pause(state)
    log PauseSet(paused=paused_)


@external
def transfer_ownership(new_owner: address):
    """
    @notice Hand governance to `new_owner` (owner only). The new owner is
            bound by the same timelock and bounds.
    @param new_owner The next owner (not the empty address).
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
    @param to Who receives the payment.
    @param amount Base units of the asset, at most the program treasury.
    """
    self._check_owner()
    self._check_amount(amount)
    self._check_covers(self.treasury, amount)
    self.treasury -= amount
    payments._push(to, amount)
    log ProgramTreasuryWithdrawn(to=to, amount=amount, program_treasury=self.treasury)


@external
@view
def get_params() -> Params:
    """
    @notice All protocol parameters in force.
    @return The parameters new tailnets, exits and sessions are held to.
    """
    return self._params()


@external
@view
def get_min_endpoint_stake() -> uint256:
    """
    @notice Stake an operator needs to register and keep an exit active.
    @return Base units of the asset.
    """
    return self._min_endpoint_stake()


@external
@view
def get_protocol_fee_bps() -> uint256:
    """
    @notice Share of every payment settled by sessions opened now, in bps.
    @return Basis points of each payment.
    """
    return self._protocol_fee_bps()


@external
@view
def get_pending_params() -> (Params, uint256):
    """
    @notice The scheduled parameter change and the clock time it can
            execute (0: nothing scheduled, or its announcement lapsed).
    @return The scheduled parameters, and the clock time (s) from which they
            can execute (0: none standing).
    """
    eta: uint256 = self.pending_params_eta
    return self.pending_params, eta if self._is_scheduled(eta) else 0


@external
@view
def get_program_treasury() -> uint256:
    """
    @notice Protocol fees and slashed stake held for the owner to withdraw.
    @return Base units of the asset.
    """
    return self.treasury


@external
@view
def get_burned() -> uint256:
    """
    @notice Stake taken by governance slashes: held by the contract for ever.
    @return Base units of the asset.
    """
    return self.burned


@external
@view
def paused() -> bool:
    """
    @notice Whether new business is stopped now.
    @return True while a pause runs (at most `MAX_PAUSE` from its start).
    """
    return self._is_paused()


@external
@view
def clock() -> uint256:
    """
    @notice Seconds elapsed outside pauses: `block.timestamp` minus all time
            spent paused. Session and unbonding deadlines are on this clock.
    @return Seconds: the pause-free clock of every deadline.
    """
    return self._clock()


# ------------------------------------------------------------- internal

@internal
@view
def _clock() -> uint256:
    state: PauseState = self._pause()
    stopped: uint256 = state.seconds
    if state.is_set:
        stopped += min(block.timestamp, state.started_at + MAX_PAUSE) - state.started_at
    return block.timestamp - stopped


@internal
@view
def _is_paused() -> bool:
    # Read from the packed slot directly: every call on a session asks.
    packed: uint256 = self.pause
    return packed & 1 == 1 and block.timestamp < (packed >> 64 & MASK_64) + MAX_PAUSE


@internal
@view
def _lapsed(state: PauseState) -> PauseState:
    """
    @dev A pause that ran out ended at `started_at + MAX_PAUSE`: book it so.
    """
    if not state.is_set or block.timestamp < state.started_at + MAX_PAUSE:
        return state
    return PauseState(
        is_set=False,
        started_at=state.started_at,
        seconds=state.seconds + MAX_PAUSE,
        ended_at=state.started_at + MAX_PAUSE,
    )


# Packing. Times are seconds since 1970 and fit 64 bits for 500 billion
# years; parameters fit their widths by `_check_params` and the
# constructor's bound on amounts.

@internal
@view
def _pause() -> PauseState:
    packed: uint256 = self.pause
    return PauseState(
        is_set=packed & 1 == 1,
        started_at=packed >> 64 & MASK_64,
        seconds=packed >> 128 & MASK_64,
        ended_at=packed >> 192,
    )


@internal
def _set_pause(state: PauseState):
    self.pause = convert(state.is_set, uint256) | state.started_at << 64 | state.seconds << 128 | state.ended_at << 192


@internal
def _set_params(p: Params):
    self.params_hot = (
        p.protocol_fee_bps
        | p.sweep_bounty_bps << 16
        | p.sweep_grace_multiplier << 32
        | p.session_grace << 40
        | p.min_session_deposit << 64
        | p.min_endpoint_stake << 160
    )
    self.params_cold = p.slash_bounty_bps | p.slash_burn_bps << 16 | p.unbond_grace << 32 | p.min_tailnet_deposit << 64


@internal
@view
def _params() -> Params:
    return Params(
        min_session_deposit=self._min_session_deposit(),
        min_tailnet_deposit=self._min_tailnet_deposit(),
        session_grace=self._session_grace(),
        sweep_grace_multiplier=self._sweep_grace_multiplier(),
        sweep_bounty_bps=self._sweep_bounty_bps(),
        min_endpoint_stake=self._min_endpoint_stake(),
        unbond_grace=self._unbond_grace(),
        slash_burn_bps=self._slash_burn_bps(),
        slash_bounty_bps=self._slash_bounty_bps(),
        protocol_fee_bps=self._protocol_fee_bps(),
    )


@internal
@view
def _protocol_fee_bps() -> uint256:
    return self.params_hot & MASK_16


@internal
@view
def _sweep_bounty_bps() -> uint256:
    return self.params_hot >> 16 & MASK_16


@internal
@view
def _sweep_grace_multiplier() -> uint256:
    return self.params_hot >> 32 & 255


@internal
@view
def _session_grace() -> uint256:
    return self.params_hot >> 40 & MASK_24


@internal
@view
def _min_session_deposit() -> uint256:
    return self.params_hot >> 64 & MASK_96


@internal
@view
def _min_endpoint_stake() -> uint256:
    return self.params_hot >> 160


@internal
@view
def _slash_bounty_bps() -> uint256:
    return self.params_cold & MASK_16


@internal
@view
def _slash_burn_bps() -> uint256:
    return self.params_cold >> 16 & MASK_16


@internal
@view
def _unbond_grace() -> uint256:
    return self.params_cold >> 32 & MASK_32


@internal
@view
def _min_tailnet_deposit() -> uint256:
    return self.params_cold >> 64


@internal
@view
def _is_scheduled(eta: uint256) -> bool:
    """
    @dev An announcement stands from its scheduling until its window lapses.
    """
    return eta != 0 and self._clock() < eta + GOV_EXECUTION_WINDOW


@internal
@view
def _check_due(eta: uint256):
    now: uint256 = self._clock()
    assert now >= eta, "timelock not elapsed"
    assert now < eta + GOV_EXECUTION_WINDOW, "the announcement lapsed: schedule it again"


@internal
@view
def _check_params(p: Params):
    amounts: uint256[3] = [p.min_session_deposit, p.min_tailnet_deposit, p.min_endpoint_stake]
    for i: uint256 in range(3):
        assert (
            amounts[i] > 0
            and amounts[i] >= deployed_minimums[i] // AMOUNT_RANGE
            and amounts[i] <= deployed_minimums[i] * AMOUNT_RANGE
        ), "minimum amounts must be > 0 and within 10x of their deployed values"
    assert p.session_grace >= SESSION_GRACE_MIN and p.session_grace <= SESSION_GRACE_MAX, "session grace outside 1 h .. 30 d"
    assert (
        p.sweep_grace_multiplier >= SWEEP_GRACE_MULT_MIN and p.sweep_grace_multiplier <= SWEEP_GRACE_MULT_MAX
    ), "sweep multiplier outside 2 .. 100"
    assert p.sweep_bounty_bps <= SWEEP_BOUNTY_MAX_BPS, "sweep bounty <= 10%"
    assert p.unbond_grace >= UNBOND_GRACE_MIN and p.unbond_grace <= UNBOND_GRACE_MAX, "unbond grace outside 3 d .. 90 d"
    assert p.slash_burn_bps >= SLASH_BURN_MIN_BPS, "burn share too low"
    assert p.slash_burn_bps + p.slash_bounty_bps == BPS_DENOM, "slash bps sum"
    assert p.protocol_fee_bps <= PROTOCOL_FEE_MAX_BPS, "protocol fee > 2%"


@internal
@view
def _check_owner():
    assert msg.sender == self.owner, "not owner"


@internal
@view
def _check_not_paused():
    assert not self._is_paused(), "paused"


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
    assert self._clock() >= deadline, "grace not elapsed"


@internal
@pure
def _bps(amount: uint256, bps: uint256) -> uint256:
    # Split so no product overflows, whatever the amount (bps <= 10,000).
    return amount // BPS_DENOM * bps + amount % BPS_DENOM * bps // BPS_DENOM
