"""The connection's status moves only by its table, and every status has one home (`daemon.connection`)."""

import re
from pathlib import Path

import pytest

from octravpn.daemon.backoff import Backoff
from octravpn.daemon.connection import LIVE, TRANSITIONS, Conflict, Event, Status, allowed, next_status

SOURCE = Path(__file__).resolve().parents[2] / "src" / "octravpn"


def test_a_connection_goes_up_loses_its_exit_fails_over_and_comes_down():
    status = Status.DOWN
    for event, expected in [
        (Event.UP, Status.CONNECTING),
        (Event.JOINED, Status.CONNECTED),
        (Event.EXIT_SILENT, Status.EXIT_UNREACHABLE),
        (Event.JOINED, Status.CONNECTED),  # the failover's new exit
        (Event.SESSION_ENDED, Status.ENDED),
        (Event.EXIT_BACK, Status.ENDED),  # an ended session stays ended, whoever answers
        (Event.DOWN, Status.DISCONNECTING),
        (Event.LEFT, Status.DOWN),
    ]:
        status = next_status(status, event)
        assert status is expected


def test_a_failed_up_is_down_again():
    assert next_status(next_status(Status.DOWN, Event.UP), Event.FAILED) is Status.DOWN


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("event", list(Event))
def test_every_pair_the_table_has_no_entry_for_is_refused(status, event):
    if (status, event) in TRANSITIONS:
        assert allowed(status, event) and next_status(status, event) in Status
    else:
        assert not allowed(status, event)
        with pytest.raises(Conflict, match=f"the connection is {status.value}"):
            next_status(status, event)


def test_up_only_from_down_and_down_only_from_a_held_session():
    assert [s for s in Status if allowed(s, Event.UP)] == [Status.DOWN]
    assert tuple(s for s in Status if allowed(s, Event.DOWN)) == LIVE


def test_no_module_but_the_state_machine_spells_a_status():
    spelled = re.compile(r"""["'](connecting|exit-unreachable|disconnecting)["']""")
    found = [
        str(path.relative_to(SOURCE))
        for path in SOURCE.rglob("*.py")
        if spelled.search(path.read_text()) and path.name != "connection.py"
    ]
    assert found == []


def test_the_backoff_doubles_to_its_ceiling_and_a_success_resets_it():
    backoff = Backoff(5.0, 30.0, interval=5.0)
    waits, now = [], 100.0
    for _ in range(5):
        assert backoff.due(now)
        backoff.failed(now)
        waits.append(backoff.next_at - now)
        now = backoff.next_at
    assert waits == [5.0, 10.0, 20.0, 30.0, 30.0] and not backoff.due(now - 1)
    backoff.succeeded(now)
    assert backoff.next_at == now + 5.0 and backoff.delay == 5.0
