"""Chain failures, each with a message that says what to do."""

from __future__ import annotations

from octravpn.errors import OctraVPNError

_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
_PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)
_PANICS = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division by zero",
    0x32: "array index out of bounds",
}


class ChainError(OctraVPNError):
    exit_code = 5


class RpcUnreachable(ChainError):
    def __init__(self, url: str, detail: str) -> None:
        super().__init__(
            f"cannot reach the RPC at {url} ({detail}): is the node running? "
            "For a local one run `octravpn devnet up`; otherwise check the network's rpc_url"
        )


class WrongChain(ChainError):
    def __init__(self, network: str, url: str, expected: int, actual: int) -> None:
        super().__init__(
            f"the RPC at {url} serves chain {actual}, but network {network!r} expects chain {expected}: "
            "fix rpc_url or chain_id with `octravpn network add --force`"
        )


class ContractNotDeployed(ChainError):
    def __init__(self, network: str, address: str | None) -> None:
        where = f"at {address}" if address else "configured"
        super().__init__(
            f"no OctraVPN contract {where} on network {network!r}: deploy one (`octravpn devnet up` does it "
            "locally) or set the contract address with `octravpn network add`"
        )


class ContractRevert(ChainError):
    """The contract refused the call; `reason` is its revert message."""

    exit_code = 6

    def __init__(self, function: str, reason: str) -> None:
        self.function = function
        self.reason = reason
        super().__init__(f"{function} reverted: {reason}")


class InsufficientFunds(ChainError):
    def __init__(self, address: str, detail: str) -> None:
        super().__init__(f"wallet {address} cannot pay for this transaction ({detail}): fund it and retry")


class TransactionPending(ChainError):
    """A transaction left this machine (or may have) and its outcome is not known yet. Sending it again
    could pay twice, so the message says so and how to find out what became of it."""

    exit_code = 7

    def __init__(self, tx_hash: str, why: str) -> None:
        self.tx_hash = tx_hash
        super().__init__(
            f"transaction {tx_hash} {why}: pending: do not resend; check with `octravpn tx {tx_hash} --wait`"
        )


class TransactionTimeout(TransactionPending):
    def __init__(self, tx_hash: str, seconds: float) -> None:
        super().__init__(tx_hash, f"was not mined within {seconds:.0f}s (raise --timeout to wait longer)")


def decode_revert_data(data: bytes | str | None) -> str | None:
    """The reason in ABI-encoded revert data: Error(string), Panic(uint256), or None."""
    if isinstance(data, str):
        data = bytes.fromhex(data.removeprefix("0x")) if data.startswith("0x") else None
    if not data:
        return None
    if data[:4] == _ERROR_STRING:
        from eth_abi import decode as abi_decode  # loaded when a revert is read: errors stay cheap to import

        try:
            return abi_decode(["string"], data[4:])[0]
        except Exception:  # malformed payload: report it raw below
            return None
    if data[:4] == _PANIC and len(data) >= 36:
        code = int.from_bytes(data[4:36], "big")
        return f"panic 0x{code:02x} ({_PANICS.get(code, 'unknown panic')})"
    return None


def revert_reason(exc: Exception) -> str:
    """The readable reason of a web3 revert exception."""
    reason = decode_revert_data(getattr(exc, "data", None))
    if reason:
        return reason
    message = getattr(exc, "message", None) or str(exc)
    return (
        message.removeprefix("execution reverted: ").removeprefix("execution reverted") or "reverted without a reason"
    )
