"""`--exit auto`'s rule: price first, then stake; reputation, which anyone can buy through a tailnet of their own
for the protocol fee, only breaks ties."""

from octravpn.client.discovery import best_exit

ETHER = 10**18


def _exit(address: str, *, price: int, stake: int, reputation: int = 0, active: bool = True) -> dict:
    return {
        "address": address,
        "price_per_mb": str(price),
        "stake": str(stake),
        "reputation": reputation,
        "active": active,
    }


def test_bought_reputation_does_not_beat_a_cheaper_better_staked_exit():
    """Found in review: reputation bought through a second wallet's tailnet made `--exit auto` pick an exit at
    five times the price with a tenth of the stake."""
    honest = _exit("0x" + "aa" * 20, price=2 * 10**12, stake=10 * ETHER)
    farmed = _exit("0x" + "bb" * 20, price=10 * 10**12, stake=ETHER, reputation=1_000 * ETHER)
    assert best_exit([farmed, honest]) is honest


def test_at_one_price_the_larger_stake_wins_whatever_the_reputation():
    small = _exit("0x" + "aa" * 20, price=10**12, stake=ETHER, reputation=ETHER)
    large = _exit("0x" + "bb" * 20, price=10**12, stake=2 * ETHER)
    assert best_exit([small, large]) is large


def test_reputation_breaks_a_tie_counted_up_to_the_stake_then_the_address_decides():
    plain = _exit("0x" + "01" * 20, price=10**12, stake=ETHER)
    reputed = _exit("0x" + "02" * 20, price=10**12, stake=ETHER, reputation=ETHER // 2)
    assert best_exit([plain, reputed]) is reputed
    beyond = _exit("0x" + "03" * 20, price=10**12, stake=ETHER, reputation=ETHER)
    capped = _exit("0x" + "04" * 20, price=10**12, stake=ETHER, reputation=50 * ETHER)
    assert best_exit([capped, beyond]) is beyond  # both count up to their stake: the lower address wins


def test_only_exits_that_can_serve_now_are_chosen():
    assert best_exit([_exit("0x" + "aa" * 20, price=1, stake=ETHER, active=False)]) is None
    assert best_exit([]) is None
