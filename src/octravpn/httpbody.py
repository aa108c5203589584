"""Reading another party's HTTP answer without letting it choose how much we read.

httpx reads a whole body into memory unless it is streamed: an exit or an indexer that answers with
gigabytes would take the client's memory with it. Every client of another party's service streams the
answer and reads it through `read_bounded`, whose limit is far above any honest answer of that service.
"""

from __future__ import annotations

import httpx


def read_bounded(response: httpx.Response, limit: int) -> bytes:
    """The body of a streamed `response`; `ValueError` once it declares or sends more than `limit` bytes."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ValueError(f"sent more than {limit} bytes")
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise ValueError(f"sent more than {limit} bytes")
    return bytes(body)
