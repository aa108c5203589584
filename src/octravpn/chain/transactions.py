"""Sending transactions: nonces, gas, EIP-1559 fees, receipts, dropped txs.

`TransactionManager.send` returns only once the transaction is mined and
succeeded; every failure becomes a `ChainError` with a readable reason:
reverts (decoded, also when found only at estimation), insufficient funds,
an unreachable RPC, or a timeout. A transaction that drops out of the node's
mempool before it is mined is broadcast again, a bounded number of times.

Once a signed transaction may have left this machine, a timeout or an
interruption (Ctrl-C) is `TransactionPending`: it names the hash and says
not to send again, because a retry would be a second, independent payment.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from hexbytes import HexBytes
from requests.exceptions import ConnectionError as RequestsConnectionError
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractLogicError, TimeExhausted, TransactionNotFound, Web3RPCError
from web3.types import RPCEndpoint, TxParams

from octravpn.chain.errors import (
    ChainError,
    ContractRevert,
    InsufficientFunds,
    RpcUnreachable,
    TransactionPending,
    TransactionTimeout,
    decode_revert_data,
    revert_reason,
)
from octravpn.chain.sent import record_sent
from octravpn.units import NATIVE_DECIMALS, NATIVE_SYMBOL, human_amount

GAS_HEADROOM = 1.2  # estimates can fall short when state moves between estimate and inclusion
# Nodes estimate at the latest block's timestamp; mined later, a call can set one more storage slot from zero
# (unpausing adds the paused time: zero at the estimate, not when mined). 20,000 for the set, 2,100 for a cold slot.
STORAGE_SET_HEADROOM = 22_100
BASE_FEE_HEADROOM = 2  # maxFee covers the base fee doubling (six full blocks) before inclusion


@dataclass(frozen=True)
class Sent:
    tx_hash: str
    receipt: dict


@dataclass(frozen=True)
class Signed:
    """A transaction signed and not yet sent: `submit` sends it and waits; `broadcast` and `wait` are the two
    halves, for a caller with something to do in between (a device joins an exit while its open is mined)."""

    tx: dict
    raw: bytes
    tx_hash: str
    name: str


PLAIN_TRANSFER_GAS = 21_000


class TransactionManager:
    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        *,
        timeout: float = 120.0,
        rebroadcasts: int = 3,
        mempool_check_interval: float = 15.0,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.timeout = timeout
        self.rebroadcasts = rebroadcasts
        # How long to wait for a receipt before checking the tx is still in the mempool.
        self.mempool_check_interval = mempool_check_interval

    def send(self, call: ContractFunction | ContractConstructor, *, value: int = 0, gas: int | None = None) -> Sent:
        """`gas`: a fixed limit instead of an estimate, for a call that can only succeed in a later block than
        the latest (a revert is still decoded, from the mined transaction). A constructor deploys a contract
        (its address is the receipt's `contractAddress`)."""
        return self.submit(self.prepare(call, value=value, gas=gas))

    def prepare(
        self, call: ContractFunction | ContractConstructor, *, value: int = 0, gas: int | None = None
    ) -> Signed:
        """The call as a signed transaction at the next nonce, its gas estimated (a revert decoded now)."""
        name = getattr(call, "fn_name", "contract creation")
        params = {"from": self.account.address, "value": value}
        try:
            if gas is None:
                gas = int(call.estimate_gas(cast(TxParams, params)) * GAS_HEADROOM) + STORAGE_SET_HEADROOM
            tx = call.build_transaction(
                cast(
                    TxParams,
                    {
                        **params,
                        **self._fees(),
                        "gas": gas,
                        "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
                        "chainId": self.w3.eth.chain_id,
                    },
                )
            )
        except ContractLogicError as exc:
            raise ContractRevert(name, revert_reason(exc)) from exc
        except Web3RPCError as exc:
            raise self._rpc_error(exc, name) from exc
        except RequestsConnectionError as exc:
            raise RpcUnreachable(self._url(), "connection refused") from exc
        return self._sign(dict(tx), name)

    def transfer(self, to: str, value: int) -> Sent:
        """Send native coin (gas money for a device key)."""
        try:
            tx = {
                "from": self.account.address,
                "to": to,
                "value": value,
                "gas": PLAIN_TRANSFER_GAS,
                **self._fees(),
                "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
                "chainId": self.w3.eth.chain_id,
            }
        except RequestsConnectionError as exc:
            raise RpcUnreachable(self._url(), "connection refused") from exc
        return self.submit(self._sign(tx, "transfer"))

    def submit(self, signed: Signed) -> Sent:
        """Send and wait until mined; a revert decoded to its reason."""
        self.broadcast(signed)
        return self.wait(signed)

    def broadcast(self, signed: Signed) -> None:
        """Send without waiting (`wait` waits)."""
        record_sent(signed.tx_hash)  # from here on it may be on its way, whatever happens to this process
        try:
            self._broadcast(signed.raw)
        except KeyboardInterrupt:
            raise TransactionPending(signed.tx_hash, "was sent and then interrupted before it was mined") from None

    def wait(self, signed: Signed) -> Sent:
        """Wait for a broadcast transaction to be mined (sending it again if the node dropped it)."""
        try:
            receipt = self._wait(signed.tx_hash, signed.raw)
        except KeyboardInterrupt:
            raise TransactionPending(signed.tx_hash, "was sent and then interrupted before it was mined") from None
        if receipt["status"] != 1:
            raise ContractRevert(signed.name, replay_reason(self.w3, signed.tx, receipt))
        return Sent(tx_hash=signed.tx_hash, receipt=receipt)

    def _sign(self, tx: dict[str, Any], name: str) -> Signed:
        raw = bytes(self.account.sign_transaction(tx).raw_transaction)
        return Signed(tx=tx, raw=raw, tx_hash=HexBytes(Web3.keccak(raw)).to_0x_hex(), name=name)

    # ------------------------------------------------------------ internals
    def _fees(self) -> dict:
        latest = self.w3.eth.get_block("latest")
        base_fee = latest.get("baseFeePerGas")
        if base_fee is None:  # a chain without EIP-1559
            return {"gasPrice": self.w3.eth.gas_price}
        tip = self.w3.eth.max_priority_fee
        return {"maxFeePerGas": BASE_FEE_HEADROOM * base_fee + tip, "maxPriorityFeePerGas": tip}

    def _broadcast(self, raw: bytes) -> None:
        try:
            self.w3.eth.send_raw_transaction(raw)
        except Web3RPCError as exc:
            if already_sent(exc):
                return
            raise self._rpc_error(exc, "transaction") from exc
        except RequestsConnectionError as exc:
            raise RpcUnreachable(self._url(), "connection refused") from exc

    def _wait(self, tx_hash: str, raw: bytes) -> dict:
        deadline = time.monotonic() + self.timeout
        rebroadcasts_left = self.rebroadcasts
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                return dict(
                    self.w3.eth.wait_for_transaction_receipt(
                        HexStr(tx_hash), timeout=min(remaining, self.mempool_check_interval)
                    )
                )
            except TimeExhausted:
                pass
            except RequestsConnectionError:
                raise TransactionPending(tx_hash, f"was sent, then the connection to {self._url()} was lost") from None
            try:
                self.w3.eth.get_transaction(HexStr(tx_hash))
            except TransactionNotFound:
                # Dropped from the mempool (node restart, eviction): send it again.
                if rebroadcasts_left == 0:
                    break
                rebroadcasts_left -= 1
                self._broadcast(raw)
        raise TransactionTimeout(tx_hash, self.timeout)

    def _rpc_error(self, exc: Web3RPCError, name: str) -> Exception:
        text = str(exc)
        if "insufficient funds" in text.lower():
            balance = self.w3.eth.get_balance(self.account.address)
            return InsufficientFunds(
                self.account.address, f"balance {human_amount(balance, NATIVE_DECIMALS, NATIVE_SYMBOL)}"
            )
        if "revert" in text.lower():
            return ContractRevert(name, revert_reason(exc))
        return ChainError(f"the node at {self._url()} refused {name}: {text}")

    def _url(self) -> str:
        return getattr(self.w3.provider, "endpoint_uri", "the RPC")


def already_sent(exc: Web3RPCError) -> bool:
    """Whether a node refused a transaction because its mempool holds it already (geth: "already known",
    anvil: "transaction already imported")."""
    text = str(exc).lower()
    return "already known" in text or "already imported" in text


def replay_reason(w3: Web3, tx: dict, receipt: dict) -> str:
    """The revert reason of a mined, failed transaction.

    A receipt carries no reason. The node's call trace of the transaction
    has the exact revert data; nodes without the debug API get a replay on
    the block's final state, which matches unless a later transaction in
    the same block changed what the call depends on.
    """
    try:
        trace = w3.provider.make_request(
            RPCEndpoint("debug_traceTransaction"),
            [HexBytes(receipt["transactionHash"]).to_0x_hex(), {"tracer": "callTracer"}],
        )
        output = (trace.get("result") or {}).get("output")
        reason = decode_revert_data(output)
        if reason:
            return reason
    except (Web3RPCError, ValueError, AttributeError):
        pass
    call = {key: tx[key] for key in ("from", "to", "data", "value") if key in tx}
    if "data" not in call and "input" in tx:
        call["data"] = tx["input"]
    try:
        w3.eth.call(cast(TxParams, call), receipt["blockNumber"])
    except ContractLogicError as exc:
        return revert_reason(exc)
    except Web3RPCError as exc:
        return str(exc)
    return "reverted (the reason could not be reproduced)"
