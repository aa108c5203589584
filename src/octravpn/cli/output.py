"""Output: `--json` for machines, Rich tables for people; errors go to stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)
# Piped or redirected, a table is as wide as its longest value: an address, hash or invite cut across
# lines could not be copied or grepped whole. A terminal gets tables that fit it.
UNWRAPPED_WIDTH = 100_000


def _print_table(table: Table) -> None:
    if stdout.is_terminal:
        stdout.print(table)
    else:
        Console(file=sys.stdout, width=UNWRAPPED_WIDTH, highlight=False, soft_wrap=True).print(table)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class Output:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def record(self, data: dict, *, title: str | None = None) -> None:
        """One object: a two-column table, or a JSON object."""
        if self.as_json:
            print(json.dumps(_plain(data), sort_keys=False))
            return
        table = Table(title=title, show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")  # hashes and addresses must stay copyable whole
        for key, value in data.items():
            table.add_row(key, self._human(value))
        _print_table(table)

    def rows(self, rows: list[dict], *, columns: list[str], title: str | None = None) -> None:
        """Many objects: a table, or a JSON array."""
        if self.as_json:
            print(json.dumps(_plain(rows)))
            return
        table = Table(title=title)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(self._human(row.get(c)) for c in columns))
        _print_table(table)

    def step(self, message: str) -> None:
        """A progress line for people (stderr, so stdout stays parseable)."""
        if not self.as_json:
            stderr.print(message)

    @staticmethod
    def _human(value: Any) -> str:
        if isinstance(value, bytes):
            return "0x" + value.hex()
        if isinstance(value, dict) and "human" in value:
            return value["human"]
        if isinstance(value, (list, tuple)):
            return ", ".join(str(v) for v in value)
        return "" if value is None else str(value)


def fail(message: str) -> None:
    # Text, not markup: a message may contain brackets.
    stderr.print(Text("error: ", style="bold red") + Text(message))
    sys.stderr.flush()
