"""The signing clock: lag is judged only when clients could have signed."""

from octravpn.node.health import SigningClock


def test_a_start_gives_clients_time_to_catch_up():
    clock = SigningClock(catch_up=15, now=100)
    assert not clock.judging(110)
    assert clock.judging(115)


def test_an_outage_pauses_judging_and_is_reported_once():
    clock = SigningClock(catch_up=15, now=0)
    assert clock.judging(20)
    assert clock.chain_failed(20) is True
    assert clock.chain_failed(22) is False  # still the same outage: said once
    assert not clock.judging(80) and clock.chain_down
    assert clock.chain_answered(80) == 60
    assert clock.chain_answered(81) is None
    assert not clock.judging(94)  # catching up
    assert clock.judging(95)
