"""The local API's request types, shared by the daemon and the command line (as Tailscale's `ipn` types are).

Standard library only (the thin command line imports this). Each type checks
what it is given and says what was wrong, so a bad request is a 400 with a
reason, whoever sent it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace

from octravpn.addresses import parse_address
from octravpn.errors import UsageError
from octravpn.mesh.prefs import MeshPrefs

INTERFACE_NAME = re.compile(r"^[A-Za-z0-9_=+.-]{1,15}$")  # Linux: at most 15 bytes
AMOUNT = re.compile(r"^[0-9]+(\.[0-9]+)?$")
MAX_KEEP_ALIVE = 30 * 86400


class WireError(UsageError):
    """A request the local API refuses (400)."""


def _kind(name: str, value, kinds: tuple[type, ...], *, optional: bool = False):
    if value is None and optional:
        return None
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise WireError(f"{name} must be {names}{' or null' if optional else ''}, got {value!r}")
    return value


@dataclass(frozen=True, kw_only=True)
class UpRequest:
    """`octravpn up`: the exit (an address or `auto`) and how to connect through it; kept as the daemon's prefs."""

    exit: str
    tailnet: int | None = None
    max_pay: str | None = None  # in the payment asset (e.g. "0.01"); the daemon knows its decimals
    session: int | None = None
    region: str | None = None
    max_price: str | None = None
    indexer: str | None = None
    interface: str = "ovpn0"
    kill_switch: bool = True
    accept_dns: bool = True
    leeway_mb: float = 1.0
    loss_percent: float = 10.0
    keep_alive: int = 86400  # seconds `down` leaves the session open for the next `up` (0: `down` ends it)

    def __post_init__(self) -> None:
        _kind("exit", self.exit, (str,))
        if self.exit != "auto":
            try:
                object.__setattr__(self, "exit", parse_address(self.exit, what="exit"))
            except UsageError as exc:
                raise WireError(str(exc)) from None
        for name in ("tailnet", "session"):
            value = _kind(name, getattr(self, name), (int,), optional=True)
            if value is not None and value < 0:
                raise WireError(f"{name} must be >= 0, got {value}")
        for name in ("max_pay", "max_price"):
            value = _kind(name, getattr(self, name), (str,), optional=True)
            if value is not None and not AMOUNT.match(value):
                raise WireError(f"{name} must be an amount like 0.01, got {value!r}")
        _kind("region", self.region, (str,), optional=True)
        indexer = _kind("indexer", self.indexer, (str,), optional=True)
        if indexer is not None and not indexer.startswith(("http://", "https://")):
            raise WireError(f"indexer must be an http(s):// URL, got {indexer!r}")
        if not INTERFACE_NAME.match(_kind("interface", self.interface, (str,))):
            raise WireError(f"interface {self.interface!r} is not a valid name (1-15 of letters, digits, _=+.-)")
        _kind("kill_switch", self.kill_switch, (bool,))
        _kind("accept_dns", self.accept_dns, (bool,))
        for name, top in (("leeway_mb", 1e6), ("loss_percent", 100.0)):
            value = _kind(name, getattr(self, name), (int, float))
            if not 0 <= value <= top:
                raise WireError(f"{name} must be between 0 and {top:g}, got {value}")
        keep_alive = _kind("keep_alive", self.keep_alive, (int,))
        if not 0 <= keep_alive <= MAX_KEEP_ALIVE:
            raise WireError(f"keep_alive must be between 0 and {MAX_KEEP_ALIVE} seconds (30 days), got {keep_alive}")
        if self.exit != "auto" and (self.region or self.max_price):
            raise WireError("--region and --max-price choose among exits: use them with --exit auto")

    @classmethod
    def from_json(cls, data) -> UpRequest:
        if not isinstance(data, dict):
            raise WireError("the request must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise WireError(f"unknown fields {unknown}: known are {sorted(known)}")
        if "exit" not in data:
            raise WireError("exit is required: an exit's address or `auto`")
        return cls(**data)

    def to_json(self) -> dict:
        return asdict(self)

    def with_tailnet(self, tailnet: int) -> UpRequest:
        return replace(self, tailnet=tailnet)


PREFERENCES = ("kill_switch", "accept_dns", "leeway_mb", "loss_percent")
MESH_PREFERENCES = {
    "mesh": "enabled",
    "hostname": "hostname",
    "mesh_tailnet": "tailnet",
    "relay": "relay",
    "mesh_dns": "dns",
}


def preferences(data) -> tuple[dict, dict]:
    """`set`'s body: (the connection's preferences to change, each checked as `up` checks it; the mesh's)."""
    allowed = (*PREFERENCES, *MESH_PREFERENCES)
    if not isinstance(data, dict) or not data or set(data) - set(allowed):
        raise WireError(f"the body must be an object with some of {', '.join(allowed)}")
    connection = {k: v for k, v in data.items() if k in PREFERENCES}
    UpRequest(exit="auto", **connection)  # the same checks as `up`'s
    mesh = {MESH_PREFERENCES[k]: v for k, v in data.items() if k in MESH_PREFERENCES}
    for name, kinds in (
        ("enabled", (bool,)),
        ("hostname", (str,)),
        ("tailnet", (int,)),
        ("relay", (bool,)),
        ("dns", (bool,)),
    ):
        if name in mesh:
            _kind(name, mesh[name], kinds)
    try:
        MeshPrefs().changed(**mesh)  # the same checks as the mesh's
    except UsageError as exc:
        raise WireError(str(exc)) from None
    return connection, mesh


MAX_PINGS = 20


def ping_request(data) -> tuple[str, int]:
    """`ping`'s body: the peer (hostname, tailnet address or device key) and how many echo requests."""
    if not isinstance(data, dict) or set(data) - {"target", "count"} or "target" not in data:
        raise WireError('the body must be {"target": NAME, "count": N}')
    target = _kind("target", data["target"], (str,))
    count = _kind("count", data.get("count", 3), (int,))
    if not 1 <= len(target) <= 253:
        raise WireError("target must be a hostname, a tailnet address or a device key")
    if not 1 <= count <= MAX_PINGS:
        raise WireError(f"count must be 1-{MAX_PINGS}, got {count}")
    return target, count


def down_request(data) -> tuple[float, bool]:
    """`down`'s body: how long to wait for a settlement, and whether to end the session (else it is left open
    for the next `up`)."""
    if not isinstance(data, dict) or set(data) - {"settle_wait", "end"}:
        raise WireError('the body must be {"settle_wait": SECONDS, "end": true|false}')
    return _settle_wait(data), _kind("end", data.get("end", False), (bool,))


def end_request(data) -> tuple[int | None, float]:
    """`session end`'s body: the session left open to end (null: every one), and how long to wait for each
    settlement."""
    if not isinstance(data, dict) or set(data) - {"session", "settle_wait"}:
        raise WireError('the body must be {"session": ID or null, "settle_wait": SECONDS}')
    session = _kind("session", data.get("session"), (int,), optional=True)
    if session is not None and session < 0:
        raise WireError(f"session must be >= 0, got {session}")
    return session, _settle_wait(data)


def _settle_wait(data: dict) -> float:
    value = _kind("settle_wait", data.get("settle_wait", 60.0), (int, float))
    if not 0 <= value <= 3600:
        raise WireError(f"settle_wait must be between 0 and 3600 seconds, got {value}")
    return float(value)


def confirmation(data) -> tuple[int, int]:
    """`session confirm` for a session this device opened: (session, bytes)."""
    if not isinstance(data, dict) or set(data) != {"session", "bytes_used"}:
        raise WireError('the body must be {"session": ID, "bytes_used": BYTES}')
    session, bytes_used = (_kind(name, data[name], (int,)) for name in ("session", "bytes_used"))
    if session < 0 or not 0 <= bytes_used < 2**256:
        raise WireError("session and bytes_used must be non-negative integers below 2**256")
    return session, bytes_used


def wallet_address(data) -> str:
    """`device consent`'s body: the wallet the device key will act for."""
    if not isinstance(data, dict) or set(data) != {"wallet"}:
        raise WireError('the body must be {"wallet": ADDRESS}')
    try:
        return parse_address(_kind("wallet", data["wallet"], (str,)), what="wallet")
    except UsageError as exc:
        raise WireError(str(exc)) from None
