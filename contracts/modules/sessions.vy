# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title Sessions: paid single-hop tunnels through one exit, and their settlement
@notice A member (or a member's device) opens a session, locking a max-pay
        deposit from the tailnet treasury at the exit's current price, and
        fixing the fee, grace and sweep terms it will settle under. While it
        is open the exit is paid for what the opener's receipts prove
        (`checkpoint`), the rest staying locked, and the opener may add to the
        deposit and push the deadlines on (`top_up_session`). It ends one of
        three ways:
        1. the exit claims bytes (`settle_claim`) and the opener confirms the
           same figure (`settle_confirm`); a different figure is a public dispute;
        2. the exit settles alone with the latest `Receipt` the opener signed
           (`settle_with_receipt`, or many sessions at once in `settle_batch`),
           so a silent client cannot leave it unpaid;
        3. nobody settles: after the grace what is left goes back to the
           tailnet (`claim_no_show`), or later to anyone for a bounty
           (`sweep_expired_session`).
        Receipts count when signed by the opener, or by a device of the opener
        wallet, while the key is not revoked (`is_receipt_signer`): a revoked
        key has no power over any open session, whoever opened it. A tailnet
        owner may close a session whose opener no longer acts for a member:
        the exit stops serving it and keeps the settlement window it was
        promised at opening.
        Deadlines are on `governance.clock()`, which stands still while paused.
        pay = bytes_used * price_per_mb // 1_000_000, rounded down (the client's way).
@dev The contract keeps one storage slot per session: the hash of its record
     (`Session`). The record itself travels in the events (`SessionOpened`
     has all of it; each later event says what changed), and every function
     that acts on a session takes it back as an argument and checks it
     against the hash. Eleven full slots written at opening cost more than
     the rest of a session's life together.
     Bytes are paid once: a record keeps the bytes already paid for
     (`bytes_paid`), and a checkpoint or settlement pays only the value above
     them. The protocol fee on what checkpoints paid stays in the deposit
     until the session ends; the exit is credited its share at once.
     An operator that signs two receipts for the same (session, seq) with
     different byte counts, or claims two different figures for one session,
     has equivocated and loses its stake. Reports of double signing are
     committed (`commit_slash_report`) and revealed in a later block.
     Reputation is the value an exit was paid by tailnets it does not own.
"""

from . import eip712
from . import governance
from . import operators
from . import payments
from . import tailnets

uses: eip712
uses: governance
uses: operators
uses: payments
uses: tailnets

struct Session:
    tailnet_id: uint256
    exit: address
    opener: address
    # @dev What the session may still pay and has paid, in the asset's base
    #      units: a top-up adds to `deposit`.
    deposit: uint256
    price_per_mb: uint256
    protocol_fee_bps: uint256
    sweep_bounty_bps: uint256
    # @dev Clock deadlines: the exit settles before `settle_by`; after it the
    #      deposit can go back (`claim_no_show`); after `sweep_after` anyone
    #      may sweep it for the bounty. A top-up only ever moves them later.
    settle_by: uint256
    sweep_after: uint256
    # @dev The receipt bytes checkpoints (or the settlement) paid for.
    bytes_paid: uint256
    status: uint8

struct ClaimRecord:
    is_set: bool
    bytes_used: uint256
    claimed_at: uint256

# @dev One session of a `settle_batch`: a checkpoint, or with `final` its
#      settlement.
struct Settlement:
    session_id: uint256
    session: Session
    seq: uint64
    bytes_used: uint256
    client_signature: Bytes[65]
    final: bool

MASK_128: constant(uint256) = 2**128 - 1
STATUS_OPEN: constant(uint8) = 0
STATUS_SETTLED: constant(uint8) = 1
STATUS_REFUNDED: constant(uint8) = 2
BYTES_PER_MB: constant(uint256) = 1_000_000
RECEIPT_TYPEHASH: constant(bytes32) = keccak256("Receipt(uint256 sessionId,uint64 seq,uint256 bytesUsed)")
MAX_BATCH: constant(uint256) = 64
NOT_SIGNER: constant(String[48]) = "receipt not signed by the opener or its device"
# @dev A session's id is the opener's to know before its transaction is
#      mined, so an exit can take the device while the open is pending: the
#      hash of the opener and a salt it chose, cut to 53 bits so that every
#      JSON reader and database holds it exactly.
SESSION_ID_SHIFT: constant(uint256) = 256 - 53

# @dev keccak256(abi_encode(Session)) of each session's record.
sessions: HashMap[uint256, bytes32]
operator_claims: HashMap[uint256, ClaimRecord]
client_confirms: HashMap[uint256, ClaimRecord]
# @dev Each double-sign report's commitment: `block << 64 | order`, its block
#      and its place among all commitments (the earliest claims a bounty).
slash_reports: HashMap[bytes32, uint256]
report_count: uint256

# Events carry the values they leave behind (a treasury, a reputation), so a reader copies the state instead of
# re-deriving the contract's rules; together they carry every session's record.
event SessionOpened:
    session_id: indexed(uint256)
    tailnet_id: indexed(uint256)
    exit: indexed(address)
    opener: address
    deposit: uint256
    price_per_mb: uint256
    opened_at: uint256
    treasury: uint256
    protocol_fee_bps: uint256
    sweep_bounty_bps: uint256
    settle_by: uint256
    sweep_after: uint256

event SessionToppedUp:
    session_id: indexed(uint256)
    amount: uint256
    deposit: uint256
    settle_by: uint256
    sweep_after: uint256
    treasury: uint256

event SessionCheckpointed:
    session_id: indexed(uint256)
    exit: indexed(address)
    seq: uint64
    bytes_used: uint256
    paid: uint256
    # @dev What the exit was credited, and its unclaimed earnings after.
    earned: uint256
    earnings: uint256

event SettleClaimed:
    session_id: indexed(uint256)
    exit: indexed(address)
    bytes_used: uint256

event SettleConfirmed:
    session_id: indexed(uint256)
    opener: indexed(address)
    bytes_used: uint256

event SettleDispute:
    session_id: indexed(uint256)
    operator_bytes: uint256
    client_bytes: uint256

event SettledByReceipt:
    session_id: indexed(uint256)
    seq: uint64
    bytes_used: uint256

event SessionSettled:
    session_id: indexed(uint256)
    exit: indexed(address)
    bytes_used: uint256
    total_paid: uint256
    protocol_fee: uint256
    refund: uint256
    treasury: uint256
    reputation: uint256
    program_treasury: uint256
    # @dev What the exit was credited by the settlement (the rest came with
    #      checkpoints), and its unclaimed earnings after.
    earned: uint256
    earnings: uint256

event SessionRefunded:
    session_id: indexed(uint256)
    reason: String[32]
    treasury: uint256
    program_treasury: uint256
    # @dev The exit's, counting what checkpoints paid.
    reputation: uint256

event SettlementSkipped:
    session_id: indexed(uint256)
    exit: indexed(address)
    reason: String[48]

event SessionClosed:
    session_id: indexed(uint256)
    settle_by: uint256

event SlashReportCommitted:
    reporter: indexed(address)
    commitment: bytes32

event SessionSwept:
    session_id: indexed(uint256)
    sweeper: indexed(address)
    bounty: uint256
    treasury: uint256
    program_treasury: uint256
    reputation: uint256


@external
def open_session(
    tailnet_id: uint256, exit_addr: address, max_pay: uint256, max_price_per_mb: uint256, salt: uint64
) -> uint256:
    """
    @notice Open a session through `exit_addr`, locking `max_pay` from the
            tailnet treasury. The caller (a member, or a device of one) is the
            session's opener: it signs receipts and confirms settlement.
    @param tailnet_id The tailnet whose treasury pays.
    @param exit_addr The exit's operator address (one the tailnet allows).
    @param max_pay Base units of the asset to lock: the most the session
           can pay.
    @param max_price_per_mb The highest price the opener accepts: the price it
           chose the exit at. An exit that raised its price before this
           transaction executed gets no session.
    @param salt The opener's choice (its transaction's nonce, say) that
           makes the id: `session_id(opener, salt)`, known before the
           transaction is mined. An id in use reverts.
    @return The new session's id.
    """
    governance._check_not_paused()
    self._check_acts_for_member(tailnet_id)
    tailnets._check_exit_configured(tailnet_id, exit_addr)
    operators._check_active(exit_addr)
    assert max_pay >= governance._min_session_deposit(), "deposit below min"
    tailnets._check_spendable(tailnet_id, max_pay)

    tailnets.tailnets[tailnet_id].treasury -= max_pay
    price: uint256 = operators._price(exit_addr)
    assert price <= max_price_per_mb, "exit price above max_price_per_mb"
    session_id: uint256 = self._session_id(msg.sender, salt)
    assert self.sessions[session_id] == empty(bytes32), "session id in use: open with another salt"
    settle_by: uint256 = 0
    sweep_after: uint256 = 0
    settle_by, sweep_after = self._deadlines()
    session: Session = Session(
        tailnet_id=tailnet_id,
        exit=exit_addr,
        opener=msg.sender,
        deposit=max_pay,
        price_per_mb=price,
        protocol_fee_bps=governance._protocol_fee_bps(),
        sweep_bounty_bps=governance._sweep_bounty_bps(),
        settle_by=settle_by,
        sweep_after=sweep_after,
        bytes_paid=0,
        status=STATUS_OPEN,
    )
    self.sessions[session_id] = self._hash(session)
    log SessionOpened(
        session_id=session_id,
        tailnet_id=tailnet_id,
        exit=exit_addr,
        opener=msg.sender,
        deposit=max_pay,
        price_per_mb=price,
        opened_at=block.timestamp,
        treasury=tailnets.tailnets[tailnet_id].treasury,
        protocol_fee_bps=session.protocol_fee_bps,
        sweep_bounty_bps=session.sweep_bounty_bps,
        settle_by=settle_by,
        sweep_after=sweep_after,
    )
    return session_id


@external
def top_up_session(session_id: uint256, session: Session, amount: uint256):
    """
    @notice Add `amount` from the tailnet treasury to an open session's
            deposit and move its deadlines to a full grace from now (never
            earlier), instead of opening another session. The session keeps
            its price, so an exit that has raised its price since takes no
            more at the old one.
    @param session_id An open session opened by the caller.
    @param session The session's record, as its events tell it.
    @param amount Base units of the asset to add (0 only extends).
    """
    governance._check_not_paused()
    self._check_open(session_id, session)
    assert msg.sender == session.opener, "not session opener"
    self._check_acts_for_member(session.tailnet_id)
    tailnets._check_exit_configured(session.tailnet_id, session.exit)
    operators._check_active(session.exit)
    assert operators._price(session.exit) <= session.price_per_mb, (
        "exit raised its price: open a new session"
    )
    tailnets._check_spendable(session.tailnet_id, amount)
    tailnets.tailnets[session.tailnet_id].treasury -= amount
    renewed: Session = session
    renewed.deposit += amount
    settle_by: uint256 = 0
    sweep_after: uint256 = 0
    settle_by, sweep_after = self._deadlines()
    renewed.settle_by = max(session.settle_by, settle_by)
    renewed.sweep_after = max(session.sweep_after, sweep_after)
    self.sessions[session_id] = self._hash(renewed)
    log SessionToppedUp(
        session_id=session_id,
        amount=amount,
        deposit=renewed.deposit,
        settle_by=renewed.settle_by,
        sweep_after=renewed.sweep_after,
        treasury=tailnets.tailnets[session.tailnet_id].treasury,
    )


@external
def checkpoint(session_id: uint256, session: Session, seq: uint64, bytes_used: uint256, client_signature: Bytes[65]):
    """
    @notice The exit is paid for the bytes a `Receipt` signed by the opener
            or its device proves above those already paid for; the session
            stays open and the rest of its deposit locked.
    @param session_id The session, open and served by the caller.
    @param session The session's record, as its events tell it.
    @param seq The receipt's sequence number.
    @param bytes_used The receipt's cumulative byte count: more than the
           record's `bytes_paid`.
    @param client_signature The receipt's EIP-712 signature (65 bytes: r,
           s, v).
    @dev Written out, not through `_check_receipt` and `_pay` as the other
         receipt paths are: an exit checkpoints all day, and their internal
         calls' overhead took a lone checkpoint to 51,733 gas (49,843 so,
         `make gas`). Every check and refusal is theirs, in their order
         (`tests/contract/unit/test_checkpoint.py`).
    """
    governance._check_not_paused()
    stored: bytes32 = self.sessions[session_id]
    assert stored != empty(bytes32), "session not found"
    assert keccak256(abi_encode(session)) == stored, "session record does not match its events"
    assert session.status == STATUS_OPEN, "session not open"
    assert msg.sender == session.exit, "not session exit"
    packed: uint256 = operators.books[msg.sender]
    assert packed >> 255 == 0, "operator slashed"
    signer: address = eip712._recover(
        keccak256(abi_encode(RECEIPT_TYPEHASH, session_id, seq, bytes_used)), client_signature
    )
    assert tailnets.devices[signer].revoked_at == 0 and (
        signer == session.opener or tailnets.devices[signer].wallet == session.opener
    ), NOT_SIGNER
    assert bytes_used > session.bytes_paid, "receipt adds nothing to what was paid"
    total: uint256 = self._value(bytes_used, session.price_per_mb)
    assert total <= session.deposit, "usage exceeds deposit"
    # Below `bytes_used`, whose value did not overflow (`_value` would have priced it above any deposit).
    before: uint256 = session.bytes_paid * session.price_per_mb // BYTES_PER_MB
    fee_bps: uint256 = session.protocol_fee_bps
    earned: uint256 = total - governance._bps(total, fee_bps) - (before - governance._bps(before, fee_bps))
    earnings: uint256 = (packed & MASK_128) + earned
    assert earnings <= MASK_128, "earnings above 2**128 - 1: claim some first"
    operators.books[msg.sender] = packed + earned
    paid: Session = session
    paid.bytes_paid = bytes_used
    self.sessions[session_id] = keccak256(abi_encode(paid))
    log SessionCheckpointed(
        session_id=session_id,
        exit=msg.sender,
        seq=seq,
        bytes_used=bytes_used,
        paid=total,
        earned=earned,
        earnings=earnings,
    )


@external
def settle_claim(session_id: uint256, session: Session, bytes_used: uint256) -> bool:
    """
    @notice The exit states the bytes it served. Repeating the same figure is
            a no-op; a different figure is equivocation: the exit is slashed
            (no bounty) and what is left of the deposit returns to the tailnet.
    @param session_id The session, open and served by the caller.
    @param session The session's record, as its events tell it.
    @param bytes_used The bytes the exit served, in total.
    @return False if the call slashed the exit, True otherwise.
    """
    governance._check_not_paused()
    self._check_open(session_id, session)
    self._check_exit_caller(session.exit)
    previous: ClaimRecord = self.operator_claims[session_id]
    if previous.is_set:
        if previous.bytes_used == bytes_used:
            return True
        operators._slash(msg.sender, False, max_value(uint256))
        self._refund(session_id, session, "operator-equivocation")
        return False
    self.operator_claims[session_id] = ClaimRecord(is_set=True, bytes_used=bytes_used, claimed_at=block.timestamp)
    log SettleClaimed(session_id=session_id, exit=msg.sender, bytes_used=bytes_used)
    return True


@external
def settle_confirm(session_id: uint256, session: Session, bytes_used: uint256) -> bool:
    """
    @notice The opener states the bytes it used. If that equals the exit's
            claim the session settles; otherwise a dispute is recorded and
            nothing moves.
    @param session_id The session, opened by the caller.
    @param session The session's record, as its events tell it.
    @param bytes_used The bytes the opener used, in total.
    @return True if the session settled.
    """
    governance._check_not_paused()
    self._check_open(session_id, session)
    assert msg.sender == session.opener, "not session opener"
    claim: ClaimRecord = self.operator_claims[session_id]
    assert claim.is_set, "operator has not claimed yet"
    self.client_confirms[session_id] = ClaimRecord(is_set=True, bytes_used=bytes_used, claimed_at=block.timestamp)
    if claim.bytes_used != bytes_used:
        log SettleDispute(session_id=session_id, operator_bytes=claim.bytes_used, client_bytes=bytes_used)
        return False
    operators._check_not_slashed(session.exit)
    problem: String[48] = self._amount_problem(session, bytes_used, True)
    assert len(problem) == 0, problem
    log SettleConfirmed(session_id=session_id, opener=msg.sender, bytes_used=bytes_used)
    self._pay(session_id, session, 0, bytes_used, True)
    return True


@external
def settle_with_receipt(
    session_id: uint256, session: Session, seq: uint64, bytes_used: uint256, client_signature: Bytes[65]
):
    """
    @notice The exit settles alone with a `Receipt(sessionId, seq, bytesUsed)`
            signed by the session opener or one of its devices (see
            `is_receipt_signer`). Usable while the session is open, also
            after a dispute.
    @param session_id The session, open and served by the caller.
    @param session The session's record, as its events tell it.
    @param seq The receipt's sequence number.
    @param bytes_used The receipt's cumulative byte count: what is paid (at
           least the record's `bytes_paid`).
    @param client_signature The receipt's EIP-712 signature (65 bytes: r,
           s, v).
    """
    governance._check_not_paused()
    self._check_receipt(session_id, session, seq, bytes_used, client_signature, True)
    log SettledByReceipt(session_id=session_id, seq=seq, bytes_used=bytes_used)
    self._pay(session_id, session, seq, bytes_used, True)


@external
def settle_batch(items: DynArray[Settlement, MAX_BATCH]) -> uint256:
    """
    @notice The exit checkpoints and settles many sessions in one
            transaction. An item that would revert on its own (a record that
            does not match, a session not open or not the caller's, a receipt
            not signed by a live signer, usage above the deposit or not above
            what was paid) is skipped with a `SettlementSkipped` event naming
            the reason; the others go through.
    @param items Each session's record, receipt and whether to settle it
           (`final`) or checkpoint it.
    @return How many items went through.
    """
    governance._check_not_paused()
    operators._check_not_slashed(msg.sender)
    done: uint256 = 0
    for item: Settlement in items:
        problem: String[48] = self._receipt_problem(item)
        if len(problem) != 0:
            log SettlementSkipped(session_id=item.session_id, exit=msg.sender, reason=problem)
            continue
        if item.final:
            log SettledByReceipt(session_id=item.session_id, seq=item.seq, bytes_used=item.bytes_used)
        self._pay(item.session_id, item.session, item.seq, item.bytes_used, item.final)
        done += 1
    return done


@external
def claim_no_show(session_id: uint256, session: Session):
    """
    @notice After the session grace, return what is left of the deposit to
            the tailnet (anyone may call). Exits must settle before then.
    @param session_id An open session whose grace has elapsed.
    @param session The session's record, as its events tell it.
    """
    governance._check_not_paused()
    self._check_open(session_id, session)
    governance._check_elapsed(session.settle_by)
    self._refund(session_id, session, "no-show")


@external
def sweep_expired_session(session_id: uint256, session: Session):
    """
    @notice Long after the grace (grace x sweep multiplier), anyone may close
            a forgotten session for a bounty on what is left; the rest returns
            to the tailnet.
    @param session_id An open session past `sweep_after`.
    @param session The session's record, as its events tell it.
    """
    governance._check_not_paused()
    self._check_open(session_id, session)
    assert governance._clock() >= session.sweep_after, "sweep grace not elapsed"
    paid: uint256 = self._value(session.bytes_paid, session.price_per_mb)
    bounty: uint256 = governance._bps(session.deposit - paid, session.sweep_bounty_bps)
    self._end(session_id, session, STATUS_REFUNDED)
    tailnets.tailnets[session.tailnet_id].treasury += session.deposit - paid - bounty
    log SessionSwept(
        session_id=session_id,
        sweeper=msg.sender,
        bounty=bounty,
        treasury=tailnets.tailnets[session.tailnet_id].treasury,
        program_treasury=governance.treasury,
        reputation=operators._books(session.exit).reputation,
    )
    payments._push(msg.sender, bounty)


@external
def close_session(session_id: uint256, session: Session):
    """
    @notice End a session whose opener no longer acts for a member: a removed
            member, or a revoked device (tailnet owner only). The exit stops
            serving it and settles with its receipts within the window it was
            promised at opening (`settle_by`, unchanged); then the deposit can
            go back to the tailnet.
    @param session_id An open session of the caller's tailnet.
    @param session The session's record, as its events tell it.
    """
    governance._check_not_paused()
    self._check_open(session_id, session)
    tailnets._check_tailnet_owner(session.tailnet_id)
    assert not tailnets._acts_for_member(session.tailnet_id, session.opener), "opener still acts for a member"
    log SessionClosed(session_id=session_id, settle_by=session.settle_by)


@external
def commit_slash_report(commitment: bytes32):
    """
    @notice First step of a double-sign report: commit to
            `keccak256(abi_encode(reporter, operator, session_id, seq,
            bytes_a, bytes_b))`, then call `slash_double_sign` in a later
            block. Only the committing reporter can reveal it.
    @param commitment The hash described above; unique per report.
    """
    governance._check_not_paused()
    assert self.slash_reports[commitment] == 0, "report already committed"
    order: uint256 = self.report_count
    self.report_count = order + 1
    self.slash_reports[commitment] = block.number << 64 | order
    log SlashReportCommitted(reporter=msg.sender, commitment=commitment)


@external
def slash_double_sign(
    operator: address,
    session_id: uint256,
    session: Session,
    seq: uint64,
    bytes_a: uint256,
    sig_a: Bytes[65],
    bytes_b: uint256,
    sig_b: Bytes[65],
):
    """
    @notice Prove equivocation: two receipts signed by `operator`'s receipt
            key for the same session and seq with different byte counts, as
            committed earlier by the caller. The bounty share of the stake is
            held for `REPORT_WINDOW` and then paid (`release_slash_bounty`)
            to the earliest committed report revealed by then: this one,
            unless one committed before it is revealed too. A report
            committed after the slash gets nothing.
    @param operator The exit whose receipt key signed both.
    @param session_id The session both receipts name (open or ended).
    @param session The session's record, as its events tell it.
    @param seq The sequence number both receipts name.
    @param bytes_a The first receipt's byte count.
    @param sig_a The operator's receipt-key signature over the first
           receipt.
    @param bytes_b The second receipt's byte count (not `bytes_a`).
    @param sig_b The operator's receipt-key signature over the second
           receipt.
    """
    governance._check_not_paused()
    commitment: bytes32 = keccak256(abi_encode(msg.sender, operator, session_id, seq, bytes_a, bytes_b))
    committed: uint256 = self.slash_reports[commitment]
    committed_block: uint256 = committed >> 64
    assert committed != 0 and committed_block < block.number, "commit the report in an earlier block first"
    assert bytes_a != bytes_b, "receipts do not conflict"
    self._check_record(session_id, session)
    assert session.exit == operator, "session is not served by operator"
    signer_a: address = eip712._recover(self._receipt_hash(session_id, seq, bytes_a), sig_a)
    signer_b: address = eip712._recover(self._receipt_hash(session_id, seq, bytes_b), sig_b)
    assert (
        operators.receipt_signer_operator[signer_a] == operator
        and operators.receipt_signer_operator[signer_b] == operator
    ), "both receipts must be signed by the operator's receipt key"
    self.slash_reports[commitment] = 0
    if not operators._is_slashed(operator):
        operators._slash(operator, False, max_value(uint256))
    operators._claim_held_bounty(operator, msg.sender, committed_block, committed & convert(max_value(uint64), uint256))


# ---------------------------------------------------------------- views

@external
@view
def get_session_hash(session_id: uint256) -> bytes32:
    """
    @notice The hash of the session's record (reverts for an unknown id):
            `keccak256(abi_encode(Session))`. A record read from the events
            is the session's if it hashes to this.
    @param session_id The session.
    @return The record's hash.
    """
    stored: bytes32 = self.sessions[session_id]
    assert stored != empty(bytes32), "session not found"
    return stored


@external
@view
def is_receipt_signer(session_id: uint256, session: Session, signer: address) -> bool:
    """
    @notice Whether receipts signed by `signer` settle the session: the
            opener, or a device of the opener wallet, while the key is not
            revoked. Exits accept exactly these signers.
    @param session_id The session.
    @param session The session's record, as its events tell it.
    @param signer The address that signed a receipt.
    @return True if a receipt it signed settles the session.
    """
    self._check_record(session_id, session)
    return self._is_receipt_signer(session.opener, signer)


@external
@pure
def session_id(opener: address, salt: uint64) -> uint256:
    """
    @notice The id `open_session` gives the session `opener` opens with
            `salt`.
    @param opener The session's opener.
    @param salt The salt it opens with.
    @return The session's id.
    """
    return self._session_id(opener, salt)


@internal
@pure
def _session_id(opener: address, salt: uint64) -> uint256:
    return convert(keccak256(abi_encode(opener, salt)), uint256) >> SESSION_ID_SHIFT


@external
@view
def get_operator_claim(session_id: uint256) -> ClaimRecord:
    """
    @notice The exit's `settle_claim` for the session, if any.
    @param session_id The session.
    @return Whether the exit claimed, the bytes it claimed and when.
    """
    return self.operator_claims[session_id]


@external
@view
def get_client_confirm(session_id: uint256) -> ClaimRecord:
    """
    @notice The opener's latest `settle_confirm` for the session, if any.
    @param session_id The session.
    @return Whether the opener confirmed, the bytes it confirmed and when.
    """
    return self.client_confirms[session_id]


# ------------------------------------------------------------- internal

@internal
@pure
def _hash(session: Session) -> bytes32:
    return keccak256(abi_encode(session))


@internal
@view
def _deadlines() -> (uint256, uint256):
    grace: uint256 = governance._session_grace()
    settle_by: uint256 = governance._clock() + grace
    return settle_by, settle_by + grace * (governance._sweep_grace_multiplier() - 1)


@internal
@view
def _check_acts_for_member(tailnet_id: uint256):
    # A member's tailnet exists: only a caller that is not one pays to learn
    # whether the tailnet does.
    if not tailnets.members[tailnet_id][msg.sender]:
        tailnets._check_tailnet_exists(tailnet_id)
        owner_wallet: address = tailnets._device_wallet(msg.sender)
        assert owner_wallet != empty(address), "not a member"
        assert tailnets.members[tailnet_id][owner_wallet], "device's owner is not a member"


@internal
@view
def _record_problem(session_id: uint256, record_hash: bytes32) -> String[48]:
    stored: bytes32 = self.sessions[session_id]
    if stored == empty(bytes32):  # no record hashes to zero: the id was never opened
        return "session not found"
    if record_hash != stored:
        return "session record does not match its events"
    return ""


@internal
@view
def _check_record(session_id: uint256, session: Session):
    problem: String[48] = self._record_problem(session_id, self._hash(session))
    assert len(problem) == 0, problem


@internal
@view
def _check_open(session_id: uint256, session: Session):
    problem: String[48] = self._record_problem(session_id, keccak256(abi_encode(session)))
    assert len(problem) == 0, problem
    assert session.status == STATUS_OPEN, "session not open"


@internal
@view
def _check_exit_caller(exit_addr: address):
    assert msg.sender == exit_addr, "not session exit"
    operators._check_not_slashed(msg.sender)


@internal
@view
def _check_receipt(
    session_id: uint256, session: Session, seq: uint64, bytes_used: uint256, client_signature: Bytes[65], final: bool
):
    self._check_open(session_id, session)
    self._check_exit_caller(session.exit)
    signer: address = eip712._recover(self._receipt_hash(session_id, seq, bytes_used), client_signature)
    assert self._is_receipt_signer(session.opener, signer), NOT_SIGNER
    problem: String[48] = self._amount_problem(session, bytes_used, final)
    assert len(problem) == 0, problem


@internal
@view
def _receipt_problem(item: Settlement) -> String[48]:
    """
    @dev `_check_receipt` for one item of a batch: the reason it would revert,
         or "" (the caller's slashing is checked once for the batch).
    """
    problem: String[48] = self._record_problem(item.session_id, self._hash(item.session))
    if len(problem) != 0:
        return problem
    if item.session.status != STATUS_OPEN:
        return "session not open"
    if item.session.exit != msg.sender:
        return "not session exit"
    signer: address = eip712._signer_or_empty(
        self._receipt_hash(item.session_id, item.seq, item.bytes_used), item.client_signature
    )
    if signer == empty(address) or not self._is_receipt_signer(item.session.opener, signer):
        return NOT_SIGNER
    return self._amount_problem(item.session, item.bytes_used, item.final)


@internal
@view
def _amount_problem(session: Session, bytes_used: uint256, final: bool) -> String[48]:
    # A settlement may repeat what checkpoints paid; a checkpoint must add to it.
    if final and bytes_used < session.bytes_paid:
        return "usage below what checkpoints paid"
    if not final and bytes_used <= session.bytes_paid:
        return "receipt adds nothing to what was paid"
    if self._value(bytes_used, session.price_per_mb) > session.deposit:
        return "usage exceeds deposit"
    return ""


@internal
@view
def _is_receipt_signer(opener: address, signer: address) -> bool:
    # A revoked key signs for nothing: a stolen laptop's receipts, with a
    # colluding exit, once took a whole deposit its wallet had locked.
    if tailnets.devices[signer].revoked_at != 0:
        return False
    return signer == opener or tailnets.devices[signer].wallet == opener


@internal
@pure
def _receipt_hash(session_id: uint256, seq: uint64, bytes_used: uint256) -> bytes32:
    return keccak256(abi_encode(RECEIPT_TYPEHASH, session_id, seq, bytes_used))


@internal
@pure
def _value(bytes_used: uint256, price_per_mb: uint256) -> uint256:
    # A product that would overflow is far above any deposit: it is valued at
    # the most there is, which no deposit covers.
    if bytes_used > max_value(uint256) // max(price_per_mb, 1):
        return max_value(uint256)
    return bytes_used * price_per_mb // BYTES_PER_MB


@internal
def _pay(session_id: uint256, session: Session, seq: uint64, bytes_used: uint256, final: bool):
    """
    @dev Pays the exit for `bytes_used` above the bytes already paid for (the
         checks were made by the caller). A checkpoint keeps the session open;
         a final payment takes the protocol fee on everything paid, returns
         the rest of the deposit to the tailnet and ends the session.
    """
    before: uint256 = self._value(session.bytes_paid, session.price_per_mb)
    total: uint256 = self._value(bytes_used, session.price_per_mb)
    # The exit's share of each payment is net of the fee on the running total, so what checkpoints credit adds
    # up to the share of the final total, whatever the rounding.
    fee_bps: uint256 = session.protocol_fee_bps
    earned: uint256 = total - governance._bps(total, fee_bps) - (before - governance._bps(before, fee_bps))
    earnings: uint256 = operators._credit_earnings(session.exit, earned)
    paid: Session = session
    paid.bytes_paid = bytes_used
    if not final:
        self.sessions[session_id] = self._hash(paid)
        log SessionCheckpointed(
            session_id=session_id,
            exit=session.exit,
            seq=seq,
            bytes_used=bytes_used,
            paid=total,
            earned=earned,
            earnings=earnings,
        )
        return
    fee: uint256 = self._end(session_id, paid, STATUS_SETTLED)
    refund: uint256 = session.deposit - total
    tailnets.tailnets[session.tailnet_id].treasury += refund
    log SessionSettled(
        session_id=session_id,
        exit=session.exit,
        bytes_used=bytes_used,
        total_paid=total,
        protocol_fee=fee,
        refund=refund,
        treasury=tailnets.tailnets[session.tailnet_id].treasury,
        reputation=operators._books(session.exit).reputation,
        program_treasury=governance.treasury,
        earned=earned,
        earnings=earnings,
    )


@internal
def _end(session_id: uint256, session: Session, status: uint8) -> uint256:
    """
    @dev Ends the session with `status`, takes the protocol fee on what it
         paid (which stayed in the deposit until now) and counts what it paid
         to the exit's reputation unless the tailnet is the exit's own: once
         per session, not per checkpoint. Returns the fee.
    """
    ended: Session = session
    ended.status = status
    self.sessions[session_id] = self._hash(ended)
    paid: uint256 = self._value(session.bytes_paid, session.price_per_mb)
    if paid == 0:
        return 0
    if tailnets.tailnets[session.tailnet_id].owner != session.exit:
        operators._add_reputation(session.exit, paid)
    fee: uint256 = governance._bps(paid, session.protocol_fee_bps)
    if fee != 0:
        governance.treasury += fee
    return fee


@internal
def _refund(session_id: uint256, session: Session, reason: String[32]):
    self._end(session_id, session, STATUS_REFUNDED)
    tailnets.tailnets[session.tailnet_id].treasury += session.deposit - self._value(session.bytes_paid, session.price_per_mb)
    log SessionRefunded(
        session_id=session_id,
        reason=reason,
        treasury=tailnets.tailnets[session.tailnet_id].treasury,
        program_treasury=governance.treasury,
        reputation=operators._books(session.exit).reputation,
    )
