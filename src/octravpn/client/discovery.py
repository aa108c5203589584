"""Finding exits through an indexer, and the rule `octravpn up --exit auto` picks one by."""

from __future__ import annotations

import httpx
from pydantic import BaseModel, ValidationError

from octravpn.errors import ServiceError, UsageError
from octravpn.httpbody import read_bounded
from octravpn.indexer.models import ExitPage, TailnetPage
from octravpn.protocol.wirejson import error_reason, loads_object

DEFAULT_INDEXER = "http://127.0.0.1:8787"
MAX_ANSWER_BYTES = 8 * 1024 * 1024  # a page of exits or tailnets is far smaller
MAX_LISTED = 100_000  # exits read across pages: an indexer cannot keep a client paging forever


class IndexerUnavailable(ServiceError):
    def __init__(self, url: str, detail: str) -> None:
        super().__init__(
            f"cannot reach the indexer at {url} ({detail}): start one with `octravpn indexer run`, "
            "or point --indexer / OCTRAVPN_INDEXER at one"
        )


def standing(exit_: dict) -> int:
    """An exit's reputation (the value it settled for tailnets it does not own) counted up to its live stake."""
    return min(int(exit_["reputation"]), int(exit_["stake"]))


def best_exit(exits: list[dict]) -> dict | None:
    """The rule for `--exit auto`, among exits that can serve now: the lowest price per MB, then the largest
    stake, then the highest standing, then the lowest address (so two clients with the same view choose alike).
    Reputation only breaks ties: a second wallet's tailnet buys it for the protocol fee (nothing at fee 0), so
    it must never outweigh what the user pays or what the exit has at stake."""
    usable = [e for e in exits if e["active"]]
    if not usable:
        return None
    return min(usable, key=lambda e: (int(e["price_per_mb"]), -int(e["stake"]), -standing(e), e["address"].lower()))


class IndexerClient:
    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str, params: dict) -> dict:
        try:
            with self._http.stream("GET", path, params={k: v for k, v in params.items() if v is not None}) as response:
                status, content = response.status_code, read_bounded(response, MAX_ANSWER_BYTES)
        except httpx.HTTPError as exc:
            raise IndexerUnavailable(self.url, type(exc).__name__) from exc
        except ValueError as exc:
            raise IndexerUnavailable(self.url, f"HTTP {response.status_code}, {exc}") from None
        try:
            body = loads_object(content)
        except ValueError as exc:
            raise IndexerUnavailable(
                self.url, f"HTTP {status}, not JSON ({exc}): is that an OctraVPN indexer?"
            ) from None
        if 400 <= status < 500:
            raise UsageError(f"the indexer refused {path}: {error_reason(content)}")
        if status != 200:
            raise IndexerUnavailable(self.url, error_reason(content) if "error" in body else f"HTTP {status}")
        return body

    def exits(
        self,
        *,
        region: str | None = None,
        max_price: int | None = None,
        tailnet: int | None = None,
        active: bool = True,
        sort: str = "price",
        limit: int = 500,
    ) -> list[dict]:
        """Every matching exit (all pages)."""
        found: list[BaseModel] = []
        offset = 0
        while True:
            page = self._page(
                ExitPage,
                self._get(
                    "/v1/exits",
                    {
                        "region": region,
                        "max_price": max_price,
                        "tailnet": tailnet,
                        "active": str(active).lower(),
                        "sort": sort,
                        "limit": limit,
                        "offset": offset,
                    },
                ),
            )
            found.extend(page.items)
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return [item.model_dump() for item in found]
            if len(found) >= MAX_LISTED:
                raise IndexerUnavailable(self.url, f"it lists more than {MAX_LISTED} exits")

    def tailnets_of(self, member: str) -> list[dict]:
        page = self._page(TailnetPage, self._get("/v1/tailnets", {"member": member, "limit": 500}))
        return [item.model_dump() for item in page.items]

    def _page(self, model: type[ExitPage | TailnetPage], body: dict) -> ExitPage | TailnetPage:
        """The page in an indexer's answer, checked against the API's own schema."""
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"]))
            raise IndexerUnavailable(
                self.url, f"its answer does not fit the API ({where}: {first['msg']}): is that an OctraVPN indexer?"
            ) from None


def choose_exit(
    api: IndexerClient,
    member: str,
    *,
    tailnet: int | None,
    region: str | None,
    max_price: int | None,
    exclude: frozenset[str] = frozenset(),
    prefer: frozenset[str] = frozenset(),
) -> tuple[str, int, int]:
    """`--exit auto`: the best exit (rule: `best_exit`) for the tailnet that pays (given, or `member`'s one
    tailnet), and the price it was chosen at (the session opens at that price or not at all). `exclude`: exits
    found unreachable (a failover passes over them); `prefer`: exits with which this device has a session it can
    rejoin with no transaction, taken first when they pass the same filters."""
    if tailnet is None:
        tailnets = [t["id"] for t in api.tailnets_of(member)]
        if len(tailnets) != 1:
            listed = ", ".join(map(str, tailnets)) or "none"
            raise UsageError(f"{member} is a member of tailnets: {listed}; choose the one that pays with --tailnet")
        tailnet = tailnets[0]
    exits = [e for e in api.exits(tailnet=tailnet, region=region, max_price=max_price) if e["address"] not in exclude]
    chosen = best_exit([e for e in exits if e["address"] in prefer]) or best_exit(exits)
    if chosen is None:
        wanted = "".join(
            [
                f" in {region}" if region else "",
                " within --max-price" if max_price is not None else "",
                " other than the unreachable ones" if exclude else "",
            ]
        )
        raise UsageError(
            f"no active exit{wanted} is allowed by tailnet {tailnet}: see `octravpn exits list --tailnet "
            f"{tailnet} --all`"
        )
    return chosen["address"], tailnet, int(chosen["price_per_mb"])
