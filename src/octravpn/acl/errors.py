"""What is wrong with a policy file, and where."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Position:
    """Where in a policy document: 1-based line and column."""

    line: int
    column: int


class PolicyError(ValueError):
    """A mistake in a policy file: the message says what to write instead; `line` and `column` say where."""

    def __init__(self, message: str, position: Position | None = None) -> None:
        self.message = message
        self.line = position.line if position else None
        self.column = position.column if position else None
        super().__init__(f"line {self.line}, column {self.column}: {message}" if position else message)
