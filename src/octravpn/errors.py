"""Errors that reach the user: each carries the exit code the CLI returns.

The message says what was wrong and what to do; the CLI prints it on one line.
"""


class OctraVPNError(Exception):
    """Base class: a failure the user can act on."""

    exit_code = 1


class UsageError(OctraVPNError):
    """The command was given bad input (an amount, an address, a name)."""

    exit_code = 2


class ConfigError(OctraVPNError):
    """The configuration file or an `OCTRAVPN_*` variable is invalid or incomplete."""

    exit_code = 3


class WalletError(OctraVPNError):
    """A wallet is missing, exists already, or its passphrase is wrong."""

    exit_code = 4
