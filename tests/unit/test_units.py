import pytest

from octravpn.errors import UsageError
from octravpn.units import format_amount, parse_amount


@pytest.mark.parametrize(
    "text, decimals, base",
    [
        ("1.5", 18, 1_500_000_000_000_000_000),
        ("0.000002", 18, 2_000_000_000_000),
        ("1_000", 6, 1_000_000_000),
        ("7", 0, 7),
        (" 2.50 ", 6, 2_500_000),
    ],
)
def test_parse(text, decimals, base):
    assert parse_amount(text, decimals) == base


@pytest.mark.parametrize(
    "text, reason",
    [
        ("abc", "is not a number"),
        ("1.0000001", "more than 6 decimal places"),
        ("-1", "greater than zero"),
        ("0", "greater than zero"),
        ("nan", "greater than zero"),
        ("inf", "greater than zero"),
    ],
)
def test_parse_refuses(text, reason):
    with pytest.raises(UsageError, match=reason):
        parse_amount(text, 6)


def test_zero_allowed_when_asked():
    assert parse_amount("0", 6, allow_zero=True) == 0


@pytest.mark.parametrize(
    "base, decimals, text",
    [
        (1_500_000_000_000_000_000, 18, "1.5"),
        (0, 18, "0"),
        (1, 18, "0.000000000000000001"),
        (10**6, 6, "1"),
        (12, 0, "12"),
    ],
)
def test_format(base, decimals, text):
    assert format_amount(base, decimals) == text
    assert parse_amount(text, decimals, allow_zero=True) == base
