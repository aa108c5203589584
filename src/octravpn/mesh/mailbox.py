"""Indexers as the mesh's mailboxes: a device puts its signed announcement to each and gets its tailnet's.

Indexers are untrusted: what one serves is checked by `mesh.netmap` before anything uses it, and a hostile
one cannot make a device read more than `MAX_MAP_BYTES` or wait longer than the timeout. Several indexers
are asked; the union of what they serve is the candidate map (the newest announcement per key wins there).
"""

from __future__ import annotations

import httpx

from octravpn.httpbody import read_bounded
from octravpn.protocol.wirejson import error_reason, loads

MAX_MAP_BYTES = 8 * 1024 * 1024  # ~10,000 announcements: far beyond a tailnet's devices
TIMEOUT = 3.0


class Mailbox:
    def __init__(self, urls: tuple[str, ...], *, timeout: float = TIMEOUT) -> None:
        self.urls = tuple(url.rstrip("/") for url in urls)
        self.http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def put(self, url: str, tailnet_id: int, announcement: dict) -> str | None:
        """None if the indexer keeps it; otherwise why not (one line)."""
        try:
            response = self.http.put(f"{url}/v1/tailnets/{tailnet_id}/announcements", json=announcement)
        except httpx.HTTPError as exc:
            return f"unreachable ({type(exc).__name__})"
        if response.status_code == 200:
            return None
        return f"refused (HTTP {response.status_code}): {error_reason(response.content)}"

    def fetch(self, tailnet_id: int) -> tuple[list[dict], dict[str, str]]:
        """Every announcement the indexers serve for the tailnet (raw, unverified), and what went wrong where."""
        items: list[dict] = []
        errors: dict[str, str] = {}
        for url in self.urls:
            try:
                items += self._fetch_one(url, tailnet_id)
            except httpx.HTTPError as exc:
                errors[url] = f"unreachable ({type(exc).__name__})"
            except ValueError as exc:
                errors[url] = str(exc)
        return items, errors

    def _fetch_one(self, url: str, tailnet_id: int) -> list[dict]:
        with self.http.stream("GET", f"{url}/v1/tailnets/{tailnet_id}/announcements") as response:
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            body = read_bounded(response, MAX_MAP_BYTES)
        try:
            document = loads(body)
        except ValueError as exc:
            raise ValueError(f"served something that is not JSON ({exc})") from None
        items = document.get("items") if isinstance(document, dict) else None
        if not isinstance(items, list):
            raise ValueError("served JSON without an `items` list")
        # The indexer adds when it stored each one; that is its own note, not part of what was signed.
        return [
            {k: v for k, v in item.items() if k != "stored_at"} if isinstance(item, dict) else item for item in items
        ]
