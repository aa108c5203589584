"""The exit connection's status as a state machine, with one table of transitions (h11's `_state.py` is the
model). Pure: the daemon reports what happened as an `Event` and takes the status the table gives.

    down ──UP──▶ connecting ──JOINED──▶ connected ◀──EXIT_BACK── exit-unreachable
      ▲             │                     │  ▲ ──EXIT_SILENT──▶        │
      │           FAILED                  │  └──────JOINED────────────┘ (a rejoin or a failover)
      ├─────────────┘               SESSION_ENDED ──▶ ended ──JOINED──▶ connected (a failover)
      └──LEFT── disconnecting ◀──DOWN── connected, exit-unreachable, ended

An event the table has no entry for is refused with a `Conflict` that says so: that is how `up` while up and
`down` while down are refused, and a bug that would report an impossible event fails loudly instead of showing
a status that is not true.
"""

from __future__ import annotations

from enum import Enum, StrEnum, auto

from octravpn.errors import StateError


class Status(StrEnum):
    DOWN = "down"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    EXIT_UNREACHABLE = "exit-unreachable"
    ENDED = "ended"  # the session is no longer open on chain: `down`, then `up` again
    DISCONNECTING = "disconnecting"


class Event(Enum):
    UP = auto()  # `up` starts
    FAILED = auto()  # `up` failed, and everything it did is undone
    JOINED = auto()  # an exit took this device's key for the session and the host points at it
    EXIT_SILENT = auto()  # no sign of the exit for a while, or a rejoin failed
    EXIT_BACK = auto()  # the exit answers again
    SESSION_ENDED = auto()  # the chain says the session is no longer open
    DOWN = auto()  # `down` starts
    LEFT = auto()  # `down` is done: the host restored, the session left to settle


class Conflict(StateError):
    """The request does not fit the connection's status (already up, not connected)."""

    code = "conflict"


LIVE = (Status.CONNECTED, Status.EXIT_UNREACHABLE, Status.ENDED)  # a session is held: what `down` takes down

TRANSITIONS: dict[tuple[Status, Event], Status] = {
    (Status.DOWN, Event.UP): Status.CONNECTING,
    (Status.CONNECTING, Event.FAILED): Status.DOWN,
    (Status.CONNECTING, Event.JOINED): Status.CONNECTED,
    **{(status, Event.JOINED): Status.CONNECTED for status in LIVE},
    (Status.CONNECTED, Event.EXIT_SILENT): Status.EXIT_UNREACHABLE,
    (Status.EXIT_UNREACHABLE, Event.EXIT_SILENT): Status.EXIT_UNREACHABLE,
    (Status.ENDED, Event.EXIT_SILENT): Status.ENDED,
    (Status.CONNECTED, Event.EXIT_BACK): Status.CONNECTED,
    (Status.EXIT_UNREACHABLE, Event.EXIT_BACK): Status.CONNECTED,
    (Status.ENDED, Event.EXIT_BACK): Status.ENDED,
    **{(status, Event.SESSION_ENDED): Status.ENDED for status in LIVE},
    **{(status, Event.DOWN): Status.DISCONNECTING for status in LIVE},
    (Status.DISCONNECTING, Event.LEFT): Status.DOWN,
}


def allowed(status: Status, event: Event) -> bool:
    return (status, event) in TRANSITIONS


def next_status(status: Status, event: Event) -> Status:
    """The status `event` leads to from `status`; a `Conflict` if it leads nowhere."""
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        raise Conflict(f"the connection is {status}: {event.name.lower().replace('_', ' ')} does not apply") from None
