"""`octravpn exits …`: discover exits through an indexer."""

from __future__ import annotations

import typer

from octravpn.cli.context import get
from octravpn.client.discovery import DEFAULT_INDEXER, IndexerClient
from octravpn.units import format_amount

app = typer.Typer(name="exits", help="Discover exits (through an indexer).", no_args_is_help=True)

INDEXER_OPTION = typer.Option(DEFAULT_INDEXER, "--indexer", envvar="OCTRAVPN_INDEXER", help="Indexer API URL.")


@app.command("list")
def list_exits(
    ctx: typer.Context,
    region: str = typer.Option(None, "--region", help="Only this region, e.g. eu-west."),
    max_price: str = typer.Option(None, "--max-price", help="Highest price per MB, in the asset's units (e.g. 0.000001)."),
    tailnet: int = typer.Option(None, "--tailnet", min=0, help="Only exits this tailnet allows."),
    all_: bool = typer.Option(False, "--all", help="Include exits that cannot serve now (retired, slashed, understaked)."),
    sort: str = typer.Option("price", "--sort", help="price, stake, reputation, registered or region; '-' before it: descending."),
    indexer: str = INDEXER_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON (same as the global --json)."),
) -> None:
    """Exits, cheapest first by default."""
    app_ctx = get(ctx)
    app_ctx.as_json = app_ctx.as_json or as_json
    client = app_ctx.client(signer=False)
    decimals, symbol = client.asset_decimals(), client.asset_symbol()
    api = IndexerClient(indexer)
    try:
        exits = api.exits(region=region, max_price=app_ctx.amount(max_price, what="max price") if max_price else None,
                          tailnet=tailnet, active=not all_, sort=sort)
    finally:
        api.close()
    rows = [{"address": e["address"], "region": e["region"], "endpoint": e["endpoint"],
             "price_per_mb": {"human": f"{format_amount(int(e['price_per_mb']), decimals)} {symbol}",
                              "base_units": int(e["price_per_mb"])},
             "stake": {"human": f"{format_amount(int(e['stake']), decimals)} {symbol}", "base_units": int(e["stake"])},
             "reputation": e["reputation"], "active": e["active"]} for e in exits]
    if app_ctx.out.as_json:
        rows = [{**r, "price_per_mb": r["price_per_mb"]["base_units"], "stake": r["stake"]["base_units"]} for r in rows]
    # The table keeps what people compare (it must fit a terminal); --json has every field.
    app_ctx.out.rows(rows, columns=["address", "region", "price_per_mb", "stake", "reputation"],
                     title=f"{len(rows)} exit{'' if len(rows) == 1 else 's'}")
