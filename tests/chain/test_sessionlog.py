"""A session's record, folded from its events: what the contract hashes, each field from the event that set it."""

from dataclasses import dataclass

from octravpn.chain.sessionlog import fold

EXIT, OPENER = "0x" + "0e" * 20, "0x" + "0a" * 20
OPENED = {
    "session_id": 4,
    "tailnet_id": 2,
    "exit": EXIT,
    "opener": OPENER,
    "deposit": 100,
    "price_per_mb": 7,
    "opened_at": 1_000,
    "treasury": 900,
    "protocol_fee_bps": 50,
    "sweep_bounty_bps": 100,
    "settle_by": 87_400,
    "sweep_after": 865_000,
}


@dataclass(frozen=True)
class Event:
    name: str
    args: dict


def test_opened_then_checkpointed_topped_up_and_settled():
    events = [
        Event("SessionOpened", OPENED),
        Event("SessionOpened", {**OPENED, "session_id": 5}),  # another session: not this one's
        Event("SessionCheckpointed", {"session_id": 4, "bytes_used": 30}),
        Event("SessionToppedUp", {"session_id": 4, "deposit": 150, "settle_by": 90_000, "sweep_after": 870_000}),
    ]
    record = fold(4, events)
    assert (record.deposit, record.settle_by, record.sweep_after, record.bytes_paid, record.status_name) == (
        150,
        90_000,
        870_000,
        30,
        "open",
    )
    assert (record.exit, record.opener, record.opened_at) == (EXIT, OPENER, 1_000)
    settled = fold(4, [Event("SessionSettled", {"session_id": 4, "bytes_used": 40})], record)
    assert (settled.bytes_paid, settled.status_name) == (40, "settled")


def test_refunded_and_swept_sessions_are_refunded():
    for name in ("SessionRefunded", "SessionSwept"):
        assert fold(4, [Event("SessionOpened", OPENED), Event(name, {"session_id": 4})]).status_name == "refunded"


def test_nothing_before_the_opening():
    assert fold(4, [Event("SessionCheckpointed", {"session_id": 4, "bytes_used": 30})]) is None
    assert fold(4, []) is None


def test_the_digest_changes_with_every_hashed_field_but_not_the_opening_time():
    from dataclasses import replace

    record = fold(4, [Event("SessionOpened", OPENED)])
    assert replace(record, opened_at=5).digest() == record.digest()
    for name in record.ABI_FIELDS:
        changed = "0x" + "ff" * 20 if isinstance(getattr(record, name), str) else getattr(record, name) + 1
        assert replace(record, **{name: changed}).digest() != record.digest(), name


def test_the_batch_limit_is_the_contracts():
    import re

    from octravpn.chain.build import CONTRACTS_DIR
    from octravpn.protocol.sessions import MAX_BATCH

    source = (CONTRACTS_DIR / "modules" / "sessions.vy").read_text()
    assert re.search(r"^MAX_BATCH: constant\(uint256\) = (\d+)$", source, re.M).group(1) == str(MAX_BATCH)
