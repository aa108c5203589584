import pytest

from octravpn.protocol import LocalProtocolError, Receipt, RemoteProtocolError
from octravpn.protocol.metering import (
    ActivityWatch,
    Claim,
    ClientMeter,
    Cut,
    ExitMeter,
    RequestReceipt,
    SettleWithReceipt,
    affordable_bytes,
    confirmation_figure,
)

MB = 1_000_000
PRICE = 2 * 10**12
DEPOSIT = 10**16  # covers 5,000 MB at PRICE


def _meter(**kw):
    args = dict(session_id=3, price_per_mb=PRICE, deposit=DEPOSIT, receipt_every=10 * MB, max_unsigned=25 * MB)
    return ExitMeter(**{**args, **kw})


def test_affordable_bytes_is_exact_at_the_contract_formula():
    limit = affordable_bytes(DEPOSIT, PRICE)
    assert limit * PRICE // MB <= DEPOSIT < (limit + 1) * PRICE // MB
    assert affordable_bytes(7, 3) * 3 // MB <= 7 < (affordable_bytes(7, 3) + 1) * 3 // MB


def test_requests_a_receipt_every_interval():
    meter = _meter()
    assert meter.observe(9 * MB) == []
    assert meter.observe(10 * MB) == [RequestReceipt(1, 10 * MB)]
    assert meter.observe(15 * MB) == []
    assert meter.observe(21 * MB) == [RequestReceipt(2, 21 * MB)]


def test_a_client_that_stops_signing_is_cut():
    meter = _meter()
    meter.observe(10 * MB)
    meter.receipt(Receipt(session_id=3, seq=1, bytes_used=10 * MB), b"sig1")
    assert meter.observe(30 * MB) == [RequestReceipt(2, 30 * MB)]
    assert meter.observe(36 * MB) == [Cut("client lags in signing receipts")]
    assert meter.observe(40 * MB) == []  # cut once
    settle = meter.settlement()
    assert settle == SettleWithReceipt(Receipt(session_id=3, seq=1, bytes_used=10 * MB), b"sig1")


def test_deposit_used_up_requests_a_last_receipt_and_cuts():
    meter = _meter(deposit=PRICE * 12, max_unsigned=100 * MB)  # 12 MB affordable
    meter.observe(10 * MB)
    assert meter.observe(13 * MB) == [RequestReceipt(2, 12 * MB), Cut("deposit used up")]
    assert meter.settlement() == Claim(12 * MB)  # never above what the deposit covers


def test_claims_never_exceed_what_was_measured():
    meter = _meter()
    meter.observe(4 * MB)
    assert meter.settlement() == Claim(4 * MB)
    assert _meter().settlement() is None


@pytest.mark.parametrize(
    "receipt, reason",
    [
        (Receipt(session_id=4, seq=1, bytes_used=MB), "not 3"),
        (Receipt(session_id=3, seq=1, bytes_used=11 * MB), "more bytes than the exit asked for"),
    ],
)
def test_bad_receipts_are_refused(receipt, reason):
    meter = _meter()
    meter.observe(10 * MB)
    with pytest.raises(RemoteProtocolError, match=reason):
        meter.receipt(receipt, b"sig")


def test_older_receipts_are_refused():
    meter = _meter()
    meter.observe(20 * MB)
    meter.receipt(Receipt(session_id=3, seq=2, bytes_used=20 * MB), b"s2")
    with pytest.raises(RemoteProtocolError, match="older"):
        meter.receipt(Receipt(session_id=3, seq=1, bytes_used=10 * MB), b"s1")


def test_counters_must_not_go_backwards():
    with pytest.raises(LocalProtocolError, match="backwards"):
        m = _meter()
        m.observe(5)
        m.observe(4)


def test_client_signs_only_what_it_saw_plus_leeway():
    client = ClientMeter(session_id=3, leeway=64_000)
    client.observe(10 * MB)
    assert client.receipt_for(1, 10 * MB + 64_000) == Receipt(session_id=3, seq=1, bytes_used=10 * MB + 64_000)
    # Asked for more than it saw plus the leeway, it signs what it saw plus the leeway.
    assert client.receipt_for(2, 10 * MB + 64_001) == Receipt(session_id=3, seq=2, bytes_used=10 * MB + 64_000)
    with pytest.raises(RemoteProtocolError, match="not after"):
        client.receipt_for(2, 10 * MB)
    client.observe(20 * MB)
    with pytest.raises(RemoteProtocolError, match="cumulative"):
        client.receipt_for(3, 5 * MB)
    assert client.receipt_for(3, 20 * MB).seq == 3


def test_meter_arguments_are_checked():
    with pytest.raises(LocalProtocolError):
        _meter(max_unsigned=MB)
    with pytest.raises(LocalProtocolError):
        ClientMeter(session_id=1, leeway=-1)


def test_restore_resumes_after_the_saved_receipt():
    meter = _meter()
    meter.restore(measured=12 * MB, latest=(Receipt(session_id=3, seq=4, bytes_used=10 * MB), b"s4"))
    assert meter.signed_bytes == 10 * MB and meter.settlement().receipt.seq == 4
    assert meter.observe(19 * MB) == []
    assert meter.observe(20 * MB) == [RequestReceipt(5, 20 * MB)]
    with pytest.raises(LocalProtocolError, match="does not belong"):
        _meter().restore(measured=5 * MB, latest=(Receipt(session_id=3, seq=1, bytes_used=6 * MB), b"s"))


def test_ending_asks_once_for_the_bytes_not_yet_requested():
    meter = _meter()
    meter.observe(10 * MB)
    meter.receipt(Receipt(session_id=3, seq=1, bytes_used=10 * MB), b"sig1")
    meter.observe(13 * MB)
    assert meter.fully_signed
    assert meter.end("closed by the client") == [RequestReceipt(2, 13 * MB), Cut("closed by the client")]
    assert not meter.fully_signed
    assert meter.end("again") == []  # ended once
    meter.receipt(Receipt(session_id=3, seq=2, bytes_used=13 * MB), b"sig2")
    assert meter.fully_signed
    assert meter.settlement() == SettleWithReceipt(Receipt(session_id=3, seq=2, bytes_used=13 * MB), b"sig2")


def test_ending_with_everything_requested_only_cuts():
    meter = _meter()
    meter.observe(10 * MB)
    assert meter.end("idle") == [Cut("idle")]
    assert meter.observe(12 * MB) == []  # nothing more is asked for after the end


def test_a_client_meter_resumes_from_saved_state():
    meter = ClientMeter(session_id=3, leeway=MB)
    meter.restore(measured=20 * MB, last=Receipt(session_id=3, seq=2, bytes_used=20 * MB))
    with pytest.raises(RemoteProtocolError, match="not after 2"):
        meter.receipt_for(2, 20 * MB)  # already signed before the restart
    assert meter.receipt_for(3, 21 * MB) == Receipt(session_id=3, seq=3, bytes_used=21 * MB)
    with pytest.raises(LocalProtocolError, match="does not belong"):
        ClientMeter(session_id=3, leeway=0).restore(measured=MB, last=Receipt(session_id=4, seq=1, bytes_used=MB))


# --------------------------------------------------------- hardening


def test_a_restored_meter_continues_after_the_newest_issued_request():
    meter = ExitMeter(session_id=1, price_per_mb=1, deposit=10**18, receipt_every=10, max_unsigned=100)
    meter.restore(measured=50, latest=None, issued=RequestReceipt(3, 40))
    assert (meter.seq, meter.requested, meter.signed) == (3, 40, None)  # seq 3 still awaits its signature
    assert meter.observe(60) == [RequestReceipt(4, 60)]  # never seq 3 again


def test_a_saved_request_beyond_the_saved_usage_is_refused():
    meter = ExitMeter(session_id=1, price_per_mb=1, deposit=10**18, receipt_every=10, max_unsigned=100)
    with pytest.raises(LocalProtocolError):
        meter.restore(measured=30, latest=None, issued=RequestReceipt(1, 40))


def test_lag_is_judged_only_when_asked():
    meter = ExitMeter(session_id=1, price_per_mb=1, deposit=10**18, receipt_every=10, max_unsigned=20)
    assert meter.observe(50, judge_lag=False) == [RequestReceipt(1, 50)]
    assert meter.cut is None
    assert meter.observe(50) == [Cut("client lags in signing receipts")]


def test_keepalives_and_handshakes_alone_are_idle():
    watch = ActivityWatch(timeout=900, noise_per_second=8)
    measured = 0
    for second in range(0, 901, 25):  # a 32-byte keepalive each way every 25 s, a handshake every 2 min
        measured += 64 + (240 if second % 120 == 0 else 0)
        assert not watch.idle(7, measured, now=second)
    assert watch.idle(7, measured + 64, now=926)


def test_traffic_keeps_a_session_active():
    watch = ActivityWatch(timeout=60, noise_per_second=8)
    assert not watch.idle(7, 0, now=0)
    assert not watch.idle(7, 500, now=50)  # 500 >= 60 s * 8 bytes/s: active at 50
    assert not watch.idle(7, 600, now=100)
    assert watch.idle(7, 600, now=111)


@pytest.mark.parametrize(
    "claimed, own, tolerance, confirmed",
    [
        (1_050, 1_000, 5, 1_050),  # 5 % above: accepted
        (1_051, 1_000, 5, 1_000),  # over: the own figure (a dispute)
        (900, 1_000, 0, 900),  # below the own figure: always accepted
        (1_000, 1_000, 0, 1_000),
        (1, 0, 100, 0),
    ],
)
def test_confirmation_figure(claimed, own, tolerance, confirmed):
    assert confirmation_figure(claimed=claimed, own=own, tolerance_percent=tolerance) == confirmed


def test_a_negative_tolerance_is_refused():
    with pytest.raises(LocalProtocolError):
        confirmation_figure(claimed=1, own=1, tolerance_percent=-1)


def test_the_client_signs_for_lost_datagrams_up_to_its_loss_tolerance():
    client = ClientMeter(session_id=7, leeway=0, loss_percent=5)
    client.observe(1_000_000)
    assert client.receipt_for(1, 1_050_000).bytes_used == 1_050_000  # the exit counted 5 % it sent that was lost
    assert client.receipt_for(2, 1_200_000).bytes_used == 1_050_000  # 5 % more than it saw is the most


def test_the_exit_leaves_its_loss_allowance_out_of_the_lag():
    meter = ExitMeter(
        session_id=1, price_per_mb=1, deposit=10**18, receipt_every=10, max_unsigned=100, max_loss_percent=10
    )
    meter.observe(1_000, judge_lag=False)  # a burst while the exit was catching up
    meter.receipt(Receipt(session_id=1, seq=1, bytes_used=850), b"sig")  # the client saw 15 % less
    assert meter.fully_signed  # it answered the request, for less
    assert meter.observe(1_000) == []  # 150 unsigned <= 100 + 10 % of 1,000
    assert meter.observe(1_100)[-1] == Cut("client lags in signing receipts")  # 250 > 100 + 110
