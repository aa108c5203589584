# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title Sessions: paid single-hop tunnels through one exit, and their settlement
@notice A member (or a member's device) opens a session, locking a max-pay
        deposit from the tailnet treasury at the exit's current price, and
        fixing the fee, grace and sweep terms it will settle under. Usage
        settles one of three ways:
        1. the exit claims bytes (`settle_claim`) and the opener confirms the
           same figure (`settle_confirm`); a different figure is a public dispute;
        2. the exit settles alone with the latest `Receipt` the opener signed
           (`settle_with_receipt`), so a silent client cannot leave it unpaid;
        3. nobody settles: after the grace the deposit goes back to the tailnet
           (`claim_no_show`), or later to anyone for a bounty (`sweep_expired_session`).
        Receipts count when signed by the opener, or by a device of the opener
        wallet, while the key is not revoked (`is_receipt_signer`): a revoked
        key has no power over any open session, whoever opened it. A tailnet
        owner may close a session whose opener no longer acts for a member:
        the exit stops serving it and keeps the settlement window it was
        promised at opening.
        Deadlines are on `governance.clock()`, which stands still while paused.
        pay = bytes_used * price_per_mb // 1_000_000, rounded down (the client's way).
@dev An operator that signs two receipts for the same (session, seq) with
     different byte counts, or claims two different figures for one session,
     has equivocated and loses its stake. Reports of double signing are
     committed (`commit_slash_report`) and revealed in a later block.
     Reputation is the value an exit settled for tailnets it does not own.
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
    deposit: uint256
    price_per_mb: uint256
    opened_at: uint256
    status: uint8
    protocol_fee_bps: uint256
    sweep_bounty_bps: uint256
    # @dev Clock deadlines: the exit settles before `settle_by`; after it the
    #      deposit can go back (`claim_no_show`); after `sweep_after` anyone
    #      may sweep it for the bounty.
    settle_by: uint256
    sweep_after: uint256

struct ClaimRecord:
    is_set: bool
    bytes_used: uint256
    claimed_at: uint256

STATUS_OPEN: constant(uint8) = 0
STATUS_SETTLED: constant(uint8) = 1
STATUS_REFUNDED: constant(uint8) = 2
BYTES_PER_MB: constant(uint256) = 1_000_000
RECEIPT_TYPEHASH: constant(bytes32) = keccak256("Receipt(uint256 sessionId,uint64 seq,uint256 bytesUsed)")

session_count: uint256
sessions: HashMap[uint256, Session]
operator_claims: HashMap[uint256, ClaimRecord]
client_confirms: HashMap[uint256, ClaimRecord]
# @dev Each double-sign report's commitment: `block << 64 | order`, its block
#      and its place among all commitments (the earliest claims a bounty).
slash_reports: HashMap[bytes32, uint256]
report_count: uint256

# Events carry the values they leave behind (a treasury, a reputation), so a reader copies the state instead of
# re-deriving the contract's rules.
event SessionOpened:
    session_id: indexed(uint256)
    tailnet_id: indexed(uint256)
    exit: indexed(address)
    opener: address
    deposit: uint256
    price_per_mb: uint256
    opened_at: uint256
    treasury: uint256

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

event SessionRefunded:
    session_id: indexed(uint256)
    reason: String[32]
    treasury: uint256

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


@external
def open_session(tailnet_id: uint256, exit_addr: address, max_pay: uint256, max_price_per_mb: uint256) -> uint256:
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
    @return The new session's id.
    """
    governance._check_not_paused()
    tailnets._check_tailnet_exists(tailnet_id)
    if not tailnets.members[tailnet_id][msg.sender]:
        owner_wallet: address = tailnets._device_wallet(msg.sender)
        assert owner_wallet != empty(address), "not a member"
        assert tailnets.members[tailnet_id][owner_wallet], "device's owner is not a member"
    tailnets._check_exit_configured(tailnet_id, exit_addr)
    operators._check_active(exit_addr)
    assert max_pay >= governance.params.min_session_deposit, "deposit below min"
    tailnets._check_spendable(tailnet_id, max_pay)

    tailnets.tailnets[tailnet_id].treasury -= max_pay
    price: uint256 = operators.endpoints[exit_addr].price_per_mb
    assert price <= max_price_per_mb, "exit price above max_price_per_mb"
    session_id: uint256 = self.session_count
    self.session_count = session_id + 1
    terms: governance.Params = governance.params
    settle_by: uint256 = governance._clock() + terms.session_grace
    self.sessions[session_id] = Session(
        tailnet_id=tailnet_id,
        exit=exit_addr,
        opener=msg.sender,
        deposit=max_pay,
        price_per_mb=price,
        opened_at=block.timestamp,
        status=STATUS_OPEN,
        protocol_fee_bps=terms.protocol_fee_bps,
        sweep_bounty_bps=terms.sweep_bounty_bps,
        settle_by=settle_by,
        sweep_after=settle_by + terms.session_grace * (terms.sweep_grace_multiplier - 1),
    )
    log SessionOpened(
        session_id=session_id,
        tailnet_id=tailnet_id,
        exit=exit_addr,
        opener=msg.sender,
        deposit=max_pay,
        price_per_mb=price,
        opened_at=block.timestamp,
        treasury=tailnets.tailnets[tailnet_id].treasury,
    )
    return session_id


@external
def settle_claim(session_id: uint256, bytes_used: uint256) -> bool:
    """
    @notice The exit states the bytes it served. Repeating the same figure is
            a no-op; a different figure is equivocation: the exit is slashed
            (no bounty) and the deposit returns to the tailnet.
    @param session_id The session, open and served by the caller.
    @param bytes_used The bytes the exit served, in total.
    @return False if the call slashed the exit, True otherwise.
    """
    governance._check_not_paused()
    session: Session = self._open_session(session_id)
    self._check_exit_caller(session)
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
def settle_confirm(session_id: uint256, bytes_used: uint256) -> bool:
    """
    @notice The opener states the bytes it used. If that equals the exit's
            claim the session settles; otherwise a dispute is recorded and
            nothing moves.
    @param session_id The session, opened by the caller.
    @param bytes_used The bytes the opener used, in total.
    @return True if the session settled.
    """
    governance._check_not_paused()
    session: Session = self._open_session(session_id)
    assert msg.sender == session.opener, "not session opener"
    claim: ClaimRecord = self.operator_claims[session_id]
    assert claim.is_set, "operator has not claimed yet"
    self.client_confirms[session_id] = ClaimRecord(is_set=True, bytes_used=bytes_used, claimed_at=block.timestamp)
    if claim.bytes_used != bytes_used:
        log SettleDispute(session_id=session_id, operator_bytes=claim.bytes_used, client_bytes=bytes_used)
        return False
    operators._check_not_slashed(session.exit)
    log SettleConfirmed(session_id=session_id, opener=msg.sender, bytes_used=bytes_used)
    self._settle(session_id, session, bytes_used)
    return True


@external
def settle_with_receipt(session_id: uint256, seq: uint64, bytes_used: uint256, client_signature: Bytes[65]):
    """
    @notice The exit settles alone with a `Receipt(sessionId, seq, bytesUsed)`
            signed by the session opener or one of its devices (see
            `is_receipt_signer`). Usable while the session is open, also
            after a dispute.
    @param session_id The session, open and served by the caller.
    @param seq The receipt's sequence number.
    @param bytes_used The receipt's cumulative byte count: what is paid.
    @param client_signature The receipt's EIP-712 signature (65 bytes: r,
           s, v).
    """
    governance._check_not_paused()
    session: Session = self._open_session(session_id)
    self._check_exit_caller(session)
    signer: address = eip712._recover(self._receipt_hash(session_id, seq, bytes_used), client_signature)
    assert self._is_receipt_signer(session, signer), "receipt not signed by the opener or its device"
    log SettledByReceipt(session_id=session_id, seq=seq, bytes_used=bytes_used)
    self._settle(session_id, session, bytes_used)


@external
def claim_no_show(session_id: uint256):
    """
    @notice After the session grace, return the whole deposit to the tailnet
            (anyone may call). Exits must settle before then.
    @param session_id An open session whose grace has elapsed.
    """
    governance._check_not_paused()
    session: Session = self._open_session(session_id)
    governance._check_elapsed(session.settle_by)
    self._refund(session_id, session, "no-show")


@external
def sweep_expired_session(session_id: uint256):
    """
    @notice Long after the grace (grace x sweep multiplier), anyone may close
            a forgotten session for a bounty; the rest returns to the tailnet.
    @param session_id An open session past `sweep_after`.
    """
    governance._check_not_paused()
    session: Session = self._open_session(session_id)
    assert governance._clock() >= session.sweep_after, "sweep grace not elapsed"
    bounty: uint256 = governance._bps(session.deposit, session.sweep_bounty_bps)
    self.sessions[session_id].status = STATUS_REFUNDED
    tailnets.tailnets[session.tailnet_id].treasury += session.deposit - bounty
    log SessionSwept(
        session_id=session_id,
        sweeper=msg.sender,
        bounty=bounty,
        treasury=tailnets.tailnets[session.tailnet_id].treasury,
    )
    payments._push(msg.sender, bounty)


@external
def close_session(session_id: uint256):
    """
    @notice End a session whose opener no longer acts for a member: a removed
            member, or a revoked device (tailnet owner only). The exit stops
            serving it and settles with its receipts within the window it was
            promised at opening (`settle_by`, unchanged); then the deposit can
            go back to the tailnet.
    @param session_id An open session of the caller's tailnet.
    """
    governance._check_not_paused()
    session: Session = self._open_session(session_id)
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
    @param session_id The session both receipts name.
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
    self._check_session_exists(session_id)
    assert self.sessions[session_id].exit == operator, "session is not served by operator"
    signer_a: address = eip712._recover(self._receipt_hash(session_id, seq, bytes_a), sig_a)
    signer_b: address = eip712._recover(self._receipt_hash(session_id, seq, bytes_b), sig_b)
    assert (
        operators.receipt_signer_operator[signer_a] == operator
        and operators.receipt_signer_operator[signer_b] == operator
    ), "both receipts must be signed by the operator's receipt key"
    self.slash_reports[commitment] = 0
    if not operators.slashed[operator]:
        operators._slash(operator, False, max_value(uint256))
    operators._claim_held_bounty(operator, msg.sender, committed_block, committed & convert(max_value(uint64), uint256))


# ---------------------------------------------------------------- views

@external
@view
def get_session(session_id: uint256) -> Session:
    """
    @notice The session record (reverts for an unknown id).
    @param session_id The session.
    @return Its terms, deposit, opener, status and deadlines.
    """
    self._check_session_exists(session_id)
    return self.sessions[session_id]


@external
@view
def is_receipt_signer(session_id: uint256, signer: address) -> bool:
    """
    @notice Whether receipts signed by `signer` settle the session: the
            opener, or a device of the opener wallet, while the key is not
            revoked. Exits accept exactly these signers.
    @param session_id The session.
    @param signer The address that signed a receipt.
    @return True if a receipt it signed settles the session.
    """
    self._check_session_exists(session_id)
    return self._is_receipt_signer(self.sessions[session_id], signer)


@external
@view
def session_count_view() -> uint256:
    """
    @notice How many sessions exist; ids are 0 .. count - 1.
    @return The number of sessions ever opened.
    """
    return self.session_count


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
@view
def _check_session_exists(session_id: uint256):
    assert session_id < self.session_count, "session not found"


@internal
@view
def _check_exit_caller(session: Session):
    assert msg.sender == session.exit, "not session exit"
    operators._check_not_slashed(msg.sender)


@internal
@view
def _open_session(session_id: uint256) -> Session:
    self._check_session_exists(session_id)
    session: Session = self.sessions[session_id]
    assert session.status == STATUS_OPEN, "session not open"
    return session


@internal
@view
def _is_receipt_signer(session: Session, signer: address) -> bool:
    # A revoked key signs for nothing: a stolen laptop's receipts, with a
    # colluding exit, once took a whole deposit its wallet had locked.
    if tailnets.devices[signer].revoked_at != 0:
        return False
    return signer == session.opener or tailnets.devices[signer].wallet == session.opener


@internal
@pure
def _receipt_hash(session_id: uint256, seq: uint64, bytes_used: uint256) -> bytes32:
    return keccak256(abi_encode(RECEIPT_TYPEHASH, session_id, seq, bytes_used))


@internal
def _settle(session_id: uint256, session: Session, bytes_used: uint256):
    # A product that would overflow is far above any deposit: refuse it with
    # the same reason instead of a bare overflow revert.
    total_paid: uint256 = max_value(uint256)
    if bytes_used <= max_value(uint256) // session.price_per_mb:
        total_paid = bytes_used * session.price_per_mb // BYTES_PER_MB
    assert total_paid <= session.deposit and total_paid != max_value(uint256), "usage exceeds deposit"
    fee: uint256 = governance._bps(total_paid, session.protocol_fee_bps)
    refund: uint256 = session.deposit - total_paid
    self.sessions[session_id].status = STATUS_SETTLED
    operators._credit_earnings(session.exit, total_paid - fee)
    if tailnets.tailnets[session.tailnet_id].owner != session.exit:
        operators.endpoints[session.exit].reputation += total_paid
    governance.treasury += fee
    tailnets.tailnets[session.tailnet_id].treasury += refund
    log SessionSettled(
        session_id=session_id,
        exit=session.exit,
        bytes_used=bytes_used,
        total_paid=total_paid,
        protocol_fee=fee,
        refund=refund,
        treasury=tailnets.tailnets[session.tailnet_id].treasury,
        reputation=operators.endpoints[session.exit].reputation,
        program_treasury=governance.treasury,
    )


@internal
def _refund(session_id: uint256, session: Session, reason: String[32]):
    self.sessions[session_id].status = STATUS_REFUNDED
    tailnets.tailnets[session.tailnet_id].treasury += session.deposit
    log SessionRefunded(
        session_id=session_id, reason=reason, treasury=tailnets.tailnets[session.tailnet_id].treasury
    )
