"""Which of a peer's announced endpoints WireGuard should send to. Pure: no clock of its own, no I/O.

A device announces the endpoints its peers observe for it (its NAT's public address:port) first, then the
addresses of its own interfaces. For each peer this device tries, in order: an endpoint on a network it is
on itself (the same LAN: no NAT in between), then the others in the order announced. A candidate that brings
no handshake within `TRY_SECONDS` gives way to the next, round and round. A peer with a recent handshake
keeps the endpoint WireGuard has for it now: WireGuard learns it from the peer's authenticated packets (it
follows a peer that roams, or whose NAT mapping changed), and nothing should override a working path.
"""

from __future__ import annotations

from dataclasses import dataclass

from octravpn.protocol.announce import parse_endpoint

TRY_SECONDS = 12.0  # two of WireGuard's handshake retries (every 5 s) per candidate
FRESH_SECONDS = 180.0  # WireGuard rekeys every 2 minutes: a handshake older than this means the path is gone


@dataclass(frozen=True)
class Attempt:
    endpoint: str
    since: float  # when this device began sending there
    options: tuple[str, ...] = ()  # the candidates it was chosen from


def is_fresh(last_handshake: float, now: float) -> bool:
    """A handshake recent enough that WireGuard still has a path to the peer (0: never)."""
    return bool(last_handshake) and now - last_handshake < FRESH_SECONDS


def candidates(announced: tuple[str, ...], local_networks: tuple) -> list[str]:
    """The peer's endpoints, those on one of this device's own networks first."""
    near: list[str] = []
    far: list[str] = []
    for endpoint in announced:
        try:
            address, _ = parse_endpoint(endpoint)
        except ValueError:
            continue
        (near if any(address in network for network in local_networks) else far).append(endpoint)
    return near + far


def choose(
    announced: tuple[str, ...],
    local_networks: tuple,
    *,
    attempt: Attempt | None,
    live_endpoint: str | None,
    last_handshake: float,
    now: float,
) -> Attempt | None:
    """The endpoint to configure for one peer now (None: it announced none)."""
    options = tuple(candidates(announced, local_networks))
    if live_endpoint and is_fresh(last_handshake, now):
        if attempt is not None and attempt.endpoint == live_endpoint:
            return attempt
        return Attempt(live_endpoint, now, options)
    if not options:
        return None
    if attempt is None or attempt.options != options or attempt.endpoint not in options:
        # new; or it announced other endpoints; or the path WireGuard had went quiet: the best candidate first
        return Attempt(options[0], now, options)
    if now - attempt.since < TRY_SECONDS or (last_handshake and last_handshake >= attempt.since):
        return attempt
    following = options[(options.index(attempt.endpoint) + 1) % len(options)]
    return Attempt(following, now, options)
