"""Policy routing that lets the mesh's own WireGuard packets leave by the host's uplink, even while an exit
tunnel holds the default route.

The mesh interface marks its UDP packets (`MESH_FWMARK`); two rules per family send marked packets by the main
table with its `/1` and default routes ignored (`suppress_prefixlength 1`), then by a copy of the host's
default routes (`UPLINK_TABLE`). So a peer's encrypted packets never go inside an exit's tunnel, and the exit's
kill switch lets exactly them (`meta mark`) through.
"""

from __future__ import annotations

import json

from octravpn.wireguard.runner import CommandError, CommandRunner

MESH_FWMARK = 0x6F76  # "ov": the mesh interface's own (encrypted) packets
RULE_PRIORITY = 5270  # then RULE_PRIORITY + 1; well before the main table's 32766
UPLINK_TABLE = 5270  # the host's default routes, for the mesh's packets only
FAMILIES = ("-4", "-6")


def ensure_uplink_rules(runner: CommandRunner) -> None:
    """The two rules per family (added if missing) and the uplink table kept equal to the main table's default
    routes, which may change (DHCP, roaming) while the mesh runs."""
    for family in FAMILIES:
        present = {rule.get("priority") for rule in _json(runner, "ip", "-j", family, "rule", "show")}
        mark = f"{MESH_FWMARK:#x}"
        wanted = {
            RULE_PRIORITY: ["lookup", "main", "suppress_prefixlength", "1"],
            RULE_PRIORITY + 1: ["lookup", str(UPLINK_TABLE)],
        }
        for priority, action in wanted.items():
            if priority not in present:
                runner.run(["ip", family, "rule", "add", "fwmark", mark, *action, "pref", str(priority)])
        defaults = _default_routes(_json(runner, "ip", "-j", family, "route", "show", "default"))
        current = _default_routes(
            _json(runner, "ip", "-j", family, "route", "show", "table", str(UPLINK_TABLE), "default")
        )
        if sorted(map(tuple, defaults)) != sorted(map(tuple, current)):
            _flush_uplink_table(runner, family)
            for route in defaults:
                runner.run(["ip", family, "route", "replace", *route, "table", str(UPLINK_TABLE)])


def remove_uplink_rules(runner: CommandRunner) -> None:
    for family in FAMILIES:
        for priority in (RULE_PRIORITY, RULE_PRIORITY + 1):
            try:
                runner.run(["ip", family, "rule", "del", "pref", str(priority)])
            except CommandError:
                pass
        _flush_uplink_table(runner, family)


def _json(runner: CommandRunner, *argv: str) -> list[dict]:
    try:
        return json.loads(runner.run(list(argv)) or "[]")
    except (CommandError, ValueError):
        return []  # a family the host does not have (no IPv6): nothing there


def _flush_uplink_table(runner: CommandRunner, family: str) -> None:
    try:
        runner.run(["ip", family, "route", "flush", "table", str(UPLINK_TABLE)])
    except CommandError:
        pass  # the kernel has no such table until a route is put in it


def _default_routes(routes: list[dict]) -> list[list[str]]:
    """`ip route` arguments for each default route among `routes`."""
    return [argv for argv in map(_route_args, routes) if argv is not None]


def _route_args(route: dict) -> list[str] | None:
    """`ip route` arguments for a default route as `ip -j` shows it."""
    if route.get("dst") != "default" or not route.get("dev"):
        return None
    argv = ["default"]
    if route.get("gateway"):
        argv += ["via", route["gateway"]]
    return argv + ["dev", route["dev"]]
