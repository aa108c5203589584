"""`octravpn exits …`: discover exits through an indexer."""

from __future__ import annotations

import typer

from octravpn.cli.context import get
from octravpn.client.discovery import DEFAULT_INDEXER, IndexerClient

app = typer.Typer(name="exits", help="Discover exits (through an indexer).", no_args_is_help=True, add_completion=False)

INDEXER_OPTION = typer.Option(DEFAULT_INDEXER, "--indexer", envvar="OCTRAVPN_INDEXER", help="Indexer API URL.")


@app.command("list")
def list_exits(
    ctx: typer.Context,
    region: str = typer.Option(None, "--region", help="Only this region, e.g. eu-west."),
    max_price: str = typer.Option(
        None, "--max-price", help="Highest price per MB, in the asset's units (e.g. 0.000001)."
    ),
    tailnet: int = typer.Option(None, "--tailnet", min=0, help="Only exits this tailnet allows."),
    all_: bool = typer.Option(
        False, "--all", help="Include exits that cannot serve now (retired, slashed, understaked)."
    ),
    sort: str = typer.Option(
        "price", "--sort", help="price, stake, reputation, registered or region; '-' before it: descending."
    ),
    indexer: str = INDEXER_OPTION,
) -> None:
    """Exits, cheapest first by default; with --all, the ones that cannot serve now too, and why."""
    app_ctx = get(ctx)
    api = IndexerClient(indexer)
    try:
        exits = api.exits(
            region=region,
            max_price=app_ctx.amount(max_price, what="max price") if max_price else None,
            tailnet=tailnet,
            active=not all_,
            sort=sort,
        )
    finally:
        api.close()
    rows = [
        {
            "address": e["address"],
            "region": e["region"],
            "endpoint": e["endpoint"],
            "price_per_mb": app_ctx.show_amount(int(e["price_per_mb"])),
            "stake": app_ctx.show_amount(int(e["stake"])),
            "reputation": app_ctx.show_amount(int(e["reputation"])),
            "state": _state(e),
        }
        for e in exits
    ]
    # The table keeps what people compare (it must fit a terminal); --json has every field.
    columns = ["address", "region", "price_per_mb", "stake", "reputation"] + (["state"] if all_ else [])
    app_ctx.out.rows(rows, columns=columns, title=f"{len(rows)} exit{'' if len(rows) == 1 else 's'}")


def _state(exit_row: dict) -> str:
    """Why an exit can or cannot serve: active, slashed, retired or unbonding, or understaked."""
    if exit_row["active"]:
        return "active"
    if exit_row["slashed"]:
        return "slashed"
    if not exit_row["listed"]:
        return "retired"  # by its operator, or unbonding
    return "understaked"
