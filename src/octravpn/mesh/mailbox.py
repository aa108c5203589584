"""Indexers as the mesh's mailboxes: a device puts its signed announcement to each and reads its tailnet's.

Indexers are untrusted: what one serves is checked by `mesh.netmap` before anything uses it. Reading is for the
tailnet's own devices (announcements hold LAN endpoints), so each read is signed (`MailboxRead`). The map is
read in pages of at most `PAGE` announcements, each page at most `MAX_PAGE_BYTES`, and never more pages than
the roster has keys for: a hostile or flooded indexer cannot make a device read without end, and whatever it
does not serve, the device keeps from before (`mesh.netmap.take_announcements`). Several indexers are asked;
the union of what they serve is the candidate map.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from octravpn.httpbody import read_bounded
from octravpn.protocol.announce import MailboxRead
from octravpn.protocol.wirejson import error_reason, loads

PAGE = 500  # announcements per page (the indexer's largest page)
MAX_PAGE_BYTES = 2 * 1024 * 1024  # 500 announcements of the largest size fit with room
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

    def fetch(
        self, tailnet_id: int, *, sign: Callable[[MailboxRead], bytes], device: str, keys: int
    ) -> tuple[list[object], dict[str, str]]:
        """Every announcement the indexers serve for the tailnet (raw, unverified), and what went wrong where.
        `sign` signs this device's read; `keys`: how many keys the roster has (what a full map can hold)."""
        items: list[object] = []
        errors: dict[str, str] = {}
        for url in self.urls:
            try:
                self._fetch_one(url, tailnet_id, sign, device, keys, items)
            except httpx.HTTPError as exc:
                errors[url] = f"unreachable ({type(exc).__name__})"
            except ValueError as exc:
                errors[url] = str(exc)
        return items, errors

    def _fetch_one(self, url: str, tailnet_id: int, sign, device: str, keys: int, items: list) -> None:
        read = MailboxRead(subject=tailnet_id, reader=device, timestamp=int(time.time()))
        headers = {"Authorization": read.header(sign(read))}
        after = ""
        for _ in range(keys // PAGE + 2):  # a page more than the roster needs: the last one says there is no next
            params: dict[str, str | int] = {"limit": PAGE, **({"after": after} if after else {})}
            with self.http.stream(
                "GET", f"{url}/v1/tailnets/{tailnet_id}/announcements", params=params, headers=headers
            ) as response:
                if response.status_code != 200:
                    body = read_bounded(response, 4096)
                    raise ValueError(f"HTTP {response.status_code}: {error_reason(body)}")
                body = read_bounded(response, MAX_PAGE_BYTES)
            try:
                document = loads(body)
            except ValueError as exc:
                raise ValueError(f"served something that is not JSON ({exc})") from None
            page = document.get("items") if isinstance(document, dict) else None
            following = document.get("next") if isinstance(document, dict) else None
            if not isinstance(page, list) or len(page) > PAGE or not isinstance(following, (str, type(None))):
                raise ValueError(f"served a page that is not one: `items` must be a list of at most {PAGE}")
            # The indexer adds when it stored each one; that is its own note, not part of what was signed.
            items += [{k: v for k, v in i.items() if k != "stored_at"} if isinstance(i, dict) else i for i in page]
            if not following:
                return
            if following <= after:
                raise ValueError("served pages that do not move forward")
            after = following
        raise ValueError(f"served more pages than the tailnet's {keys} keys fill: the rest was not read")
