"""`octravpn earnings show|claim`: an operator's settled earnings."""

from __future__ import annotations

import typer

from octravpn.cli.context import get, tx_summary
from octravpn.errors import UsageError

app = typer.Typer(
    name="earnings", help="See and claim an operator's earnings.", no_args_is_help=True, add_completion=False
)


@app.command()
def show(
    ctx: typer.Context,
    who: str = typer.Argument(None, help="Operator address or wallet (default: the selected wallet)."),
) -> None:
    """Unclaimed earnings."""
    app_ctx = get(ctx)
    address = app_ctx.address_of(who or app_ctx.wallet())
    client = app_ctx.client(signer=False)
    app_ctx.out.record(
        {
            "operator": address,
            "earnings": app_ctx.show_amount(client.earnings(address)),
            "reputation": app_ctx.show_amount(client.endpoint(address).reputation),
        },
        title="earnings",
    )


@app.command()
def claim(
    ctx: typer.Context, amount: str = typer.Argument(None, help="Amount to claim (default: everything).")
) -> None:
    """Withdraw earnings to the operator wallet."""
    app_ctx = get(ctx)
    client = app_ctx.client()
    available = client.earnings(client.wallet)
    value = app_ctx.amount(amount) if amount else available
    if value == 0:
        raise UsageError("nothing to claim: the wallet has no settled earnings")
    result = client.claim_earnings(value)
    app_ctx.out.record(
        {"claimed": app_ctx.show_amount(value), "left": app_ctx.show_amount(available - value), **tx_summary(result)},
        title="earnings claimed",
    )
