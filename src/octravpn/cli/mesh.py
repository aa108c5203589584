"""`octravpn ping | ip`: the tailnet mesh as the daemon sees it (thin clients of octravpnd, like `status`)."""

from __future__ import annotations

from pathlib import Path

import typer

from octravpn.cli.connect import SOCKET_OPTION
from octravpn.cli.context import get
from octravpn.daemon.localclient import LocalAPI
from octravpn.daemon.paths import read_socket
from octravpn.errors import OctraVPNError, UsageError


class NoAnswer(OctraVPNError):
    """The peer answered none of the echo requests."""

    exit_code = 1


def _mesh(socket: Path) -> dict:
    mesh = LocalAPI(read_socket(socket), timeout=5.0).get("/v1/status").get("mesh") or {}
    if mesh.get("state") != "running":
        raise UsageError(
            f"the mesh is not running ({mesh.get('state', 'unknown')}): {mesh.get('error') or mesh.get('note') or ''}".rstrip(
                ": "
            )
        )
    return mesh


def ping(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="A device of your tailnet: its hostname, tailnet address or device key."),
    count: int = typer.Option(3, "--count", "-c", min=1, max=20, help="Echo requests to send."),
    socket: Path = SOCKET_OPTION,
) -> None:
    """Echo requests to a peer through the mesh: whether it answers, by which path, and the round trips."""
    app_ctx = get(ctx)
    answer = LocalAPI(read_socket(socket), timeout=5.0 + 3.0 * count).post(
        "/v1/ping", {"target": target, "count": count}
    )
    if app_ctx.as_json:
        app_ctx.out.record(answer)
    else:
        for index, rtt in enumerate(answer["rtt_ms"]):
            if rtt is None:
                print(f"no answer from {answer['name']} ({answer['address']}) to echo {index + 1}")
            else:
                print(
                    f"pong from {answer['name']} ({answer['address']}) via {answer['endpoint']} "
                    f"({answer['path']}) in {rtt:.2f} ms"
                )
    if not answer["answered"]:
        raise NoAnswer(f"{answer['name']} answered none of {answer['sent']} echo requests")


def ip(
    ctx: typer.Context,
    name: str = typer.Argument(None, help="A peer's hostname (default: this device)."),
    four: bool = typer.Option(False, "-4", help="Only the IPv4 address."),
    six: bool = typer.Option(False, "-6", help="Only the IPv6 address."),
    socket: Path = SOCKET_OPTION,
) -> None:
    """This device's tailnet addresses (IPv4, then IPv6), or those of the peer called NAME."""
    app_ctx = get(ctx)
    if four and six:
        raise UsageError("give -4 or -6, not both")
    mesh = _mesh(socket)
    if name is None:
        addresses = mesh["addresses"]
    else:
        wanted = name.lower().rstrip(".")
        found = [p for p in mesh.get("peers", []) if wanted in (p["name"], p["device"])]
        if not found:
            raise UsageError(f"no peer called {name!r}: `octravpn status` lists this device's peers")
        addresses = found[0]["addresses"]
    if four or six:
        addresses = [a for a in addresses if (":" in a) == six]
    if app_ctx.as_json:
        app_ctx.out.record({"name": name or mesh["hostname"], "addresses": addresses})
    else:
        print("\n".join(addresses))
