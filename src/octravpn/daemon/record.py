"""The daemon's state with its lock: every change is saved at once (a restart finds it) and shown (`status`
serves the last snapshot from memory, and a new version wakes the change feed)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from octravpn.daemon.connection import Event, next_status
from octravpn.daemon.state import DaemonState


class Record:
    def __init__(self, path: Path, clock: Callable[[], float], view: Callable[[DaemonState], dict]) -> None:
        self.path, self.clock, self.view = path, clock, view
        self.state = DaemonState.load(path)
        self.lock = threading.RLock()
        self.version = 0
        self.shown: dict = {}  # the last snapshot

    def event(self, event: Event | None, **changes) -> None:
        """Take the status `event` leads to (None: the same) and the state's `changes`; save, and show it."""
        with self.lock:
            if event is not None:
                self.state.status = next_status(self.state.status, event)
            for name, value in changes.items():
                setattr(self.state, name, value)
            self.changed()

    def save(self) -> None:
        with self.lock:
            self.state.updated_at = self.clock()
            self.state.save(self.path)

    def changed(self) -> None:
        """Save, and rebuild the snapshot."""
        with self.lock:
            self.save()
            built = self.view(self.state)
            if {**built, "updated_at": None} != {**self.shown, "updated_at": None}:
                self.version += 1
            self.shown = built
