"""Loading a device's compiled policy filter onto its mesh interface (the I/O around `acl.nftables`)."""

from __future__ import annotations

from octravpn.acl.compile import DeviceFilter
from octravpn.acl.nftables import ruleset, table_name
from octravpn.wireguard.runner import CommandError, CommandRunner


def load_filter(runner: CommandRunner, device_filter: DeviceFilter, interface: str) -> None:
    """Replace the interface's filter in one nftables transaction: the old one holds until the new one does."""
    runner.run(["nft", "-f", "-"], stdin=ruleset(device_filter, interface))


def remove_filter(runner: CommandRunner, interface: str) -> bool:
    """Drop the interface's filter table; False if there was none."""
    try:
        runner.run(["nft", "delete", "table", "inet", table_name(interface)])
    except CommandError:
        return False
    return True
