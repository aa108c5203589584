"""Running `wg` and `ip`: for real (optionally inside a network namespace), or
scripted in unit tests. The engine only ever talks to a `CommandRunner`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from octravpn.wireguard.errors import WireGuardError

# wireguard-go refuses to run where the kernel has WireGuard unless told to.
USERSPACE_ENV = {"WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1"}


class CommandError(WireGuardError):
    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.argv, self.returncode, self.stderr = list(argv), returncode, stderr.strip()
        super().__init__(f"`{' '.join(argv)}` failed ({returncode}): {self.stderr or 'no output'}")


class CommandRunner(Protocol):
    def run(self, argv: Sequence[str], *, stdin: str | None = None) -> str:
        """Run `argv`; return stdout, raise `CommandError` on a non-zero exit."""


class SubprocessRunner:
    def __init__(self, *, namespace: str | None = None, timeout: float = 30.0) -> None:
        self.namespace = namespace
        self.timeout = timeout

    def run(self, argv: Sequence[str], *, stdin: str | None = None) -> str:
        full = (["ip", "netns", "exec", self.namespace] if self.namespace else []) + list(argv)
        try:
            done = subprocess.run(
                full,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                env={**os.environ, **USERSPACE_ENV},
            )
        except FileNotFoundError as exc:
            raise CommandError(
                full, 127, f"{full[0]} is not installed (Debian: wireguard-tools, wireguard-go, iproute2)"
            ) from exc
        if done.returncode != 0:
            raise CommandError(full, done.returncode, done.stderr)
        return done.stdout


@dataclass
class FakeRunner:
    """Records commands; answers from `responses` (first matching argv prefix)."""

    responses: list[tuple[tuple[str, ...], Callable[[list[str], str | None], str] | str | CommandError]] = field(
        default_factory=list
    )
    calls: list[tuple[list[str], str | None]] = field(default_factory=list)

    def run(self, argv: Sequence[str], *, stdin: str | None = None) -> str:
        argv = list(argv)
        self.calls.append((argv, stdin))
        for prefix, answer in self.responses:
            if tuple(argv[: len(prefix)]) == prefix:
                if isinstance(answer, CommandError):
                    raise answer
                return answer(argv, stdin) if callable(answer) else answer
        return ""
