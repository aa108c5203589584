"""What the discovery API's routers share: the index they answer from, its refusals, and its parameter bounds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from octravpn.indexer.queries import Queries
from octravpn.indexer.rpc import JsonRpc
from octravpn.protocol.eip712 import Domain
from octravpn.serving import ErrorBody

ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
MAX_UINT256 = 2**256 - 1
MAX_ID = 2**63 - 1
MAX_OFFSET = 10**9
Responses = dict[int | str, dict[str, Any]]  # FastAPI's documented answers of a route

BAD_PARAMETERS: Responses = {400: {"model": ErrorBody, "description": "bad parameters"}}
NOT_FOUND: Responses = {404: {"model": ErrorBody, "description": "not in the index"}}


class ApiError(Exception):
    """A refusal with its status (`octravpn.serving` answers it in the one envelope)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ChainReader:
    """What the API asks the chain itself: the head (for the index's lag)."""

    def __init__(self, rpc: JsonRpc, contract: str) -> None:
        self.rpc, self.contract = rpc, contract

    def head(self) -> int:
        return self.rpc.block_number()


@dataclass(frozen=True, kw_only=True)
class Index:
    """What every route answers from (the app's state; a route takes it with `Depends(index)`)."""

    queries: Queries
    chain: ChainReader | None
    confirmations: int
    max_lag: int
    clock: Callable[[], float]

    def indexed_block(self) -> int:
        progress = self.queries.progress()
        if progress is None:
            raise ApiError(503, "the indexer has not started: run `octravpn indexer run`")
        return progress["block_number"]

    def domain(self) -> Domain:
        """The EIP-712 domain of the indexed contract (signatures are checked against it)."""
        progress = self.queries.progress()
        if progress is None:
            raise ApiError(503, "the index has not started yet: no chain to check signatures against")
        return Domain(chain_id=progress["chain_id"], verifying_contract=progress["contract"])


def index(request: Request) -> Index:
    return request.app.state.index


def found(value, what: str):
    if value is None:
        raise ApiError(404, f"{what} not found in the index (it may not exist, or the indexer has not reached it yet)")
    return value
