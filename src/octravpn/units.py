"""Amounts in human units ("1.5") and in the asset's base units (integers)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from octravpn.errors import UsageError


def parse_amount(text: str, decimals: int, *, what: str = "amount", allow_zero: bool = False) -> int:
    """`"1.5"` with 18 decimals is 1_500_000_000_000_000_000; exactness is required."""
    try:
        value = Decimal(text.strip().replace("_", ""))
    except (InvalidOperation, AttributeError) as exc:
        raise UsageError(f"{what} {text!r} is not a number: write it like 1.5") from exc
    if not value.is_finite() or value < 0 or (value == 0 and not allow_zero):
        raise UsageError(f"{what} must be {'zero or more' if allow_zero else 'greater than zero'}, got {text!r}")
    base = value.scaleb(decimals)
    if base != base.to_integral_value():
        raise UsageError(f"{what} {text!r} has more than {decimals} decimal places")
    return int(base)


def format_amount(base_units: int, decimals: int) -> str:
    """1_500_000_000_000_000_000 with 18 decimals is "1.5"."""
    text = format(Decimal(base_units).scaleb(-decimals), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
