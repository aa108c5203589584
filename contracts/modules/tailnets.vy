# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title Tailnets: member groups with a shared treasury, exits, ACL and invites;
       and the device registry
@notice The owner creates a tailnet with a deposit, adds members directly or
        through pre-auth invites, chooses which exits members may use, and
        publishes the tailnet's ACL policy (the document travels in the event,
        so every device that reads the chain has it; the contract keeps its
        keccak-256). Members grant tags to the tailnet's devices (the policy's
        `tagOwners` decide, where devices read it, which grants hold). Any
        wallet may top up the treasury; only the owner withdraws from it.
@dev Invites: the owner registers the address of a fresh one-time key; the
     invitee receives that key off chain and signs `Join(tailnetId, member)`
     naming its own wallet. A copy of the transaction from the mempool names
     the wrong member, so it cannot be front-run (the seed's hash preimage
     could). An invite admits a given wallet once: a removed member cannot
     rejoin with its old signature.
     Devices: a key binds to a wallet only with its own EIP-712 signature over
     `Device(wallet)`. A member's wallet is never a live device key, nor the
     reverse: each key on a tailnet's roster is one or the other, once. A
     wallet has at most `MAX_DEVICES_PER_WALLET` live device keys, which
     bounds what one member can put in front of the tailnet. A revoked device key is retired for ever; receipts it
     signed for sessions opened before its revocation stay valid (the exit
     served them), and the tailnet owner can close those sessions early.
     The deposit that creates a tailnet stays in its treasury for
     `TAILNET_RESERVE_LOCK` seconds, so creating tailnets costs something.
"""

from . import eip712
from . import governance
from . import operators
from . import payments

uses: eip712
uses: governance
uses: operators
uses: payments

struct Tailnet:
    owner: address
    treasury: uint256
    member_count: uint256
    acl_policy: bytes32
    created_at: uint256
    exit_count: uint256
    # @dev The creation deposit: withdrawals leave at least this much until
    #      `created_at + TAILNET_RESERVE_LOCK`.
    reserve: uint256

struct JoinToken:
    expires_at: uint256
    uses_left: uint256
    # @dev Set once; a revoked or used-up key is never accepted again.
    committed: bool

struct Device:
    wallet: address
    # @dev 0 while live; once revoked the key never binds again.
    revoked_at: uint256

JOIN_TYPEHASH: constant(bytes32) = keccak256("Join(uint256 tailnetId,address member)")
DEVICE_TYPEHASH: constant(bytes32) = keccak256("Device(address wallet)")
TAILNET_RESERVE_LOCK: constant(uint256) = 30 * 86_400
MAX_DEVICES_PER_WALLET: constant(uint256) = 64
# @dev A policy document's largest size: a few hundred rules. Its bytes cost
#      calldata and log gas once per change (see the README's gas table).
MAX_POLICY_BYTES: constant(uint256) = 16_384
MAX_TAGS: constant(uint256) = 16
# @dev "tag:" and a name of at most 63 characters.
MAX_TAG_LENGTH: constant(uint256) = 67

tailnet_count: uint256
tailnets: HashMap[uint256, Tailnet]
members: HashMap[uint256, HashMap[address, bool]]
tailnet_exits: HashMap[uint256, HashMap[address, bool]]
join_tokens: HashMap[uint256, HashMap[address, JoinToken]]
# @dev keccak256(tailnet id, invite key, member) of every redemption.
joins_redeemed: HashMap[bytes32, bool]
devices: HashMap[address, Device]
# @dev How many tailnets each wallet is a member of (a member is never a device key).
memberships: HashMap[address, uint256]
# @dev How many live device keys act for each wallet.
live_devices: HashMap[address, uint256]

event TailnetCreated:
    tailnet_id: indexed(uint256)
    owner: indexed(address)
    acl_policy: bytes32
    deposit: uint256

event TailnetMemberAdded:
    tailnet_id: indexed(uint256)
    member: indexed(address)

event TailnetMemberRemoved:
    tailnet_id: indexed(uint256)
    member: indexed(address)

event TailnetDeposit:
    tailnet_id: indexed(uint256)
    sender: indexed(address)
    amount: uint256
    new_treasury: uint256

event TailnetWithdrawal:
    tailnet_id: indexed(uint256)
    to: indexed(address)
    amount: uint256
    new_treasury: uint256

event TailnetExitConfigured:
    tailnet_id: indexed(uint256)
    exit_addr: indexed(address)

event TailnetExitRemoved:
    tailnet_id: indexed(uint256)
    exit_addr: indexed(address)

event TailnetAclUpdated:
    tailnet_id: indexed(uint256)
    acl_policy: bytes32
    document: Bytes[MAX_POLICY_BYTES]

event JoinTokenPrecommitted:
    tailnet_id: indexed(uint256)
    invite_key: indexed(address)
    expires_at: uint256
    max_uses: uint256

event JoinTokenRedeemed:
    tailnet_id: indexed(uint256)
    member: indexed(address)
    invite_key: indexed(address)

event JoinTokenRevoked:
    tailnet_id: indexed(uint256)
    invite_key: indexed(address)

event DeviceRegistered:
    wallet: indexed(address)
    device: indexed(address)

event DeviceRevoked:
    wallet: indexed(address)
    device: indexed(address)

event DeviceTagsSet:
    tailnet_id: indexed(uint256)
    device: indexed(address)
    by: indexed(address)
    tags: DynArray[String[MAX_TAG_LENGTH], MAX_TAGS]


# ------------------------------------------------------------- tailnets

@external
@payable
def create_tailnet(acl_document: Bytes[MAX_POLICY_BYTES], amount: uint256) -> uint256:
    """
    @notice Create a tailnet owned by the caller, funded with `amount`. The
            caller becomes its first member.
    @param acl_document The tailnet's ACL policy document (HuJSON), carried
           in the `TailnetAclUpdated` event; the contract keeps its hash.
    @param amount The deposit, at least the minimum tailnet deposit.
    @return The new tailnet's id.
    """
    governance._check_not_paused()
    assert amount >= governance._min_tailnet_deposit(), "tailnet deposit below min"
    assert len(acl_document) != 0, "acl policy required"
    payments._pull(msg.sender, amount, msg.value)
    tailnet_id: uint256 = self.tailnet_count
    self.tailnet_count = tailnet_id + 1
    acl_policy: bytes32 = keccak256(acl_document)
    self.tailnets[tailnet_id] = Tailnet(
        owner=msg.sender,
        treasury=amount,
        member_count=0,
        acl_policy=acl_policy,
        created_at=block.timestamp,
        exit_count=0,
        reserve=governance._min_tailnet_deposit(),
    )
    log TailnetCreated(tailnet_id=tailnet_id, owner=msg.sender, acl_policy=acl_policy, deposit=amount)
    log TailnetAclUpdated(tailnet_id=tailnet_id, acl_policy=acl_policy, document=acl_document)
    self._add_member(tailnet_id, msg.sender)
    return tailnet_id


@external
def add_member(tailnet_id: uint256, member: address):
    """
    @notice Add `member` to the tailnet (owner only).
    @param tailnet_id The tailnet.
    @param member The wallet to add.
    """
    governance._check_not_paused()
    self._check_tailnet_owner(tailnet_id)
    assert member != empty(address), "member is the empty address"
    self._add_member(tailnet_id, member)


@external
def remove_member(tailnet_id: uint256, member: address):
    """
    @notice Remove `member` (owner only; the owner cannot be removed).
    @param tailnet_id The tailnet.
    @param member The wallet to remove.
    """
    governance._check_not_paused()
    self._check_tailnet_owner(tailnet_id)
    assert member != self.tailnets[tailnet_id].owner, "cannot remove owner"
    assert self.members[tailnet_id][member], "not member"
    self.members[tailnet_id][member] = False
    self.tailnets[tailnet_id].member_count -= 1
    self.memberships[member] -= 1
    log TailnetMemberRemoved(tailnet_id=tailnet_id, member=member)


@external
@payable
def deposit_to_tailnet(tailnet_id: uint256, amount: uint256):
    """
    @notice Add `amount` to the tailnet's treasury (anyone may).
    @param tailnet_id The tailnet.
    @param amount Base units of the asset.
    """
    governance._check_not_paused()
    self._check_tailnet_exists(tailnet_id)
    payments._pull(msg.sender, amount, msg.value)
    self.tailnets[tailnet_id].treasury += amount
    log TailnetDeposit(
        tailnet_id=tailnet_id, sender=msg.sender, amount=amount, new_treasury=self.tailnets[tailnet_id].treasury
    )


@external
def withdraw_from_tailnet(tailnet_id: uint256, to: address, amount: uint256):
    """
    @notice Pay `amount` of the treasury's unlocked funds to `to` (owner
            only; also while paused). Deposits locked in open sessions are
            not available, nor the creation deposit in the first 30 days.
    @param tailnet_id The tailnet.
    @param to Who receives the payment.
    @param amount Base units of the asset, at most what is unlocked.
    """
    self._check_tailnet_owner(tailnet_id)
    governance._check_amount(amount)
    self._check_spendable(tailnet_id, amount)
    self.tailnets[tailnet_id].treasury -= amount
    payments._push(to, amount)
    log TailnetWithdrawal(
        tailnet_id=tailnet_id, to=to, amount=amount, new_treasury=self.tailnets[tailnet_id].treasury
    )


@external
def configure_tailnet_exit(tailnet_id: uint256, exit_addr: address):
    """
    @notice Allow members to open sessions through `exit_addr` (owner only).
    @param tailnet_id The tailnet.
    @param exit_addr An active exit's operator address.
    """
    governance._check_not_paused()
    self._check_tailnet_owner(tailnet_id)
    assert operators._is_registered(exit_addr), "exit not registered"
    operators._check_active(exit_addr)
    assert not self.tailnet_exits[tailnet_id][exit_addr], "already configured"
    self.tailnet_exits[tailnet_id][exit_addr] = True
    self.tailnets[tailnet_id].exit_count += 1
    log TailnetExitConfigured(tailnet_id=tailnet_id, exit_addr=exit_addr)


@external
def remove_tailnet_exit(tailnet_id: uint256, exit_addr: address):
    """
    @notice Stop members opening new sessions through `exit_addr` (owner
            only). Open sessions are unaffected.
    @param tailnet_id The tailnet.
    @param exit_addr The exit's operator address.
    """
    governance._check_not_paused()
    self._check_tailnet_owner(tailnet_id)
    self._check_exit_configured(tailnet_id, exit_addr)
    self.tailnet_exits[tailnet_id][exit_addr] = False
    self.tailnets[tailnet_id].exit_count -= 1
    log TailnetExitRemoved(tailnet_id=tailnet_id, exit_addr=exit_addr)


@external
def update_acl(tailnet_id: uint256, acl_document: Bytes[MAX_POLICY_BYTES]):
    """
    @notice Publish a new ACL policy document (owner only). Devices read it
            from the `TailnetAclUpdated` event, so no server can withhold it.
    @param tailnet_id The tailnet.
    @param acl_document The policy document (HuJSON) now in force.
    """
    governance._check_not_paused()
    self._check_tailnet_owner(tailnet_id)
    assert len(acl_document) != 0, "acl required"
    acl_policy: bytes32 = keccak256(acl_document)
    self.tailnets[tailnet_id].acl_policy = acl_policy
    log TailnetAclUpdated(tailnet_id=tailnet_id, acl_policy=acl_policy, document=acl_document)


@external
def set_device_tags(tailnet_id: uint256, device: address, tags: DynArray[String[MAX_TAG_LENGTH], MAX_TAGS]):
    """
    @notice Give `device` exactly `tags` in the tailnet (an empty list takes
            them away). Any member may ask; devices apply it only when the
            caller may apply every tag it adds or removes under the policy in
            force (its `tagOwners`), as Tailscale's control plane does. A
            device key is never a member, so a device cannot tag or untag
            itself.
    @param tailnet_id The tailnet.
    @param device A member's wallet acting as its own device, or a live
           device key of a member.
    @param tags The tags, each `tag:NAME`.
    """
    governance._check_not_paused()
    self._check_tailnet_exists(tailnet_id)
    assert self.members[tailnet_id][msg.sender], "only a member grants tags"
    assert self._acts_for_member(tailnet_id, device), "device is not on the tailnet's roster"
    log DeviceTagsSet(tailnet_id=tailnet_id, device=device, by=msg.sender, tags=tags)


# -------------------------------------------------------------- invites

@external
def precommit_join_token(tailnet_id: uint256, invite_key: address, expires_at: uint256, max_uses: uint256):
    """
    @notice Create a pre-auth invite (owner only): whoever holds the private
            key of `invite_key` can admit up to `max_uses` wallets before
            `expires_at` (seconds).
    @param tailnet_id The tailnet.
    @param invite_key The address of the invite's public key.
    @param expires_at Seconds since the epoch, in the future.
    @param max_uses How many wallets it can admit (at least one).
    """
    governance._check_not_paused()
    self._check_tailnet_owner(tailnet_id)
    assert invite_key != empty(address), "invite key required"
    assert expires_at > block.timestamp, "invite already expired"
    assert max_uses > 0, "max uses > 0"
    assert not self.join_tokens[tailnet_id][invite_key].committed, "already committed"
    self.join_tokens[tailnet_id][invite_key] = JoinToken(expires_at=expires_at, uses_left=max_uses, committed=True)
    log JoinTokenPrecommitted(tailnet_id=tailnet_id, invite_key=invite_key, expires_at=expires_at, max_uses=max_uses)


@external
def redeem_join_token(tailnet_id: uint256, invite_key: address, signature: Bytes[65]):
    """
    @notice Join the tailnet as the caller, with the invite key's EIP-712
            signature over `Join(tailnetId, member=caller)`.
    @param tailnet_id The tailnet.
    @param invite_key The address of the invite's public key.
    @param signature The invite key's signature (65 bytes: r, s, v).
    """
    governance._check_not_paused()
    self._check_tailnet_exists(tailnet_id)
    token: JoinToken = self.join_tokens[tailnet_id][invite_key]
    assert token.committed, "unknown token"
    assert token.uses_left > 0, "token used up or revoked"
    assert block.timestamp < token.expires_at, "token expired"
    struct_hash: bytes32 = keccak256(abi_encode(JOIN_TYPEHASH, tailnet_id, msg.sender))
    assert eip712._recover(struct_hash, signature) == invite_key, "join signature is not from the invite key"
    redemption: bytes32 = keccak256(abi_encode(tailnet_id, invite_key, msg.sender))
    assert not self.joins_redeemed[redemption], "this invite already admitted this wallet once"
    self.joins_redeemed[redemption] = True
    self.join_tokens[tailnet_id][invite_key].uses_left = token.uses_left - 1
    self._add_member(tailnet_id, msg.sender)
    log JoinTokenRedeemed(tailnet_id=tailnet_id, member=msg.sender, invite_key=invite_key)


@external
def revoke_join_token(tailnet_id: uint256, invite_key: address):
    """
    @notice Invalidate an invite before it expires (owner only).
    @param tailnet_id The tailnet.
    @param invite_key The address of the invite's public key.
    """
    governance._check_not_paused()
    self._check_tailnet_owner(tailnet_id)
    assert self.join_tokens[tailnet_id][invite_key].uses_left > 0, "no live token"
    self.join_tokens[tailnet_id][invite_key].uses_left = 0
    log JoinTokenRevoked(tailnet_id=tailnet_id, invite_key=invite_key)


# -------------------------------------------------------------- devices

@external
def register_device(device: address, signature: Bytes[65]):
    """
    @notice Let the key `device` act for the caller: it may open sessions in
            the caller's tailnets and sign requests and receipts for them.
    @param signature The device key's EIP-712 signature over
           `Device(wallet=caller)`.
    @param device The device key's address (never registered before).
    """
    governance._check_not_paused()
    assert device != empty(address) and device != msg.sender, "device must be another, non-empty address"
    existing: Device = self.devices[device]
    assert existing.revoked_at == 0, "device key was revoked: make a new key"
    assert existing.wallet == empty(address) or existing.wallet == msg.sender, "device attached to another wallet"
    struct_hash: bytes32 = keccak256(abi_encode(DEVICE_TYPEHASH, msg.sender))
    assert eip712._recover(struct_hash, signature) == device, "device key did not sign the binding"
    if existing.wallet == msg.sender:
        return
    assert self.memberships[device] == 0, "a member's wallet cannot be a device key"
    assert self.live_devices[msg.sender] < MAX_DEVICES_PER_WALLET, "wallet has 64 live devices: revoke one first"
    self.live_devices[msg.sender] += 1
    self.devices[device] = Device(wallet=msg.sender, revoked_at=0)
    log DeviceRegistered(wallet=msg.sender, device=device)


@external
def revoke_device(device: address):
    """
    @notice Detach `device` from the caller's wallet, for ever. Sessions it
            opened stay open until settled or closed by the tailnet owner.
    @param device A device key of the caller's.
    """
    governance._check_not_paused()
    assert self._device_wallet(device) == msg.sender, "not device owner"
    self.devices[device].revoked_at = block.timestamp
    self.live_devices[msg.sender] -= 1
    log DeviceRevoked(wallet=msg.sender, device=device)


# ---------------------------------------------------------------- views

@external
@view
def get_tailnet(tailnet_id: uint256) -> Tailnet:
    """
    @notice The tailnet record (reverts for an unknown id).
    @param tailnet_id The tailnet.
    @return Its owner, treasury, counts, policy hash and creation time.
    """
    self._check_tailnet_exists(tailnet_id)
    return self.tailnets[tailnet_id]


@external
@view
def tailnet_count_view() -> uint256:
    """
    @notice How many tailnets exist; ids are 0 .. count - 1.
    @return The number of tailnets ever created.
    """
    return self.tailnet_count


@external
@view
def is_tailnet_member(tailnet_id: uint256, addr: address) -> bool:
    """
    @notice Whether `addr` is a member of the tailnet.
    @param tailnet_id The tailnet.
    @param addr A wallet.
    @return True if it is a member.
    """
    return self.members[tailnet_id][addr]


@external
@view
def is_tailnet_exit(tailnet_id: uint256, addr: address) -> bool:
    """
    @notice Whether members may open sessions through `addr`.
    @param tailnet_id The tailnet.
    @param addr An exit's operator address.
    @return True if the tailnet allows it.
    """
    return self.tailnet_exits[tailnet_id][addr]


@external
@view
def get_join_token(tailnet_id: uint256, invite_key: address) -> JoinToken:
    """
    @notice The invite registered under `invite_key`.
    @param tailnet_id The tailnet.
    @param invite_key The address of the invite's public key.
    @return Its expiry, uses left and whether it was revoked.
    """
    return self.join_tokens[tailnet_id][invite_key]


@external
@view
def get_device_owner(device: address) -> address:
    """
    @notice The wallet `device` acts for (empty if none or revoked).
    @param device The device key's address.
    @return The member wallet (empty if none or revoked).
    """
    return self._device_wallet(device)


@external
@view
def get_device(device: address) -> Device:
    """
    @notice The device record: its wallet and when it was revoked (0: live).
    @param device The device key's address.
    @return Its wallet and revocation time.
    """
    return self.devices[device]


@external
@view
def is_device_of(device: address, wallet: address) -> bool:
    """
    @notice Whether `device` acts for `wallet`.
    @param device The device key's address.
    @param wallet A wallet.
    @return True if the device acts for that wallet now.
    """
    return wallet != empty(address) and self._device_wallet(device) == wallet


# ------------------------------------------------------------- internal

@internal
@view
def _check_tailnet_exists(tailnet_id: uint256):
    assert tailnet_id < self.tailnet_count, "tailnet not found"


@internal
@view
def _check_spendable(tailnet_id: uint256, amount: uint256):
    """
    @dev The treasury covers `amount` without the creation deposit while it
         is locked: neither a withdrawal nor a session (paid, say, to the
         owner's own exit) takes it out early.
    """
    treasury: uint256 = self.tailnets[tailnet_id].treasury
    governance._check_covers(treasury, amount)
    assert (
        treasury - amount >= self.tailnets[tailnet_id].reserve
        or block.timestamp >= self.tailnets[tailnet_id].created_at + TAILNET_RESERVE_LOCK
    ), "the creation deposit stays for 30 days"


@internal
@view
def _check_tailnet_owner(tailnet_id: uint256):
    self._check_tailnet_exists(tailnet_id)
    assert self.tailnets[tailnet_id].owner == msg.sender, "not tailnet owner"


@internal
@view
def _check_exit_configured(tailnet_id: uint256, exit_addr: address):
    assert self.tailnet_exits[tailnet_id][exit_addr], "exit not configured"


@internal
@view
def _device_wallet(device: address) -> address:
    record: Device = self.devices[device]
    if record.revoked_at != 0:
        return empty(address)
    return record.wallet


@internal
@view
def _acts_for_member(tailnet_id: uint256, who: address) -> bool:
    return self.members[tailnet_id][who] or self.members[tailnet_id][self._device_wallet(who)]


@internal
def _add_member(tailnet_id: uint256, member: address):
    assert not self.members[tailnet_id][member], "already member"
    assert self._device_wallet(member) == empty(address), "a live device key cannot be a member: revoke it first"
    self.members[tailnet_id][member] = True
    self.tailnets[tailnet_id].member_count += 1
    self.memberships[member] += 1
    log TailnetMemberAdded(tailnet_id=tailnet_id, member=member)

