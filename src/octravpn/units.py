"""Amounts in human units ("1.5") and in the asset's base units (integers)."""

from __future__ import annotations

from decimal import Context, Decimal, InvalidOperation, localcontext

from octravpn.errors import UsageError

NATIVE_SYMBOL = "ETH"  # the chain's own coin, which pays gas (and stakes, where it is the payment asset)
NATIVE_DECIMALS = 18
UINT256_MAX = 2**256 - 1  # the most any amount argument of the contract can hold
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_amount(text: str, decimals: int, *, what: str = "amount", allow_zero: bool = False) -> int:
    """`"1.5"` with 18 decimals is 1_500_000_000_000_000_000; exactness is required."""
    try:
        value = Decimal(text.strip().replace("_", ""))
    except (InvalidOperation, AttributeError) as exc:
        raise UsageError(f"{what} {text!r} is not a number: write it like 1.5") from exc
    if not value.is_finite() or value < 0 or (value == 0 and not allow_zero):
        raise UsageError(f"{what} must be {'zero or more' if allow_zero else 'greater than zero'}, got {text!r}")
    if value.adjusted() > 100:  # far above any uint256 whatever the decimals; keeps the exact arithmetic small
        raise UsageError(f"{what} {text!r} is more than the contract can hold")
    with localcontext(Context(prec=200)):  # exact: the default 28 digits would round large amounts
        base = value.scaleb(decimals)
    if base != base.to_integral_value():
        raise UsageError(f"{what} {text!r} has more than {decimals} decimal places")
    if base > UINT256_MAX:
        raise UsageError(
            f"{what} {text!r} is more than the contract can hold (at most {format_amount(UINT256_MAX, decimals)})"
        )
    return int(base)


def format_amount(base_units: int, decimals: int) -> str:
    """1_500_000_000_000_000_000 with 18 decimals is "1.5" (exact, however large)."""
    whole, fraction = divmod(base_units, 10**decimals)
    if fraction == 0:
        return str(whole)
    return f"{whole}.{fraction:0{decimals}d}".rstrip("0")


def human_amount(base_units: int, decimals: int, symbol: str) -> str:
    """How every command shows an amount to people: `1.5 ETH (1500000000000000000)`."""
    return f"{format_amount(base_units, decimals)} {symbol} ({base_units})"


def amount_record(base_units: int, decimals: int, symbol: str) -> dict:
    """How every command shows an amount in JSON (and, through `human`, in tables)."""
    return {
        "amount": format_amount(base_units, decimals),
        "base_units": base_units,
        "symbol": symbol,
        "human": human_amount(base_units, decimals, symbol),
    }


def parse_duration(text: str) -> int:
    """`90s`, `15m`, `24h`, `7d` to seconds."""
    unit = text[-1:].lower()
    if unit not in _DURATION_UNITS or not text[:-1].isdigit() or int(text[:-1]) == 0:
        raise UsageError(f"duration {text!r}: write a positive number with s, m, h or d, e.g. 24h")
    return int(text[:-1]) * _DURATION_UNITS[unit]


def parse_keep_alive(text: str) -> int:
    """A keep-alive: a duration (`24h`), or `0` for none."""
    return 0 if text.strip() == "0" else parse_duration(text)


def format_duration(seconds: int) -> str:
    """`3h 20m`, `2d 4h`, `45s`: the two largest units, for a wait a person reads."""
    seconds = max(int(seconds), 0)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2])
