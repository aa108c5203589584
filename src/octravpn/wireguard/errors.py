"""The WireGuard layer's errors: one root, so a caller can catch the layer's failures in one clause.

WireGuardError
├── CommandError           `wg`, `ip` or `wireguard-go` failed (runner)
├── KeyFormatError         a key is not base64 of 32 bytes (also a ValueError)
├── DumpFormatError        `wg show dump` printed what the parser does not know (also a ValueError)
└── WireGuardConfigError   a configuration value WireGuard would refuse (also a ValueError)
"""


class WireGuardError(Exception):
    """A failure of the WireGuard layer."""
