# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title Operators: stake, exit endpoints, earnings and slashing
@notice An operator bonds stake, registers one WireGuard exit endpoint with a
        price per MB, earns from settled sessions and claims its earnings.
        Misbehaviour costs the whole stake (live and unbonding) and any
        unclaimed earnings.
@dev Slashing: a double-sign report is committed first and revealed in a
     later block, so the bounty goes to whoever found the evidence, never to
     a copier of the reveal. The reporter's share of a slash is held for
     `REPORT_WINDOW` seconds and then paid to the earliest committed report
     revealed by then (committed no later than the slash): an operator that
     races a whistleblower's reveal with evidence against itself, from a
     second wallet, takes the bounty only if it committed first. An operator
     that slashes itself (two different `settle_claim`s) has the share held
     the same way. A governance slash is announced `GOV_DELAY` ahead and
     burns what it announced.
     Earnings are a plain per-operator balance, public like every amount on
     an EVM chain (the amounts that feed it are public in events anyway).
"""

from . import eip712
from . import governance
from . import payments

uses: eip712
uses: governance
uses: payments

# @dev What an exit tells clients about itself, which the contract never
#      reads: the events carry it (every event that changes it carries all
#      of it), storage keeps its hash (`keccak256(abi_encode(Listing))`), and
#      a change passes the current listing back, as sessions do.
struct Listing:
    endpoint: String[128]
    region: String[32]
    wg_pubkey: bytes32
    receipt_signer: address

# @dev An exit as the contract keeps it (`get_endpoint`): what it checks,
#      packed in one slot (see `_exit`), and where to find its listing.
struct Endpoint:
    active: bool
    # @dev At most 2**120 - 1.
    price_per_mb: uint256
    registered_at: uint256
    # @dev The block of the listing's last change: the last listing event of
    #      the operator in that block carries it.
    listed_in_block: uint256
    listing_hash: bytes32
    reputation: uint256

# @dev An operator's books: one slot (see `_books`), because every payment to
#      an exit reads and writes them.
struct Books:
    # @dev Settled, unclaimed: at most 2**128 - 1 (claim to make room).
    earnings: uint256
    # @dev Value paid by tailnets the exit does not own; stops counting at
    #      2**127 - 1.
    reputation: uint256
    # @dev Permanent.
    slashed: bool

struct SlashRecord:
    # @dev Block of the slash: a report committed at or before it may still
    #      claim the held bounty.
    block: uint256
    held_bounty: uint256
    # @dev Clock time after which the held bounty goes to the claimant, or to
    #      the treasury if no report claimed it.
    release_at: uint256
    # @dev The earliest committed report revealed so far, and its place in the
    #      order of commitments.
    claimant: address
    claimant_order: uint256

RECEIPT_SIGNER_TYPEHASH: constant(bytes32) = keccak256("ReceiptSigner(address operator)")
REPORT_WINDOW: constant(uint256) = 86_400
MASK_64: constant(uint256) = 2**64 - 1
MASK_120: constant(uint256) = 2**120 - 1
MASK_127: constant(uint256) = 2**127 - 1
MASK_128: constant(uint256) = 2**128 - 1

endpoints: HashMap[address, uint256]
listing_hashes: HashMap[address, bytes32]
# @dev A receipt key, once used, stays bound to its operator, so receipts it
#      signed remain evidence after the operator re-registers with a new key.
receipt_signer_operator: HashMap[address, address]

stake: HashMap[address, uint256]
unbonding_stake: HashMap[address, uint256]
# @dev On `governance.clock()`: a pause does not shorten the unbonding grace.
unbonding_unlock: HashMap[address, uint256]
slash_records: HashMap[address, SlashRecord]
# @dev Clock time from which a scheduled governance slash may execute (0: none).
gov_slash_eta: HashMap[address, uint256]
# @dev The stake (live and unbonding) a scheduled slash announced: the most it
#      can take, whatever is bonded later.
gov_slash_stake: HashMap[address, uint256]

books: HashMap[address, uint256]

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
    wg_pubkey: bytes32
    receipt_signer: address

event EndpointRetired:
    addr: indexed(address)

event KeysRotated:
    addr: indexed(address)
    wg_pubkey: bytes32
    endpoint: String[128]
    region: String[32]
    receipt_signer: address

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
    burned_amt: uint256
    held_bounty: uint256
    program_treasury: uint256
    unbonding_left: uint256
    unlock_at: uint256

event SlashBountyClaimed:
    addr: indexed(address)
    reporter: indexed(address)
    order: uint256

event SlashBountyPaid:
    addr: indexed(address)
    reporter: indexed(address)
    amount: uint256

event SlashBountyReleased:
    addr: indexed(address)
    amount: uint256
    program_treasury: uint256

event GovSlashScheduled:
    addr: indexed(address)
    evidence: bytes32
    eta: uint256
    stake: uint256

event GovSlashCancelled:
    addr: indexed(address)

event EarningsClaimed:
    operator: indexed(address)
    amount: uint256
    earnings: uint256


# ---------------------------------------------------------------- stake

@external
@payable
def bond_endpoint(amount: uint256):
    """
    @notice Add `amount` to the caller's operator stake.
    @dev Native-coin deployments send `amount` as value; ERC-20 deployments
         approve it first.
    @param amount Base units of the asset to add to the stake.
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
    amount: uint256 = self.stake[msg.sender]
    # Bonding is refused while unbonding, so a live stake means none is unbonding.
    assert amount > 0, "no stake"
    unlock_at: uint256 = governance._clock() + governance._unbond_grace()
    self.unbonding_stake[msg.sender] = amount
    self.unbonding_unlock[msg.sender] = unlock_at
    self.stake[msg.sender] = 0
    self._retire(msg.sender)
    log StakeUnbondingStarted(addr=msg.sender, stake=amount, unlock_at=unlock_at)


@external
def finalize_unbond():
    """
    @notice Pay out the unbonding stake once its grace has elapsed (also
            while paused; time spent paused does not count toward the grace).
    """
    amount: uint256 = self.unbonding_stake[msg.sender]
    assert amount > 0, "no unbonding"
    governance._check_elapsed(self.unbonding_unlock[msg.sender])
    self.unbonding_stake[msg.sender] = 0
    self.unbonding_unlock[msg.sender] = 0
    payments._push(msg.sender, amount)
    log StakeUnbondingFinalized(addr=msg.sender, amount=amount)


@external
def schedule_slash(operator: address, evidence: bytes32) -> uint256:
    """
    @notice Announce a governance slash of `operator` (owner only), citing
            `evidence` (the hash of a published document). It can execute
            `GOV_DELAY` seconds from now, or be cancelled before.
    @param operator The operator to slash.
    @param evidence The hash of the published evidence, logged with the
           schedule.
    @return The time (s) from which `execute_slash` may run.
    """
    governance._check_owner()
    stake: uint256 = self.stake[operator] + self.unbonding_stake[operator]
    assert stake > 0, "no stake to slash"
    assert not governance._is_scheduled(self.gov_slash_eta[operator]), "slash already scheduled"
    eta: uint256 = governance._clock() + governance.GOV_DELAY
    self.gov_slash_eta[operator] = eta
    self.gov_slash_stake[operator] = stake
    log GovSlashScheduled(addr=operator, evidence=evidence, eta=eta, stake=stake)
    return eta


@external
def execute_slash(operator: address):
    """
    @notice Slash `operator` as scheduled (owner only). Stake and unclaimed
            earnings are burned: nothing goes to the owner or the treasury.
    @param operator The operator whose scheduled slash has come due.
    """
    governance._check_not_paused()
    governance._check_owner()
    eta: uint256 = self.gov_slash_eta[operator]
    assert eta != 0, "no slash scheduled"
    governance._check_due(eta)
    self.gov_slash_eta[operator] = 0
    self._slash(operator, True, self.gov_slash_stake[operator])


@external
def cancel_slash(operator: address):
    """
    @notice Drop a scheduled governance slash (owner only).
    @param operator The operator whose scheduled slash is dropped.
    """
    governance._check_owner()
    assert self.gov_slash_eta[operator] != 0, "no slash scheduled"
    self.gov_slash_eta[operator] = 0
    log GovSlashCancelled(addr=operator)


@external
def release_slash_bounty(operator: address):
    """
    @notice After `REPORT_WINDOW`, pay the bounty held from a slash to the
            earliest committed report revealed, or move it to the treasury if
            none was (anyone may call).
    @param operator The slashed operator whose held bounty is released.
    """
    record: SlashRecord = self.slash_records[operator]
    assert record.held_bounty > 0, "no bounty held"
    governance._check_elapsed(record.release_at)
    self.slash_records[operator].held_bounty = 0
    if record.claimant == empty(address):
        governance.treasury += record.held_bounty
        log SlashBountyReleased(addr=operator, amount=record.held_bounty, program_treasury=governance.treasury)
    else:
        log SlashBountyPaid(addr=operator, reporter=record.claimant, amount=record.held_bounty)
        payments._push(record.claimant, record.held_bounty)


# ------------------------------------------------------------ endpoints

@external
def register_endpoint(
    endpoint: String[128],
    wg_pubkey: bytes32,
    region: String[32],
    price_per_mb: uint256,
    receipt_signer: address,
    signer_signature: Bytes[65],
):
    """
    @notice Register the caller's WireGuard exit.
    @param endpoint Public `host:port` clients dial.
    @param wg_pubkey The exit's Curve25519 WireGuard public key.
    @param region Free-form region label, e.g. "eu-west".
    @param price_per_mb Base units of the asset per 1,000,000 bytes.
    @param receipt_signer Key (separate from the operator account) that
           signs the exit's usage receipts.
    @param signer_signature The receipt key's EIP-712 signature over
           `ReceiptSigner(operator=caller)`: nobody binds a key they do not hold.
    """
    governance._check_not_paused()
    self._check_never_slashed(msg.sender)
    assert self.stake[msg.sender] >= governance._min_endpoint_stake(), "must bond_endpoint first"
    assert not self._is_listed(msg.sender), "already registered"
    self._check_listing(endpoint, price_per_mb)
    self._check_wg_key(wg_pubkey)
    bound_to: address = self.receipt_signer_operator[receipt_signer]
    assert bound_to == empty(address) or bound_to == msg.sender, "receipt signer belongs to another operator"
    struct_hash: bytes32 = keccak256(abi_encode(RECEIPT_SIGNER_TYPEHASH, msg.sender))
    assert eip712._recover(struct_hash, signer_signature) == receipt_signer, "receipt signer did not sign the binding"

    self.receipt_signer_operator[receipt_signer] = msg.sender
    self._list(
        msg.sender,
        Listing(endpoint=endpoint, region=region, wg_pubkey=wg_pubkey, receipt_signer=receipt_signer),
        price_per_mb,
        block.timestamp,
    )
    books: Books = self._books(msg.sender)
    if books.reputation != 0:
        books.reputation = 0
        self._set_books(msg.sender, books)
    log EndpointRegistered(
        addr=msg.sender,
        endpoint=endpoint,
        region=region,
        price_per_mb=price_per_mb,
        wg_pubkey=wg_pubkey,
        receipt_signer=receipt_signer,
    )


@external
def update_endpoint(listing: Listing, endpoint: String[128], region: String[32], price_per_mb: uint256):
    """
    @notice Change the exit's address, region or price. Open sessions keep
            the price they were opened at.
    @param listing The exit's listing now, as its events tell it.
    @param endpoint Public `host:port` clients dial.
    @param region Free-form region label, e.g. "eu-west".
    @param price_per_mb Base units of the asset per 1,000,000 bytes, for
           sessions opened from now on.
    """
    self._check_registered()
    self._check_listing_record(msg.sender, listing)
    self._check_listing(endpoint, price_per_mb)
    updated: Listing = listing
    updated.endpoint = endpoint
    updated.region = region
    self._list(msg.sender, updated, price_per_mb, self._exit(msg.sender).registered_at)
    log EndpointUpdated(
        addr=msg.sender,
        endpoint=endpoint,
        region=region,
        price_per_mb=price_per_mb,
        wg_pubkey=listing.wg_pubkey,
        receipt_signer=listing.receipt_signer,
    )


@external
def rotate_keys(listing: Listing, new_wg_pubkey: bytes32):
    """
    @notice Replace the exit's WireGuard key (clients check it against this
            record). The receipt key is not rotated here: retire and
            register again, so the old key stays bound as evidence.
    @param listing The exit's listing now, as its events tell it.
    @param new_wg_pubkey The exit's new Curve25519 WireGuard public key.
    """
    governance._check_not_paused()
    self._check_registered()
    self._check_listing_record(msg.sender, listing)
    self._check_wg_key(new_wg_pubkey)
    rotated: Listing = listing
    rotated.wg_pubkey = new_wg_pubkey
    exit: Endpoint = self._exit(msg.sender)
    self._list(msg.sender, rotated, exit.price_per_mb, exit.registered_at)
    log KeysRotated(
        addr=msg.sender,
        wg_pubkey=new_wg_pubkey,
        endpoint=listing.endpoint,
        region=listing.region,
        receipt_signer=listing.receipt_signer,
    )


@external
def retire_endpoint():
    """
    @notice Stop offering the exit. Open sessions can still be settled.
    """
    self._check_registered()
    self._retire(msg.sender)


# ------------------------------------------------------------- earnings

@external
def claim_earnings(amount: uint256):
    """
    @notice Withdraw `amount` of the caller's settled earnings (also while
            paused).
    @param amount Base units of the asset, at most the caller's unclaimed
           earnings.
    """
    self._check_not_slashed(msg.sender)
    governance._check_amount(amount)
    books: Books = self._books(msg.sender)
    assert books.earnings >= amount, "amount exceeds earnings"
    books.earnings -= amount
    self._set_books(msg.sender, books)
    payments._push(msg.sender, amount)
    log EarningsClaimed(operator=msg.sender, amount=amount, earnings=books.earnings)


# ---------------------------------------------------------------- views

@external
@view
def get_endpoint(addr: address) -> Endpoint:
    """
    @notice The exit record of `addr` (all zero if it never registered); its
            listing (endpoint, region, keys) is in the events, found through
            `listed_in_block` and checked against `listing_hash`.
    @param addr The operator.
    @return Whether it is active, its price, when it registered, where its
            listing is and its hash, and its reputation.
    """
    return self._exit(addr)


@external
@view
def get_endpoint_stake(addr: address) -> uint256:
    """
    @notice Live (bonded) stake of `addr`.
    @param addr The operator.
    @return Base units of the asset.
    """
    return self.stake[addr]


@external
@view
def get_endpoint_unbonding(addr: address) -> uint256:
    """
    @notice Stake of `addr` waiting out its unbonding grace.
    @param addr The operator.
    @return Base units of the asset.
    """
    return self.unbonding_stake[addr]


@external
@view
def get_endpoint_unlock(addr: address) -> uint256:
    """
    @notice Time (s) from which `finalize_unbond` pays `addr` out.
    @param addr The operator.
    @return Seconds on the `clock` (0: nothing unbonding).
    """
    return self.unbonding_unlock[addr]


@external
@view
def is_endpoint_slashed(addr: address) -> bool:
    """
    @notice Whether `addr` was slashed (permanent).
    @param addr The operator.
    @return True once slashed.
    """
    return self._is_slashed(addr)


@external
@view
def is_endpoint_active(addr: address) -> bool:
    """
    @notice Whether `addr` can be added to tailnets and serve new sessions.
    @param addr The operator.
    @return True if listed, not slashed and staked at least the minimum.
    """
    return self._is_active(addr)


@external
@view
def get_earnings(addr: address) -> uint256:
    """
    @notice Settled, unclaimed earnings of `addr`.
    @param addr The operator.
    @return Base units of the asset.
    """
    return self._books(addr).earnings


@external
@view
def get_slash_record(addr: address) -> SlashRecord:
    """
    @notice When `addr` was slashed and the reporter's bounty still held.
    @param addr The operator.
    @return The slash's block, the bounty held and when it may be released.
    """
    return self.slash_records[addr]


@external
@view
def get_gov_slash_eta(addr: address) -> uint256:
    """
    @notice Clock time from which a scheduled governance slash of `addr` may
            execute (0: none scheduled, or its announcement lapsed).
    @param addr The operator.
    @return Seconds on the `clock` (0: none standing).
    """
    eta: uint256 = self.gov_slash_eta[addr]
    return eta if governance._is_scheduled(eta) else 0


@external
@view
def get_receipt_signer_operator(signer: address) -> address:
    """
    @notice The operator a receipt key is bound to (empty if none).
    @param signer A receipt key's address.
    @return The operator it is bound to (empty if none).
    """
    return self.receipt_signer_operator[signer]


# ------------------------------------------------------------- internal

@internal
@view
def _is_active(addr: address) -> bool:
    # Not slashed, too: a slash retires the exit, and a slashed operator can
    # never register again.
    return self._is_listed(addr) and self.stake[addr] >= governance._min_endpoint_stake()


@internal
def _retire(addr: address):
    packed: uint256 = self.endpoints[addr]
    if packed & 1 == 1:
        self.endpoints[addr] = packed ^ 1
        log EndpointRetired(addr=addr)


@internal
def _list(addr: address, listing: Listing, price_per_mb: uint256, registered_at: uint256):
    """
    @dev Makes `listing` the exit's, active at `price_per_mb`, changed in
         this block: the caller logs it. Times and block numbers fit 64 bits
         for 500 billion years; `_check_listing` bounds the price.
    """
    self.listing_hashes[addr] = keccak256(abi_encode(listing))
    self.endpoints[addr] = 1 | registered_at << 8 | block.number << 72 | price_per_mb << 136


@internal
@view
def _exit(addr: address) -> Endpoint:
    packed: uint256 = self.endpoints[addr]
    return Endpoint(
        active=packed & 1 == 1,
        price_per_mb=packed >> 136,
        registered_at=packed >> 8 & MASK_64,
        listed_in_block=packed >> 72 & MASK_64,
        listing_hash=self.listing_hashes[addr],
        reputation=self._books(addr).reputation,
    )


@internal
@view
def _is_listed(addr: address) -> bool:
    """
    @dev Registered and not retired: the active bit of the exit's slot, read
         without the rest of its record.
    """
    return self.endpoints[addr] & 1 == 1


@internal
@view
def _is_slashed(addr: address) -> bool:
    """
    @dev The slashed bit of the operator's books, read without unpacking them.
    """
    return self.books[addr] >> 255 == 1


@internal
@view
def _price(addr: address) -> uint256:
    return self.endpoints[addr] >> 136


@internal
@view
def _is_registered(addr: address) -> bool:
    return self.endpoints[addr] != 0


@internal
def _credit_earnings(operator: address, amount: uint256) -> uint256:
    """
    @dev Returns the operator's unclaimed earnings after the credit, for the
         session's event to carry. Earnings are the books' low bits: adding
         to the slot adds to them, once the sum is known to fit.
    """
    packed: uint256 = self.books[operator]
    earnings: uint256 = (packed & MASK_128) + amount
    assert earnings <= MASK_128, "earnings above 2**128 - 1: claim some first"
    self.books[operator] = packed + amount
    return earnings


@internal
def _add_reputation(operator: address, amount: uint256):
    books: Books = self._books(operator)
    books.reputation += min(amount, MASK_127 - books.reputation)
    self._set_books(operator, books)


@internal
@view
def _books(operator: address) -> Books:
    packed: uint256 = self.books[operator]
    return Books(earnings=packed & MASK_128, reputation=packed >> 128 & MASK_127, slashed=packed >> 255 == 1)


@internal
def _set_books(operator: address, books: Books):
    assert books.earnings <= MASK_128, "earnings above 2**128 - 1: claim some first"
    self.books[operator] = books.earnings | books.reputation << 128 | convert(books.slashed, uint256) << 255


@internal
def _slash(operator: address, by_governance: bool, cap: uint256):
    """
    @dev Takes the live and unbonding stake, at most `cap` of it, and any
         unclaimed earnings. A governance slash burns all of it (its cap is the
         stake it announced: what was bonded since stays the operator's, to
         withdraw after the unbonding grace). Otherwise the treasury takes the
         burn share and the earnings, and the bounty share is held for the
         earliest committed report (`_claim_held_bounty`) until
         `release_slash_bounty`.
    """
    books: Books = self._books(operator)
    assert not books.slashed, "already slashed"
    held_stake: uint256 = self.stake[operator] + self.unbonding_stake[operator]
    assert held_stake > 0, "no stake to slash"
    total: uint256 = min(held_stake, cap)
    left: uint256 = held_stake - total
    forfeited: uint256 = books.earnings
    to_treasury: uint256 = governance._bps(total, governance._slash_burn_bps())
    bounty: uint256 = total - to_treasury
    burned: uint256 = 0
    if by_governance:
        burned = total + forfeited
        to_treasury = 0
        forfeited = 0
        bounty = 0
    held: uint256 = bounty

    self.stake[operator] = 0
    self.unbonding_stake[operator] = left
    self.unbonding_unlock[operator] = governance._clock() + governance._unbond_grace() if left > 0 else 0
    books.earnings = 0
    books.slashed = True
    self._set_books(operator, books)
    self.slash_records[operator] = SlashRecord(
        block=block.number,
        held_bounty=held,
        release_at=governance._clock() + REPORT_WINDOW,
        claimant=empty(address),
        claimant_order=0,
    )
    self._retire(operator)
    governance.treasury += to_treasury + forfeited
    governance.burned += burned
    log OperatorSlashed(
        addr=operator,
        stake=total,
        treasury_amt=to_treasury,
        bounty_amt=bounty,
        forfeited_earnings=forfeited,
        burned_amt=burned,
        held_bounty=held,
        program_treasury=governance.treasury,
        unbonding_left=left,
        unlock_at=self.unbonding_unlock[operator],
    )


@internal
def _claim_held_bounty(operator: address, reporter: address, committed_block: uint256, order: uint256):
    """
    @dev A report committed no later than the operator's slash claims the
         bounty held from it, unless one committed earlier has claimed it.
    """
    record: SlashRecord = self.slash_records[operator]
    assert record.held_bounty > 0 and committed_block <= record.block, "already slashed"
    assert record.claimant == empty(address) or order < record.claimant_order, "a report committed earlier claims the bounty"
    self.slash_records[operator].claimant = reporter
    self.slash_records[operator].claimant_order = order
    log SlashBountyClaimed(addr=operator, reporter=reporter, order=order)


@internal
@view
def _check_active(addr: address):
    assert self._is_active(addr), "exit inactive"


@internal
@view
def _check_registered():
    assert self._is_listed(msg.sender), "not registered"


@internal
@view
def _check_listing_record(addr: address, listing: Listing):
    assert keccak256(abi_encode(listing)) == self.listing_hashes[addr], "listing does not match its events"


@internal
@view
def _check_never_slashed(addr: address):
    assert not self._is_slashed(addr), "previously slashed"


@internal
@view
def _check_not_slashed(addr: address):
    assert not self._is_slashed(addr), "operator slashed"


@internal
@pure
def _check_listing(endpoint: String[128], price_per_mb: uint256):
    assert len(endpoint) > 0, "endpoint required"
    assert price_per_mb > 0, "price > 0"
    assert price_per_mb <= MASK_120, "price above 2**120 - 1"


@internal
@pure
def _check_wg_key(wg_pubkey: bytes32):
    assert wg_pubkey != empty(bytes32), "wg pubkey required"
