"""Waiting for a condition, for as long as a busy machine may need: a timeout is a bound, never a measurement."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

PATIENCE = 60.0  # seconds: generous, so a loaded 2-core machine passes what an idle one does


def wait_for(
    predicate: Callable[[], Any],
    *,
    what: str,
    timeout: float = PATIENCE,
    every: float = 0.25,
    explain: Callable[[], str] | None = None,
    passing: tuple[type[BaseException], ...] = (),
) -> Any:
    """`predicate()`'s first true value. On a timeout, an AssertionError naming `what` and, if given, what
    `explain()` says of the state then. An exception of a type in `passing` counts as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except passing:
            value = None
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = f": {explain()}" if explain else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(every)
