"""JSON read from the network: whatever the bytes, the outcome is a value or a `ValueError`.

`json.loads` alone is not enough for bytes from a peer, a relay's client, an exit or an indexer: a thousand
`[` make it raise `RecursionError` (not a `ValueError`, so a handler that catches parse errors lets it
through and a server's loop dies), and a value nested a few hundred levels deep parses but breaks the code
that walks it later. So the depth is bounded: deeper input is refused as malformed. The parse runs in C,
and the depth is measured after it over the parsed values (not the bytes), so reading a map of a thousand
devices costs milliseconds, not a Python loop over every byte. The C parser itself is bounded by the
interpreter's recursion limit (1,000 in OctraVPN's processes, which import nothing that raises it: a test
checks), far inside the C stack.

(HTTP services refuse deep bodies before parsing them at all: `octravpn.serving.BodyGuard`.)
"""

from __future__ import annotations

import json
from collections.abc import Iterable

MAX_DEPTH = 32  # far more than any OctraVPN message nests
MAX_REASON = 300  # characters of another party's error message shown to the user


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> object:
    """The JSON value in `data`; `ValueError` if it is not JSON (bad UTF-8 included) or nests deeper than
    `max_depth` arrays/objects."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise ValueError(f"JSON nests deeper than {max_depth} levels") from None
    if _deeper_than(value, max_depth):
        raise ValueError(f"JSON nests deeper than {max_depth} levels")
    return value


def loads_object(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> dict:
    """Like `loads`, for a message that must be a JSON object."""
    value = loads(data, max_depth=max_depth)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def error_reason(body: bytes) -> str:
    """What another party's error response says, for one line of ours: its JSON `error`, else its text;
    bounded, on one line."""
    try:
        value = loads(body)
    except ValueError:
        value = body.decode("utf-8", "replace")
    if isinstance(value, dict) and "error" in value:
        value = value["error"]
    text = value if isinstance(value, str) else json.dumps(value)
    return " ".join(text.split())[:MAX_REASON]


def _deeper_than(value: object, limit: int) -> bool:
    # An explicit stack: walking a hostile value must not recurse either.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
