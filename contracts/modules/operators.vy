# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title Operators: stake, exit endpoints, earnings and slashing
@notice An operator bonds stake, registers one WireGuard exit endpoint with a
        price per MB, earns from settled sessions and claims its earnings.
        Misbehaviour costs the whole stake (live and unbonding) and any
        unclaimed earnings.
@dev Earnings are a plain per-operator balance. The registration keeps the
     earnings-encryption key (an alt_bn128 point) and an initial ciphertext
     of zero so that an encrypted ledger can replace the balance without
     changing how exits register; today nothing is encrypted.
"""

from . import governance
from . import payments

uses: governance
uses: payments

struct Endpoint:
    active: bool
    endpoint: String[128]
    wg_pubkey: bytes32
    receipt_signer: address
    earnings_pubkey: uint256[2]
    region: String[32]
    price_per_mb: uint256
    registered_at: uint256
    reputation: uint256

_ALT_BN128_ADD: constant(address) = 0x0000000000000000000000000000000000000006

endpoints: HashMap[address, Endpoint]
endpoint_count: uint256
endpoint_index: HashMap[uint256, address]
# @dev A receipt key, once used, stays bound to its operator, so receipts it
#      signed remain evidence after the operator re-registers with a new key.
receipt_signer_operator: HashMap[address, address]
earnings_zero_ct: HashMap[address, uint256[4]]

stake: HashMap[address, uint256]
unbonding_stake: HashMap[address, uint256]
unbonding_unlock: HashMap[address, uint256]
slashed: HashMap[address, bool]

earnings: HashMap[address, uint256]

event EndpointRegistered:
    addr: indexed(address)
    endpoint: String[128]
    region: String[32]
    price_per_mb: uint256
    wg_pubkey: bytes32
    receipt_signer: address

event EndpointUpdated:
    addr: indexed(address)
    endpoint: String[128]
    region: String[32]
    price_per_mb: uint256

event EndpointRetired:
    addr: indexed(address)

event KeysRotated:
    addr: indexed(address)
    wg_pubkey: bytes32

event StakeBonded:
    addr: indexed(address)
    amount: uint256
    new_stake: uint256

event StakeUnbondingStarted:
    addr: indexed(address)
    stake: uint256
    unlock_at: uint256

event StakeUnbondingFinalized:
    addr: indexed(address)
    amount: uint256

event OperatorSlashed:
    addr: indexed(address)
    stake: uint256
    treasury_amt: uint256
    bounty_amt: uint256
    forfeited_earnings: uint256

event EarningsCredited:
    operator: indexed(address)
    amount: uint256

event EarningsClaimed:
    operator: indexed(address)
    amount: uint256


# ---------------------------------------------------------------- stake

@external
@payable
def bond_endpoint(amount: uint256):
    """
    @notice Add `amount` to the caller's operator stake.
    @dev Native-coin deployments send `amount` as value; ERC-20 deployments
         approve it first.
    """
    governance._check_not_paused()
    self._check_never_slashed(msg.sender)
    assert self.unbonding_stake[msg.sender] == 0, "unbonding in progress"
    payments._pull(msg.sender, amount, msg.value)
    self.stake[msg.sender] += amount
    log StakeBonded(addr=msg.sender, amount=amount, new_stake=self.stake[msg.sender])


@external
def unbond_endpoint():
    """
    @notice Start withdrawing the whole stake. The exit is retired at once;
            the stake stays slashable until `finalize_unbond` after the grace.
    """
    governance._check_not_paused()
    amount: uint256 = self.stake[msg.sender]
    # Bonding is refused while unbonding, so a live stake means none is unbonding.
    assert amount > 0, "no stake"
    unlock_at: uint256 = block.timestamp + governance.params.unbond_grace
    self.unbonding_stake[msg.sender] = amount
    self.unbonding_unlock[msg.sender] = unlock_at
    self.stake[msg.sender] = 0
    self._retire(msg.sender)
    log StakeUnbondingStarted(addr=msg.sender, stake=amount, unlock_at=unlock_at)


@external
def finalize_unbond():
    """
    @notice Pay out the unbonding stake once its grace has elapsed.
    """
    governance._check_not_paused()
    amount: uint256 = self.unbonding_stake[msg.sender]
    assert amount > 0, "no unbonding"
    governance._check_elapsed(self.unbonding_unlock[msg.sender])
    self.unbonding_stake[msg.sender] = 0
    self.unbonding_unlock[msg.sender] = 0
    payments._push(msg.sender, amount)
    log StakeUnbondingFinalized(addr=msg.sender, amount=amount)


@external
def gov_slash_operator(operator: address):
    """
    @notice Slash `operator` on off-chain evidence (owner only). The owner
            receives the bounty share.
    """
    governance._check_not_paused()
    governance._check_owner()
    self._slash(operator, msg.sender)


# ------------------------------------------------------------ endpoints

@external
def register_endpoint(
    endpoint: String[128],
    wg_pubkey: bytes32,
    earnings_pubkey: uint256[2],
    initial_enc_zero: uint256[4],
    region: String[32],
    price_per_mb: uint256,
    receipt_signer: address,
):
    """
    @notice Register the caller's WireGuard exit.
    @param endpoint Public `host:port` clients dial.
    @param wg_pubkey The exit's Curve25519 WireGuard public key.
    @param earnings_pubkey alt_bn128 point for the earnings ledger.
    @param initial_enc_zero Two alt_bn128 points: a ciphertext of zero.
    @param region Free-form region label, e.g. "eu-west".
    @param price_per_mb Base units of the asset per 1,000,000 bytes.
    @param receipt_signer Key (separate from the operator account) that
           signs the exit's usage receipts.
    """
    governance._check_not_paused()
    self._check_never_slashed(msg.sender)
    assert self.stake[msg.sender] >= governance.params.min_endpoint_stake, "must bond_endpoint first"
    assert not self.endpoints[msg.sender].active, "already registered"
    self._check_listing(endpoint, price_per_mb)
    self._check_keys(wg_pubkey, earnings_pubkey, initial_enc_zero)
    assert receipt_signer != empty(address), "receipt signer required"
    bound_to: address = self.receipt_signer_operator[receipt_signer]
    assert bound_to == empty(address) or bound_to == msg.sender, "receipt signer belongs to another operator"

    if self.endpoints[msg.sender].registered_at == 0:
        # block.timestamp is never 0 on a live chain: 0 means "never registered".
        self.endpoint_index[self.endpoint_count] = msg.sender
        self.endpoint_count += 1
    self.receipt_signer_operator[receipt_signer] = msg.sender
    self.earnings_zero_ct[msg.sender] = initial_enc_zero
    self.endpoints[msg.sender] = Endpoint(
        active=True,
        endpoint=endpoint,
        wg_pubkey=wg_pubkey,
        receipt_signer=receipt_signer,
        earnings_pubkey=earnings_pubkey,
        region=region,
        price_per_mb=price_per_mb,
        registered_at=block.timestamp,
        reputation=0,
    )
    log EndpointRegistered(
        addr=msg.sender,
        endpoint=endpoint,
        region=region,
        price_per_mb=price_per_mb,
        wg_pubkey=wg_pubkey,
        receipt_signer=receipt_signer,
    )


@external
def update_endpoint(endpoint: String[128], region: String[32], price_per_mb: uint256):
    """
    @notice Change the exit's address, region or price. Open sessions keep
            the price they were opened at.
    """
    governance._check_not_paused()
    self._check_registered()
    self._check_listing(endpoint, price_per_mb)
    self.endpoints[msg.sender].endpoint = endpoint
    self.endpoints[msg.sender].region = region
    self.endpoints[msg.sender].price_per_mb = price_per_mb
    log EndpointUpdated(addr=msg.sender, endpoint=endpoint, region=region, price_per_mb=price_per_mb)


@external
def rotate_keys(new_wg_pubkey: bytes32, new_earnings_pubkey: uint256[2], new_initial_enc_zero: uint256[4]):
    """
    @notice Replace the WireGuard key and the earnings-encryption keys.
    @dev Requires claimed earnings first: a ledger kept under the old
         earnings key could not be read under the new one.
    """
    governance._check_not_paused()
    self._check_registered()
    self._check_keys(new_wg_pubkey, new_earnings_pubkey, new_initial_enc_zero)
    assert self.earnings[msg.sender] == 0, "claim earnings first"
    self.endpoints[msg.sender].wg_pubkey = new_wg_pubkey
    self.endpoints[msg.sender].earnings_pubkey = new_earnings_pubkey
    self.earnings_zero_ct[msg.sender] = new_initial_enc_zero
    log KeysRotated(addr=msg.sender, wg_pubkey=new_wg_pubkey)


@external
def retire_endpoint():
    """
    @notice Stop offering the exit. Open sessions can still be settled.
    """
    governance._check_not_paused()
    self._check_registered()
    self._retire(msg.sender)


# ------------------------------------------------------------- earnings

@external
def claim_earnings(amount: uint256):
    """
    @notice Withdraw `amount` of the caller's settled earnings.
    """
    governance._check_not_paused()
    self._check_not_slashed(msg.sender)
    governance._check_amount(amount)
    assert self.earnings[msg.sender] >= amount, "amount exceeds earnings"
    self.earnings[msg.sender] -= amount
    payments._push(msg.sender, amount)
    log EarningsClaimed(operator=msg.sender, amount=amount)


# ---------------------------------------------------------------- views

@external
@view
def get_endpoint(addr: address) -> Endpoint:
    """
    @notice The exit record of `addr` (all zero if it never registered).
    """
    return self.endpoints[addr]


@external
@view
def get_endpoint_at(index: uint256) -> address:
    """
    @notice The `index`-th operator ever registered (for enumeration);
            the empty address past the end.
    """
    return self.endpoint_index[index]


@external
@view
def endpoint_count_view() -> uint256:
    """
    @notice How many distinct operators have ever registered an exit.
    """
    return self.endpoint_count


@external
@view
def get_endpoint_stake(addr: address) -> uint256:
    """
    @notice Live (bonded) stake of `addr`.
    """
    return self.stake[addr]


@external
@view
def get_endpoint_unbonding(addr: address) -> uint256:
    """
    @notice Stake of `addr` waiting out its unbonding grace.
    """
    return self.unbonding_stake[addr]


@external
@view
def get_endpoint_unlock(addr: address) -> uint256:
    """
    @notice Time (s) from which `finalize_unbond` pays `addr` out.
    """
    return self.unbonding_unlock[addr]


@external
@view
def is_endpoint_slashed(addr: address) -> bool:
    """
    @notice Whether `addr` was slashed (permanent).
    """
    return self.slashed[addr]


@external
@view
def is_endpoint_active(addr: address) -> bool:
    """
    @notice Whether `addr` can be added to tailnets and serve new sessions.
    """
    return self._is_active(addr)


@external
@view
def get_earnings(addr: address) -> uint256:
    """
    @notice Settled, unclaimed earnings of `addr`.
    """
    return self.earnings[addr]


@external
@view
def get_earnings_zero_ct(addr: address) -> uint256[4]:
    """
    @notice The ciphertext of zero registered with the earnings key.
    """
    return self.earnings_zero_ct[addr]


@external
@view
def get_receipt_signer_operator(signer: address) -> address:
    """
    @notice The operator a receipt key is bound to (empty if none).
    """
    return self.receipt_signer_operator[signer]


# ------------------------------------------------------------- internal

@internal
@view
def _is_active(addr: address) -> bool:
    return (
        self.endpoints[addr].active
        and not self.slashed[addr]
        and self.stake[addr] >= governance.params.min_endpoint_stake
    )


@internal
def _retire(addr: address):
    if self.endpoints[addr].active:
        self.endpoints[addr].active = False
        log EndpointRetired(addr=addr)


@internal
def _credit_earnings(operator: address, amount: uint256):
    if amount == 0:
        return
    self.earnings[operator] += amount
    log EarningsCredited(operator=operator, amount=amount)


@internal
def _slash(operator: address, bounty_receiver: address):
    """
    @dev Takes the live and unbonding stake and any unclaimed earnings. The
         bounty share goes to `bounty_receiver`, or to the treasury when it is
         empty (the operator caught itself and must not profit).
    """
    assert not self.slashed[operator], "already slashed"
    total: uint256 = self.stake[operator] + self.unbonding_stake[operator]
    assert total > 0, "no stake to slash"
    to_treasury: uint256 = governance._bps(total, governance.params.slash_burn_bps)
    bounty: uint256 = total - to_treasury
    if bounty_receiver == empty(address):
        to_treasury = total
        bounty = 0
    forfeited: uint256 = self.earnings[operator]

    self.stake[operator] = 0
    self.unbonding_stake[operator] = 0
    self.unbonding_unlock[operator] = 0
    self.earnings[operator] = 0
    self.slashed[operator] = True
    self._retire(operator)
    governance.treasury += to_treasury + forfeited
    log OperatorSlashed(
        addr=operator, stake=total, treasury_amt=to_treasury, bounty_amt=bounty, forfeited_earnings=forfeited
    )
    if bounty > 0:
        payments._push(bounty_receiver, bounty)


@internal
@view
def _check_active(addr: address):
    assert self._is_active(addr), "exit inactive"


@internal
@view
def _check_registered():
    assert self.endpoints[msg.sender].active, "not registered"


@internal
@view
def _check_never_slashed(addr: address):
    assert not self.slashed[addr], "previously slashed"


@internal
@view
def _check_not_slashed(addr: address):
    assert not self.slashed[addr], "operator slashed"


@internal
@pure
def _check_listing(endpoint: String[128], price_per_mb: uint256):
    assert len(endpoint) > 0, "endpoint required"
    assert price_per_mb > 0, "price > 0"


@internal
@view
def _check_keys(wg_pubkey: bytes32, earnings_pubkey: uint256[2], zero_ct: uint256[4]):
    assert wg_pubkey != empty(bytes32), "wg pubkey required"
    assert (earnings_pubkey[0] | earnings_pubkey[1]) != 0 and self._on_curve(
        earnings_pubkey[0], earnings_pubkey[1]
    ), "earnings pubkey must be an alt_bn128 point other than infinity"
    assert self._on_curve(zero_ct[0], zero_ct[1]) and self._on_curve(
        zero_ct[2], zero_ct[3]
    ), "initial enc(0) must be two alt_bn128 points"


@internal
@view
def _on_curve(x: uint256, y: uint256) -> bool:
    # The ecAdd precompile fails on any input that is not a curve point.
    success: bool = False
    response: Bytes[64] = b""
    success, response = raw_call(
        _ALT_BN128_ADD,
        abi_encode(x, y, empty(uint256), empty(uint256)),
        max_outsize=64,
        is_static_call=True,
        revert_on_failure=False,
    )
    return success
