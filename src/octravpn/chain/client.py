"""A typed client for a deployed OctraVPN contract.

`connect` checks the node is reachable, serves the expected chain, and has
the contract; `OctraVPN` wraps every external function with typed arguments
and results, moves money in the deployment's asset (native value, or an
ERC-20 approval first), and decodes events with their block and tx hash.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from eth_abi.exceptions import DecodingError, EncodingError
from eth_account.signers.local import LocalAccount
from eth_typing import URI
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import RequestException, Timeout
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.exceptions import (
    BadFunctionCallOutput,
    ContractLogicError,
    MismatchedABI,
    TransactionNotFound,
    Web3RPCError,
    Web3ValidationError,
)
from web3.types import RPCEndpoint

from octravpn.chain.artifacts import load as load_artifact
from octravpn.chain.errors import (
    ChainError,
    ContractNotDeployed,
    ContractRevert,
    RpcUnreachable,
    WrongChain,
    revert_reason,
)
from octravpn.chain.events import EventDecoder
from octravpn.chain.records import (
    UNLISTED,
    ClaimRecord,
    Device,
    Endpoint,
    Exit,
    JoinToken,
    Listing,
    Params,
    Session,
    Settlement,
    SlashRecord,
    Tailnet,
    Views,
)
from octravpn.chain.sessionlog import fold
from octravpn.chain.transactions import Sent, Signed, TransactionManager, already_sent, replay_reason
from octravpn.config import Network
from octravpn.errors import UsageError, WalletError
from octravpn.names import MAX_TAGS  # the contract's MAX_TAGS
from octravpn.protocol import Device as DeviceConsent
from octravpn.protocol import Domain, ReceiptSigner, sign
from octravpn.protocol.sessions import MAX_BATCH, new_salt, session_id_for
from octravpn.units import NATIVE_DECIMALS, NATIVE_SYMBOL

NATIVE = "0x0000000000000000000000000000000000000000"
MAX_POLICY_BYTES = 16_384  # the contract's MAX_POLICY_BYTES
SLASH_REVEAL_GAS = 400_000  # well above what a reveal costs (see the README's gas table)
GOV_DELAY = 2 * 86_400  # seconds between announcing a parameter change or governance slash and executing it
ERC20_ABI = [
    {"type": "function", "name": name, "stateMutability": mutability, "inputs": inputs, "outputs": outputs}
    for name, mutability, inputs, outputs in [
        (
            "approve",
            "nonpayable",
            [{"name": "s", "type": "address"}, {"name": "a", "type": "uint256"}],
            [{"name": "", "type": "bool"}],
        ),
        (
            "allowance",
            "view",
            [{"name": "o", "type": "address"}, {"name": "s", "type": "address"}],
            [{"name": "", "type": "uint256"}],
        ),
        ("balanceOf", "view", [{"name": "o", "type": "address"}], [{"name": "", "type": "uint256"}]),
        ("decimals", "view", [], [{"name": "", "type": "uint8"}]),
        ("symbol", "view", [], [{"name": "", "type": "string"}]),
    ]
]


def _policy_document(document: bytes) -> bytes:
    """The contract takes a policy of at most MAX_POLICY_BYTES (its ABI decoder refuses more, with no reason)."""
    if len(document) > MAX_POLICY_BYTES:
        raise UsageError(
            f"the policy is {len(document):,} bytes; the contract takes at most {MAX_POLICY_BYTES:,}: "
            "shorten it (comments and blank lines count)"
        )
    return document


# A record of the right shape for checking other arguments against the ABI.
NO_SESSION = (0, "0x" + "00" * 20, "0x" + "00" * 20, 0, 0, 0, 0, 0, 0, 0, 0)


@dataclass(frozen=True)
class ChainEvent:
    name: str
    args: dict
    block_number: int
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class TxResult:
    tx_hash: str
    block_number: int
    gas_used: int
    events: list[ChainEvent]

    def event(self, name: str) -> ChainEvent:
        matches = [e for e in self.events if e.name == name]
        if len(matches) != 1:
            raise ChainError(f"expected one {name} event in {self.tx_hash}, found {len(matches)}")
        return matches[0]


@dataclass(frozen=True)
class TxOutcome:
    state: str  # mined, reverted, pending or unknown
    function: str = "transaction"
    block: int | None = None
    gas_used: int | None = None
    reason: str | None = None
    events: list[ChainEvent] = field(default_factory=list)


class FallbackHTTPProvider(HTTPProvider):
    """Several RPC URLs of one chain, used in turn: a request that cannot reach one goes to the next, which
    then stays current, so a dead node costs one failed request rather than one per request."""

    def __init__(self, urls: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(urls[0], **kwargs)
        self.urls = tuple(urls)
        self._current = 0

    def _make_request(self, method: RPCEndpoint, request_data: bytes) -> bytes:
        for _ in range(len(self.urls) - 1):
            try:
                return super()._make_request(method, request_data)
            except (RequestsConnectionError, Timeout):
                self._current = (self._current + 1) % len(self.urls)
                self.endpoint_uri = URI(self.urls[self._current])
        return super()._make_request(method, request_data)


def connect(network: Network, *, require_contract: bool = True, timeout: float = 30.0, retries: bool = True) -> Web3:
    """A Web3 for `network`, after checking reachability, chain id and contract.
    `timeout`: seconds one RPC request may take. `retries`: web3 retries a failed read five times, which
    makes a dead node look like a slow one; long-running agents retry in their own loops instead."""
    w3 = Web3(
        FallbackHTTPProvider(
            network.rpc_urls,
            request_kwargs={"timeout": timeout},
            **({} if retries else {"exception_retry_configuration": None}),
        )
    )
    try:
        chain_id = w3.eth.chain_id
    except (RequestsConnectionError, OSError) as exc:
        raise RpcUnreachable(network.rpc_url, "connection refused") from exc
    if chain_id != network.chain_id:
        raise WrongChain(network.name, network.rpc_url, network.chain_id, chain_id)
    if require_contract and (
        not network.contract or len(w3.eth.get_code(Web3.to_checksum_address(network.contract))) == 0
    ):
        raise ContractNotDeployed(network.name, network.contract)
    return w3


class OctraVPN:
    """The deployed contract; `sender` (a `TransactionManager`) signs transactions."""

    def __init__(self, w3: Web3, address: str, sender: TransactionManager | None = None) -> None:
        self.w3 = w3
        abi = load_artifact().abi
        self.contract: Contract = w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)
        self.sender = sender
        self.address = self.contract.address
        self._decoder = EventDecoder(abi)
        self.views = Views(abi)
        self._asset: str | None = None

    # ---------------------------------------------------------- plumbing
    def _function(self, name: str, *args):
        """The contract call `name(*args)`; arguments the ABI cannot encode (a number above uint256, a negative
        one) are bad input, refused before anything is sent."""
        try:
            return getattr(self.contract.functions, name)(*args)
        except (MismatchedABI, Web3ValidationError) as exc:
            shown = ", ".join(str(arg) if not isinstance(arg, bytes) else "0x" + arg.hex() for arg in args)
            raise UsageError(
                f"{name}({shown}): an argument does not fit the contract's types (numbers are "
                "whole, 0 or more, and below 2**256)"
            ) from exc

    def _view(self, name: str, *args, block: int | str = "latest") -> Any:
        """A view's answer, decoded from the ABI by field name (`chain.records`)."""
        try:
            data = self.views.call_data(name, *args)
        except (EncodingError, TypeError, ValueError) as exc:
            shown = ", ".join(str(arg) if not isinstance(arg, bytes) else "0x" + arg.hex() for arg in args)
            raise UsageError(f"{name}({shown}): an argument does not fit the contract's types") from exc
        try:
            raw = self._rpc(self.w3.eth.call, {"to": self.address, "data": "0x" + data.hex()}, block)
        except ContractLogicError as exc:
            raise ContractRevert(name, revert_reason(exc)) from exc
        return self.views.decode(name, bytes(raw))

    def _rpc(self, call, *args) -> Any:
        """Run one read; a node that refuses, times out or drops the connection is `RpcUnreachable`."""
        try:
            return call(*args)
        except RequestException as exc:
            if isinstance(exc, Timeout):  # the node, or the path to it, is stalled
                detail = "no answer within the RPC timeout"
            else:
                detail = "connection refused" if isinstance(exc, RequestsConnectionError) else type(exc).__name__
            raise RpcUnreachable(self.network_url, detail) from exc

    def signer(self, what: str = "this") -> TransactionManager:
        """The wallet that signs this client's transactions; `what` (which needs one) names the refusal."""
        if self.sender is None:
            raise WalletError(f"{what} needs a wallet to sign with: pass --wallet or set a default wallet")
        return self.sender

    @property
    def wallet(self) -> str:
        """The address of the wallet that signs (a `WalletError` if there is none)."""
        return self.signer().account.address

    def _send(self, name: str, *args, value: int = 0, gas: int | None = None) -> TxResult:
        return self._result(self.signer(name).send(self._function(name, *args), value=value, gas=gas))

    def _result(self, sent: Sent) -> TxResult:
        receipt = sent.receipt
        return TxResult(sent.tx_hash, receipt["blockNumber"], receipt["gasUsed"], self.decode_logs(receipt["logs"]))

    def _on_session(self, name: str, session_id: int, *args, gas: int | None = None) -> TxResult:
        """Send `name(session_id, record, *args)` with the session's record as the chain holds it, read once the
        other arguments are known to fit the ABI (a byte count beyond uint256 is refused before any read)."""
        self._function(name, session_id, NO_SESSION, *args)
        return self._send(name, session_id, self.session(session_id).as_argument(), *args, gas=gas)

    def _pay(self, name: str, *args, amount: int) -> TxResult:
        """Call a payable function whose last argument is `amount`."""
        if self.asset == NATIVE:
            return self._send(name, *args, amount, value=amount)
        sender = self.signer(name)
        token = self.token()
        previous = token.functions.allowance(sender.account.address, self.address).call()
        if previous >= amount:
            return self._send(name, *args, amount)
        sender.send(token.functions.approve(self.address, amount))
        try:
            return self._send(name, *args, amount)
        except ChainError:
            # Leave nothing half-applied: put the allowance back as it was.
            sender.send(token.functions.approve(self.address, previous))
            raise

    def decode_logs(self, logs: list) -> list[ChainEvent]:
        decoded = []
        for log in logs:
            if log["address"] != self.address:
                continue
            event = self._decoder.decode(log)
            if event is not None:
                decoded.append(ChainEvent(event.name, event.args, event.block_number, event.tx_hash, event.log_index))
        return decoded

    def events(self, from_block: int = 0, to_block: int | str = "latest") -> list[ChainEvent]:
        """Every OctraVPN event in the block range, in chain order."""
        logs = self._rpc(self.w3.eth.get_logs, {"address": self.address, "fromBlock": from_block, "toBlock": to_block})
        return self.decode_logs(logs)

    def block_number(self) -> int:
        return self._rpc(lambda: self.w3.eth.block_number)

    def gas_price(self) -> int:
        """What the node says a unit of gas costs now, in wei."""
        return self._rpc(lambda: self.w3.eth.gas_price)

    @property
    def network_url(self) -> str:
        return getattr(self.w3.provider, "endpoint_uri", "the RPC")

    def transaction_outcome(self, tx_hash: str) -> TxOutcome:
        """What became of any transaction: mined, reverted (with its reason), pending, or unknown to the node."""
        try:
            tx = self._rpc(self.w3.eth.get_transaction, tx_hash)
        except TransactionNotFound:
            return TxOutcome("unknown")
        function = "transaction"
        if tx.get("to") == self.address:
            function = self._function_name(tx["input"])
        elif tx.get("to") is None:
            function = "contract creation"
        if tx.get("blockNumber") is None:
            return TxOutcome("pending", function=function)
        receipt = dict(self._rpc(self.w3.eth.get_transaction_receipt, tx_hash))
        if receipt["status"] != 1:
            return TxOutcome(
                "reverted",
                function=function,
                block=receipt["blockNumber"],
                gas_used=receipt["gasUsed"],
                reason=replay_reason(self.w3, dict(tx), receipt),
            )
        return TxOutcome(
            "mined",
            function=function,
            block=receipt["blockNumber"],
            gas_used=receipt["gasUsed"],
            events=self.decode_logs(receipt["logs"]),
        )

    def session_events(self, session_id: int, to_block: int | str = "latest") -> list[ChainEvent]:
        """The events whose first indexed argument is this session id (opened, claimed, settled, refunded...)."""
        return self._events_about("session_id", session_id, to_block)

    def tailnet_events(self, tailnet_id: int) -> list[ChainEvent]:
        """The events whose first indexed argument is this tailnet id (members, exits, invites, deposits...)."""
        return self._events_about("tailnet_id", tailnet_id)

    def _events_about(self, argument: str, value: int, to_block: int | str = "latest") -> list[ChainEvent]:
        topic = "0x" + value.to_bytes(32, "big").hex()
        logs = self._rpc(
            self.w3.eth.get_logs,
            {"address": self.address, "fromBlock": 0, "toBlock": to_block, "topics": [None, topic]},
        )
        return [e for e in self.decode_logs(logs) if e.args.get(argument) == value]

    # ------------------------------------------------------------ asset
    @property
    def asset(self) -> str:
        if self._asset is None:
            self._asset = self._view("asset")
        return self._asset

    def token(self) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(self.asset), abi=ERC20_ABI)

    def asset_decimals(self) -> int:
        return NATIVE_DECIMALS if self.asset == NATIVE else self._token_view("decimals")

    def asset_symbol(self) -> str:
        return NATIVE_SYMBOL if self.asset == NATIVE else self._token_view("symbol")

    def _token_view(self, name: str, *args) -> Any:
        try:
            return self._rpc(getattr(self.token().functions, name)(*args).call)
        except (ContractLogicError, BadFunctionCallOutput) as exc:
            raise ChainError(
                f"the contract's payment asset {self.asset} does not answer {name}() like an ERC-20 "
                f"token on {self.network_url}: is the network's contract address right?"
            ) from exc

    def asset_balance(self, address: str) -> int:
        if self.asset == NATIVE:
            return self.w3.eth.get_balance(Web3.to_checksum_address(address))
        return self._token_view("balanceOf", address)

    # ------------------------------------------------------------ views
    def owner(self) -> str:
        return self._view("owner")

    def paused(self) -> bool:
        return self._view("paused")

    def domain(self) -> Domain:
        """The EIP-712 domain every message for this deployment is signed in."""
        return Domain(chain_id=self._rpc(lambda: self.w3.eth.chain_id), verifying_contract=self.address)

    def params(self) -> Params:
        return self._view("get_params")

    def pending_params(self) -> tuple[Params, int]:
        return self._view("get_pending_params")

    def clock(self) -> int:
        return self._view("clock")

    def burned(self) -> int:
        return self._view("get_burned")

    def gov_slash_eta(self, addr: str) -> int:
        return self._view("get_gov_slash_eta", addr)

    def slash_record(self, addr: str) -> SlashRecord:
        return self._view("get_slash_record", addr)

    def program_treasury(self) -> int:
        return self._view("get_program_treasury")

    def endpoint(self, addr: str) -> Exit:
        """The exit of `addr` (never registered: `registered_at` 0, an empty listing): what the contract keeps,
        and its listing read from the events of the block the contract names, checked against the listing's
        hash. Both reads at one block."""
        block = self.block_number()
        kept: Endpoint = self._view("get_endpoint", addr, block=block)
        if kept.registered_at == 0:
            return Exit.of(kept, UNLISTED)
        topics = [[self._decoder.topic(name) for name in Listing.EVENTS], "0x" + addr[2:].lower().rjust(64, "0")]
        in_block = {"fromBlock": kept.listed_in_block, "toBlock": kept.listed_in_block}
        logs = self._rpc(self.w3.eth.get_logs, {"address": self.address, **in_block, "topics": topics})
        events = [
            e for e in self.decode_logs(logs) if e.name in Listing.EVENTS and e.args["addr"].lower() == addr.lower()
        ]
        listing = Listing.from_event(events[-1].args) if events else None
        if listing is None or listing.digest() != kept.listing_hash:
            raise ChainError(
                f"exit {addr}: the events of block {kept.listed_in_block} do not carry the listing the contract "
                "holds (the node left them out, or the chain reorganised between two reads): try again, or another "
                "RPC URL"
            )
        return Exit.of(kept, listing)

    def registered_exits(self) -> list[str]:
        """Every operator that ever registered an exit, in the order they first did (from the events)."""
        return list(dict.fromkeys(e.args["addr"] for e in self._every("EndpointRegistered")))

    def _every(self, name: str) -> list[ChainEvent]:
        """Every `name` event the contract ever emitted, in chain order."""
        topics = [self._decoder.topic(name)]
        logs = self._rpc(
            self.w3.eth.get_logs, {"address": self.address, "fromBlock": 0, "toBlock": "latest", "topics": topics}
        )
        return [e for e in self.decode_logs(logs) if e.name == name]

    def stake(self, addr: str) -> int:
        return self._view("get_endpoint_stake", addr)

    def unbonding(self, addr: str) -> int:
        return self._view("get_endpoint_unbonding", addr)

    def unlock_at(self, addr: str) -> int:
        return self._view("get_endpoint_unlock", addr)

    def is_slashed(self, addr: str) -> bool:
        return self._view("is_endpoint_slashed", addr)

    def is_active(self, addr: str) -> bool:
        return self._view("is_endpoint_active", addr)

    def earnings(self, addr: str) -> int:
        return self._view("get_earnings", addr)

    def receipt_signer_operator(self, signer: str) -> str:
        return self._view("get_receipt_signer_operator", signer)

    def tailnet(self, tailnet_id: int) -> Tailnet:
        return self._view("get_tailnet", tailnet_id)

    def tailnet_count(self) -> int:
        return self._view("tailnet_count_view")

    def is_member(self, tailnet_id: int, addr: str) -> bool:
        return self._view("is_tailnet_member", tailnet_id, addr)

    def is_exit(self, tailnet_id: int, addr: str) -> bool:
        return self._view("is_tailnet_exit", tailnet_id, addr)

    def join_token(self, tailnet_id: int, key: str) -> JoinToken:
        return self._view("get_join_token", tailnet_id, key)

    def device_owner(self, device: str) -> str:
        return self._view("get_device_owner", device)

    def is_device_of(self, device: str, wallet: str) -> bool:
        return self._view("is_device_of", device, wallet)

    def device(self, device: str) -> Device:
        return self._view("get_device", device)

    def is_receipt_signer(self, session_id: int, signer: str) -> bool:
        return self._view("is_receipt_signer", session_id, self.session(session_id).as_argument(), signer)

    def session(self, session_id: int) -> Session:
        """The session's record, read from its events and checked against the hash the contract keeps (a
        `ContractRevert` "session not found" for an unknown id)."""
        block = self.block_number()  # both reads at one block: a transaction mined between them is not a mismatch
        on_chain = self._view("get_session_hash", session_id, block=block)
        record = fold(session_id, self.session_events(session_id, to_block=block))
        if record is None or record.digest() != on_chain:
            raise ChainError(
                f"session {session_id}: its events do not add up to the record the contract holds (the node "
                "left some out, or the chain reorganised between two reads): try again, or another RPC URL"
            )
        return record

    def opened_sessions(self) -> list[int]:
        """Every session's id, in the order they were opened (from the events)."""
        return [e.args["session_id"] for e in self._every("SessionOpened")]

    def operator_claim(self, session_id: int) -> ClaimRecord:
        return self._view("get_operator_claim", session_id)

    def client_confirm(self, session_id: int) -> ClaimRecord:
        return self._view("get_client_confirm", session_id)

    # ----------------------------------------------------- transactions
    def bond_endpoint(self, amount: int) -> TxResult:
        return self._pay("bond_endpoint", amount=amount)

    def unbond_endpoint(self) -> TxResult:
        return self._send("unbond_endpoint")

    def finalize_unbond(self) -> TxResult:
        return self._send("finalize_unbond")

    def schedule_slash(self, operator: str, evidence: bytes) -> TxResult:
        return self._send("schedule_slash", operator, evidence)

    def execute_slash(self, operator: str) -> TxResult:
        return self._send("execute_slash", operator)

    def cancel_slash(self, operator: str) -> TxResult:
        return self._send("cancel_slash", operator)

    def release_slash_bounty(self, operator: str) -> TxResult:
        return self._send("release_slash_bounty", operator)

    def register_endpoint(
        self,
        *,
        endpoint: str,
        wg_pubkey: bytes,
        region: str,
        price_per_mb: int,
        receipt_signer: str,
        signer_signature: bytes,
    ) -> TxResult:
        """`signer_signature`: the receipt key's EIP-712 signature over `ReceiptSigner(operator=sender)`."""
        return self._send(
            "register_endpoint",
            endpoint,
            wg_pubkey,
            region,
            price_per_mb,
            receipt_signer,
            signer_signature,
        )

    def update_endpoint(self, *, endpoint: str, region: str, price_per_mb: int) -> TxResult:
        listing = self.endpoint(self.wallet).listing
        return self._send("update_endpoint", listing.as_argument(), endpoint, region, price_per_mb)

    def rotate_keys(self, *, wg_pubkey: bytes) -> TxResult:
        listing = self.endpoint(self.wallet).listing
        return self._send("rotate_keys", listing.as_argument(), wg_pubkey)

    def retire_endpoint(self) -> TxResult:
        return self._send("retire_endpoint")

    def claim_earnings(self, amount: int) -> TxResult:
        return self._send("claim_earnings", amount)

    def create_tailnet(self, acl_document: bytes, amount: int) -> tuple[int, TxResult]:
        """`acl_document`: the policy file's bytes, carried in the `TailnetAclUpdated` event."""
        result = self._pay("create_tailnet", _policy_document(acl_document), amount=amount)
        return result.event("TailnetCreated").args["tailnet_id"], result

    def add_member(self, tailnet_id: int, member: str) -> TxResult:
        return self._send("add_member", tailnet_id, member)

    def remove_member(self, tailnet_id: int, member: str) -> TxResult:
        return self._send("remove_member", tailnet_id, member)

    def deposit_to_tailnet(self, tailnet_id: int, amount: int) -> TxResult:
        return self._pay("deposit_to_tailnet", tailnet_id, amount=amount)

    def withdraw_from_tailnet(self, tailnet_id: int, to: str, amount: int) -> TxResult:
        return self._send("withdraw_from_tailnet", tailnet_id, to, amount)

    def configure_tailnet_exit(self, tailnet_id: int, exit_addr: str) -> TxResult:
        return self._send("configure_tailnet_exit", tailnet_id, exit_addr)

    def remove_tailnet_exit(self, tailnet_id: int, exit_addr: str) -> TxResult:
        return self._send("remove_tailnet_exit", tailnet_id, exit_addr)

    def update_acl(self, tailnet_id: int, acl_document: bytes) -> TxResult:
        return self._send("update_acl", tailnet_id, _policy_document(acl_document))

    def set_device_tags(self, tailnet_id: int, device: str, tags: list[str]) -> TxResult:
        if len(tags) > MAX_TAGS:
            raise UsageError(f"{len(tags)} tags: a device carries at most {MAX_TAGS}")
        return self._send("set_device_tags", tailnet_id, device, tags)

    def precommit_join_token(self, tailnet_id: int, invite_key: str, expires_at: int, max_uses: int) -> TxResult:
        return self._send("precommit_join_token", tailnet_id, invite_key, expires_at, max_uses)

    def redeem_join_token(self, tailnet_id: int, invite_key: str, signature: bytes) -> TxResult:
        return self._send("redeem_join_token", tailnet_id, invite_key, signature)

    def revoke_join_token(self, tailnet_id: int, invite_key: str) -> TxResult:
        return self._send("revoke_join_token", tailnet_id, invite_key)

    def device_consent(self, device_key: bytes) -> bytes:
        """The device key's signature over `Device(wallet=sender)`, for `register_device`."""
        return sign(self.domain(), DeviceConsent(wallet=self._sender_address()), device_key)

    def receipt_signer_consent(self, receipt_key: bytes) -> bytes:
        """The receipt key's signature over `ReceiptSigner(operator=sender)`, for `register_endpoint`."""
        return sign(self.domain(), ReceiptSigner(operator=self._sender_address()), receipt_key)

    def _sender_address(self) -> str:
        return self.signer("a consent (it names the wallet that sends)").account.address

    def register_device(self, device: str, signature: bytes) -> TxResult:
        """`signature`: the device key's EIP-712 signature over `Device(wallet=sender)`."""
        return self._send("register_device", device, signature)

    def revoke_device(self, device: str) -> TxResult:
        return self._send("revoke_device", device)

    def open_session(
        self, tailnet_id: int, exit_addr: str, max_pay: int, max_price_per_mb: int | None = None
    ) -> tuple[int, TxResult]:
        """`max_price_per_mb`: the highest price accepted, normally the price the exit was chosen at. Default:
        its price as listed now, so a raise before the transaction executes reverts instead of costing more."""
        if max_price_per_mb is None:
            max_price_per_mb = self.endpoint(exit_addr).price_per_mb
        result = self._send("open_session", tailnet_id, exit_addr, max_pay, max_price_per_mb, new_salt())
        return result.event("SessionOpened").args["session_id"], result

    def prepare_open_session(
        self, tailnet_id: int, exit_addr: str, max_pay: int, max_price_per_mb: int
    ) -> tuple[int, Signed]:
        """`open_session` signed and not sent, and the id the session will have (its salt is chosen here): a
        device joins the exit while it is mined (`broadcast`, then `mined`)."""
        salt = new_salt()
        sender = self.signer("open_session")
        signed = sender.prepare(self._function("open_session", tailnet_id, exit_addr, max_pay, max_price_per_mb, salt))
        return session_id_for(sender.account.address, salt), signed

    def broadcast(self, signed: Signed) -> None:
        self.signer(signed.name).broadcast(signed)

    def mined(self, signed: Signed) -> TxResult:
        """Wait for a broadcast transaction; a revert is a `ContractRevert` with its reason."""
        return self._result(self.signer(signed.name).wait(signed))

    # The exit's checks of an open it is shown before it is mined (`node.opening`).
    def simulate(self, call: dict) -> None:
        """Run a transaction's call on the latest state: a `ContractRevert` with the reason if it would fail."""
        try:
            self._rpc(self.w3.eth.call, call, "latest")
        except ContractLogicError as exc:
            raise ContractRevert(self._function_name(call.get("data", b"")), revert_reason(exc)) from exc

    def _function_name(self, data: bytes | str) -> str:
        """The contract function a call's data names ("transaction" if it names none, or its arguments do not
        decode)."""
        try:
            return self.contract.decode_function_input(data)[0].fn_name
        except (ValueError, DecodingError):
            return "transaction"

    def nonces(self, address: str) -> tuple[int, int]:
        """The nonce of `address`'s next transaction to be mined, and the next after those in the node's mempool."""
        mined = self._rpc(self.w3.eth.get_transaction_count, address, "latest")
        return mined, max(mined, self._rpc(self.w3.eth.get_transaction_count, address, "pending"))

    def base_fee(self) -> int | None:
        """The latest block's base fee (None: a chain without EIP-1559)."""
        return self._rpc(self.w3.eth.get_block, "latest").get("baseFeePerGas")

    def send_raw(self, raw: bytes) -> None:
        """Put a transaction someone else signed in the node's mempool (one it already has is fine)."""
        try:
            self._rpc(self.w3.eth.send_raw_transaction, raw)
        except Web3RPCError as exc:
            if not already_sent(exc):
                raise ChainError(f"the node at {self.network_url} refused the transaction: {exc}") from exc

    def settle_claim(self, session_id: int, bytes_used: int) -> TxResult:
        return self._on_session("settle_claim", session_id, bytes_used)

    def settle_confirm(self, session_id: int, bytes_used: int) -> TxResult:
        return self._on_session("settle_confirm", session_id, bytes_used)

    def settle_with_receipt(self, session_id: int, seq: int, bytes_used: int, signature: bytes) -> TxResult:
        return self._on_session("settle_with_receipt", session_id, seq, bytes_used, signature)

    def checkpoint(self, session_id: int, seq: int, bytes_used: int, signature: bytes) -> TxResult:
        return self._on_session("checkpoint", session_id, seq, bytes_used, signature)

    def settle_batch(self, items: list[Settlement]) -> TxResult:
        """Checkpoint or settle many sessions in one transaction; an item the contract would refuse on its own is
        skipped with a `SettlementSkipped` event. One item per session: each carries its session's record as the
        chain holds it now, which a second item for the same session would no longer match."""
        sessions = [item.session_id for item in items]
        if len(set(sessions)) != len(sessions):
            raise UsageError("settle_batch: one item per session (its latest receipt covers the earlier ones)")
        if len(items) > MAX_BATCH:
            raise UsageError(f"settle_batch: at most {MAX_BATCH} items, got {len(items)}: send the rest in another")
        return self._send("settle_batch", [item.as_argument(self.session(item.session_id)) for item in items])

    def top_up_session(self, session_id: int, amount: int) -> TxResult:
        return self._on_session("top_up_session", session_id, amount)

    def claim_no_show(self, session_id: int) -> TxResult:
        return self._on_session("claim_no_show", session_id)

    def sweep_expired_session(self, session_id: int) -> TxResult:
        return self._on_session("sweep_expired_session", session_id)

    def close_session(self, session_id: int) -> TxResult:
        return self._on_session("close_session", session_id)

    def commit_slash_report(self, commitment: bytes) -> TxResult:
        return self._send("commit_slash_report", commitment)

    def slash_double_sign(
        self, operator: str, session_id: int, seq: int, bytes_a: int, sig_a: bytes, bytes_b: int, sig_b: bytes
    ) -> TxResult:
        # Not estimated: nodes estimate in the latest block, which may still be the commitment's, where a
        # reveal must fail. Mined, it lands in a later block; a refusal is decoded from the mined transaction.
        return self._send(
            "slash_double_sign",
            operator,
            session_id,
            self.session(session_id).as_argument(),
            seq,
            bytes_a,
            sig_a,
            bytes_b,
            sig_b,
            gas=SLASH_REVEAL_GAS,
        )

    def schedule_params(self, params: Params) -> TxResult:
        return self._send("schedule_params", tuple(getattr(params, f.name) for f in fields(Params)))

    def execute_params(self) -> TxResult:
        return self._send("execute_params")

    def cancel_params(self) -> TxResult:
        return self._send("cancel_params")

    def set_paused(self, paused: bool) -> TxResult:
        return self._send("set_paused", paused)

    def transfer_ownership(self, new_owner: str) -> TxResult:
        return self._send("transfer_ownership", new_owner)

    def withdraw_program_treasury(self, to: str, amount: int) -> TxResult:
        return self._send("withdraw_program_treasury", to, amount)


def open_client(
    network: Network,
    account: LocalAccount | None = None,
    *,
    timeout: float = 120.0,
    rpc_timeout: float = 30.0,
    rpc_retries: bool = True,
) -> OctraVPN:
    w3 = connect(network, timeout=rpc_timeout, retries=rpc_retries)
    sender = TransactionManager(w3, account, timeout=timeout) if account else None
    return OctraVPN(w3, network.contract_address, sender)
