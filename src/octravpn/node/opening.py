"""Taking a device whose session is still being opened: its `open_session` transaction is signed and sent, not
yet mined. On a real chain that is a block (2 s on a typical L2, 12 s on Ethereum) that a new session would
otherwise wait before its first byte.

The device shows the exit the signed transaction (`exitwire.OpeningAsk`). The exit takes it only if the
transaction is what it claims to be and would succeed now:
- it calls this contract's `open_session` on this chain, for this exit, with no value;
- its sender signed the join too, and the session id the join names is the one its salt makes (so the receipts
  the device signs from the first byte are for the session the chain will hold);
- nothing of its sender is missing before it (each earlier transaction is mined or waiting in the node's mempool:
  say, the open of the session the device ended a moment ago), and it pays at least the latest base fee;
- run on the latest state it succeeds (a member or device of a tailnet that allows the exit, a deposit the
  treasury can pay, the exit's price at most the one accepted);
then sends it itself, so the device cannot keep it back. Until the open is mined the exit serves at most its
opening budget (`NodeSettings.opening_budget`; more waits for the block: the peer stays, with no address to
carry: `PeerSet.held`). What the exit risks is that budget: the sender can still replace the transaction (same
nonce, higher fee) or have it revert, at the cost of that transaction's fee; the exit then stops serving the
session (its record stays, so the id is never served again) and takes no openings from that sender for
`REFUSAL_SECONDS`.

`decode_open` and `check_open` decide from the transaction alone (no I/O); `OpeningChecks` asks the chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import rlp
from eth_abi.exceptions import DecodingError
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3.contract import Contract

from octravpn.chain.errors import ChainError, ContractRevert, RpcUnreachable
from octravpn.protocol.eip712 import Domain
from octravpn.protocol.handshake import HandshakeRefused
from octravpn.protocol.sessions import session_id_for

REFUSAL_SECONDS = 3600.0  # how long a sender whose opening never landed is refused another
EIP1559 = 2


@dataclass(frozen=True)
class OpenTransaction:
    """A signed `open_session` transaction as the exit read it."""

    tx_hash: str
    sender: str
    nonce: int
    chain_id: int
    max_fee: int  # maxFeePerGas (gasPrice for a legacy transaction)
    call: dict  # from, to, data, value: what `eth_call` runs
    tailnet_id: int
    exit: str
    deposit: int
    max_price_per_mb: int
    salt: int

    @property
    def session_id(self) -> int:
        return session_id_for(self.sender, self.salt)


def _refuse(reason: str, status: int = 400) -> HandshakeRefused:
    return HandshakeRefused(status, f"the open transaction {reason}")


def decode_open(raw: bytes, contract: Contract) -> OpenTransaction:
    """The transaction's fields and its `open_session` arguments, or a 400 saying what it is not."""
    try:
        if raw[:1] == bytes([EIP1559]):
            fields = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
            chain_id, max_fee = fields["chainId"], fields["maxFeePerGas"]
        elif raw[:1] and raw[0] >= 0xC0:  # a legacy transaction: an RLP list; EIP-155 puts the chain in v
            nonce, gas_price, _, to, value, data, v, _, _ = rlp.decode(raw)
            fields = {"nonce": int.from_bytes(nonce, "big"), "to": to, "value": int.from_bytes(value, "big")}
            fields["data"] = data
            v_number = int.from_bytes(v, "big")
            if v_number < 35:
                raise _refuse("carries no chain id (EIP-155): sign it for this chain")
            chain_id, max_fee = (v_number - 35) // 2, int.from_bytes(gas_price, "big")
        else:
            raise _refuse("is neither an EIP-1559 nor a legacy transaction")
        sender = Account.recover_transaction(raw)
    except HandshakeRefused:
        raise
    except Exception as exc:  # whatever a hostile byte string makes the decoders raise
        raise _refuse(f"cannot be decoded: {exc}") from None
    to = fields.get("to")
    if not to or to_checksum_address(bytes(to)) != contract.address:
        raise _refuse(f"is not a call of the contract {contract.address}")
    try:
        function, args = contract.decode_function_input(bytes(fields["data"]))
    except (ValueError, DecodingError) as exc:  # an unknown selector; arguments cut short or padded with junk
        raise _refuse(f"is not a call of open_session: {exc}") from None
    if function.fn_name != "open_session":
        raise _refuse(f"calls {function.fn_name}, not open_session")
    return OpenTransaction(
        tx_hash="0x" + keccak(raw).hex(),
        sender=to_checksum_address(sender),
        nonce=fields["nonce"],
        chain_id=chain_id,
        max_fee=max_fee,
        call={
            "from": to_checksum_address(sender),
            "to": contract.address,
            "data": "0x" + bytes(fields["data"]).hex(),
            "value": fields["value"],
        },
        tailnet_id=args["tailnet_id"],
        exit=to_checksum_address(args["exit_addr"]),
        deposit=args["max_pay"],
        max_price_per_mb=args["max_price_per_mb"],
        salt=args["salt"],
    )


def check_open(opening: OpenTransaction, *, domain: Domain, session_id: int, signer: str, this_exit: str) -> None:
    """What the transaction must be for the join that shows it (signed by `signer`, for `session_id`)."""
    if opening.chain_id != domain.chain_id:
        raise _refuse(f"is for chain {opening.chain_id}; this exit serves chain {domain.chain_id}")
    if opening.exit != to_checksum_address(this_exit):
        raise _refuse(f"opens a session through {opening.exit}, not this exit", 403)
    if opening.call["value"]:
        raise _refuse("sends value: open_session takes none (the deposit comes from the tailnet's treasury)")
    if opening.session_id != session_id:
        raise _refuse(f"opens session {opening.session_id}, not session {session_id} as the join says")
    if signer != opening.sender:
        raise _refuse("was signed by another key than the join: a session being opened is joined by its opener", 403)


class OpeningChain(Protocol):
    """What the exit asks the chain about an opening (`ChainClient` has these)."""

    def nonces(self, address: str) -> tuple[int, int]: ...
    def base_fee(self) -> int | None: ...
    def simulate(self, call: dict) -> None: ...
    def send_raw(self, raw: bytes) -> None: ...


def check_on_chain(opening: OpenTransaction, raw: bytes, chain: OpeningChain) -> None:
    """That the transaction would be mined next and succeed now, then send it (409 if not: the device waits for
    its block and joins as usual)."""
    mined, pending = chain.nonces(opening.sender)
    if opening.nonce < mined:
        raise _refuse(f"has nonce {opening.nonce}, and its sender's {mined} is next: it was mined or replaced", 409)
    if opening.nonce > pending:
        raise _refuse(
            f"has nonce {opening.nonce}, and its sender has nothing waiting from {pending} on: it would wait for a "
            "transaction nobody sent",
            409,
        )
    base_fee = chain.base_fee()
    if base_fee is not None and opening.max_fee < base_fee:
        raise _refuse(f"pays at most {opening.max_fee} per gas, below the base fee ({base_fee})", 409)
    try:
        chain.simulate(opening.call)
    except ContractRevert as exc:
        raise _refuse(f"would fail: {exc.reason}", 409) from None
    try:
        chain.send_raw(raw)
    except RpcUnreachable:
        raise
    except ChainError as exc:  # the node refused it (mined meanwhile, replaced): the device waits for its block
        raise _refuse(f"was refused by the exit's node: {exc}", 409) from None


def never_landed(outcome: str, reason: str | None, *, age: float, wait: float) -> str | None:
    """Why an opening the exit took never landed, from what became of its transaction (`TxOutcome.state`:
    mined, reverted, pending, unknown) and how long ago it was taken; None while it may yet land (or has:
    its `SessionOpened` event is on its way)."""
    if outcome == "reverted":
        return f"its open transaction failed ({reason})"
    if outcome != "mined" and age >= wait:
        return f"its open transaction was not mined in {wait:.0f}s"
    return None
