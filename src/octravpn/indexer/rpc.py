"""A thin JSON-RPC client for the indexer's hot path.

web3.py formats every log into AttributeDicts and HexBytes; the indexer reads
tens of thousands of logs per second, so it asks the node directly (with
JSON-RPC batches for block headers) and decodes the ABI itself.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx

from octravpn.chain.errors import ChainError, RpcUnreachable


class RpcError(ChainError):
    """The node answered a JSON-RPC call with an error."""

    def __init__(self, method: str, rpc_code: int | None, message: str) -> None:
        self.method = method
        self.rpc_code = rpc_code
        self.node_message = message
        super().__init__(f"the node refused {method}: {message}")


@dataclass(frozen=True)
class BlockHeader:
    number: int
    hash: str
    parent_hash: str
    timestamp: int


def _header(raw: dict) -> BlockHeader:
    return BlockHeader(int(raw["number"], 16), raw["hash"], raw["parentHash"], int(raw["timestamp"], 16))


class JsonRpc:
    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url
        self._http = httpx.Client(timeout=timeout)
        self._ids = itertools.count(1)

    def close(self) -> None:
        self._http.close()

    def _post(self, payload):
        try:
            response = self._http.post(self.url, json=payload)
        except httpx.HTTPError as exc:
            raise RpcUnreachable(self.url, type(exc).__name__) from exc
        if response.status_code != 200:
            raise RpcUnreachable(self.url, f"HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise RpcError("the node", None, "it answered with something that is not JSON") from None

    @staticmethod
    def _result(method: str, answer: object):
        """The result of one answer, or the node's refusal as an `RpcError` (whatever shape the answer has)."""
        if not isinstance(answer, dict):
            raise RpcError(method, None, f"it answered with a JSON {type(answer).__name__}, not a JSON-RPC object")
        if "error" in answer:
            error = answer["error"]
            if not isinstance(error, dict):
                raise RpcError(method, None, str(error)[:300])
            code = error.get("code")
            raise RpcError(method, code if isinstance(code, int) else None, str(error.get("message", error))[:300])
        return answer.get("result")

    def call(self, method: str, params: list):
        return self._result(
            method, self._post({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params})
        )

    def batch(self, calls: list[tuple[str, list]]) -> list:
        """Several calls in one request; results in the order of `calls`."""
        if not calls:
            return []
        requests: list[dict[str, Any]] = [
            {"jsonrpc": "2.0", "id": next(self._ids), "method": m, "params": p} for m, p in calls
        ]
        answers = self._post(requests)
        if not isinstance(answers, list):  # some nodes answer a refused batch with one error object
            self._result("batch", answers)
            raise RpcError("batch", None, "it answered a batch with one result")
        by_id = {a["id"]: a for a in answers if isinstance(a, dict) and isinstance(a.get("id"), int)}
        return [
            self._result(req["method"], by_id.get(req["id"], {"error": {"message": "no answer"}})) for req in requests
        ]

    # ------------------------------------------------------------------ eth
    def chain_id(self) -> int:
        return int(self.call("eth_chainId", []), 16)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber", []), 16)

    def header(self, number: int) -> BlockHeader | None:
        raw = self.call("eth_getBlockByNumber", [hex(number), False])
        return _header(raw) if raw else None

    def headers(self, numbers: list[int]) -> dict[int, BlockHeader]:
        """Headers of the given blocks; blocks the node does not have are left out."""
        raws = self.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        return {h.number: h for h in (_header(raw) for raw in raws if raw)}

    def logs(self, address: str, from_block: int, to_block: int) -> list[dict]:
        return self.call("eth_getLogs", [{"address": address, "fromBlock": hex(from_block), "toBlock": hex(to_block)}])

    def eth_call(self, to: str, data: bytes, block: int | str = "latest") -> bytes:
        tag = hex(block) if isinstance(block, int) else block
        return bytes.fromhex(self.call("eth_call", [{"to": to, "data": "0x" + data.hex()}, tag])[2:])

    def code(self, address: str, block: int | str = "latest") -> bytes:
        tag = hex(block) if isinstance(block, int) else block
        return bytes.fromhex(self.call("eth_getCode", [address, tag])[2:])
