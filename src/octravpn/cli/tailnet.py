"""`octravpn tailnet …`: groups of members with a treasury, exits and an ACL."""

from __future__ import annotations

from pathlib import Path

import typer
from eth_hash.auto import keccak

from octravpn.addresses import parse_address
from octravpn.chain.events import tailnet_membership
from octravpn.cli.acl import checked_policy
from octravpn.cli.context import get, tx_summary
from octravpn.errors import UsageError
from octravpn.protocol.errors import ProtocolError
from octravpn.protocol.invites import Invite
from octravpn.units import parse_duration

app = typer.Typer(
    name="tailnet",
    help="Create and manage tailnets, members, exits, ACLs and invites.",
    no_args_is_help=True,
    add_completion=False,
)


def _tailnet_row(app_ctx, tailnet_id: int, *, detail: bool) -> dict:
    client = app_ctx.client(signer=False)
    record = client.tailnet(tailnet_id)
    row = {
        "id": tailnet_id,
        "owner": record.owner,
        "treasury": app_ctx.show_amount(record.treasury),
        "members": record.member_count,
        "exits": record.exit_count,
        "acl_hash": "0x" + record.acl_policy.hex(),
        "created_at": record.created_at,
    }
    if detail:
        row["member_list"], row["exit_list"] = tailnet_membership(client.events(), tailnet_id)
    return row


@app.command()
def create(
    ctx: typer.Context,
    deposit: str = typer.Option(..., "--deposit", help="Initial treasury, in the asset's units."),
    acl: Path = typer.Option(..., "--acl", help="ACL policy file; it goes on chain (at most 16 KiB)."),
    force: bool = typer.Option(
        False, "--force", help="Publish the policy even if it does not parse or its tests fail."
    ),
) -> None:
    """Create a tailnet you own, funded with --deposit. The policy must parse and pass its own tests."""
    app_ctx = get(ctx)
    document = checked_policy(acl, force=force)
    tailnet_id, result = app_ctx.client().create_tailnet(document, app_ctx.amount(deposit, what="deposit"))
    app_ctx.out.record(
        {**_tailnet_row(app_ctx, tailnet_id, detail=False), **tx_summary(result)}, title="tailnet created"
    )


@app.command()
def show(ctx: typer.Context, tailnet_id: int = typer.Argument(..., help="Tailnet id.")) -> None:
    """A tailnet with its members and exits."""
    app_ctx = get(ctx)
    app_ctx.out.record(_tailnet_row(app_ctx, tailnet_id, detail=True), title=f"tailnet {tailnet_id}")


@app.command("list")
def list_(
    ctx: typer.Context, mine: bool = typer.Option(False, "--mine", help="Only tailnets the selected wallet owns.")
) -> None:
    """All tailnets."""
    app_ctx = get(ctx)
    client = app_ctx.client(signer=False)
    me = app_ctx.address_of(app_ctx.wallet()) if mine else None
    rows = [_tailnet_row(app_ctx, i, detail=False) for i in range(client.tailnet_count())]
    rows = [r for r in rows if me is None or r["owner"] == me]
    app_ctx.out.rows(rows, columns=["id", "owner", "treasury", "members", "exits"], title="tailnets")


@app.command()
def deposit(
    ctx: typer.Context, tailnet_id: int = typer.Argument(...), amount: str = typer.Argument(..., help="Amount to add.")
) -> None:
    """Top up a tailnet's treasury (anyone may)."""
    app_ctx = get(ctx)
    result = app_ctx.client().deposit_to_tailnet(tailnet_id, app_ctx.amount(amount))
    app_ctx.out.record(
        {"treasury": app_ctx.show_amount(result.event("TailnetDeposit").args["new_treasury"]), **tx_summary(result)}
    )


@app.command()
def withdraw(
    ctx: typer.Context,
    tailnet_id: int = typer.Argument(...),
    amount: str = typer.Argument(...),
    to: str = typer.Option(None, "--to", help="Receiver (default: the owner wallet)."),
) -> None:
    """Withdraw unlocked treasury (owner only)."""
    app_ctx = get(ctx)
    client = app_ctx.client()
    receiver = app_ctx.address_of(to) if to else client.wallet
    result = client.withdraw_from_tailnet(tailnet_id, receiver, app_ctx.amount(amount))
    app_ctx.out.record(
        {
            "to": receiver,
            "treasury": app_ctx.show_amount(result.event("TailnetWithdrawal").args["new_treasury"]),
            **tx_summary(result),
        }
    )


def _owner_change(ctx: typer.Context, tailnet_id: int, who: str, function: str, label: str) -> None:
    """An owner-only change that names one address: a member or an exit."""
    app_ctx = get(ctx)
    address = app_ctx.address_of(who)
    result = getattr(app_ctx.client(), function)(tailnet_id, address)
    app_ctx.out.record({"tailnet": tailnet_id, label: address, **tx_summary(result)})


@app.command("add-member")
def add_member(
    ctx: typer.Context,
    tailnet_id: int = typer.Argument(...),
    member: str = typer.Argument(..., help="Address or wallet."),
) -> None:
    """Add a member (owner only)."""
    _owner_change(ctx, tailnet_id, member, "add_member", "member_added")


@app.command("remove-member")
def remove_member(ctx: typer.Context, tailnet_id: int = typer.Argument(...), member: str = typer.Argument(...)) -> None:
    """Remove a member (owner only)."""
    _owner_change(ctx, tailnet_id, member, "remove_member", "member_removed")


@app.command("add-exit")
def add_exit(
    ctx: typer.Context,
    tailnet_id: int = typer.Argument(...),
    exit_: str = typer.Argument(..., metavar="EXIT", help="Exit operator address or wallet."),
) -> None:
    """Let members use an exit (owner only)."""
    _owner_change(ctx, tailnet_id, exit_, "configure_tailnet_exit", "exit_added")


@app.command("remove-exit")
def remove_exit(
    ctx: typer.Context, tailnet_id: int = typer.Argument(...), exit_: str = typer.Argument(..., metavar="EXIT")
) -> None:
    """Stop new sessions through an exit (owner only)."""
    _owner_change(ctx, tailnet_id, exit_, "remove_tailnet_exit", "exit_removed")


@app.command("set-acl")
def set_acl(
    ctx: typer.Context,
    tailnet_id: int = typer.Argument(...),
    policy: Path = typer.Argument(..., help="ACL policy file."),
    force: bool = typer.Option(False, "--force", help="Publish it even if it does not parse or its tests fail."),
) -> None:
    """Publish a new ACL policy (owner only): the document goes on chain, where every device reads it. It must
    parse and pass its own tests."""
    app_ctx = get(ctx)
    document = checked_policy(policy, force=force)
    result = app_ctx.client().update_acl(tailnet_id, document)
    app_ctx.out.record({"tailnet": tailnet_id, "acl_hash": "0x" + keccak(document).hex(), **tx_summary(result)})


@app.command()
def tag(
    ctx: typer.Context,
    tailnet_id: int = typer.Argument(...),
    device: str = typer.Argument(..., help="The device key's address (or a member's wallet acting as a device)."),
    tags: list[str] = typer.Argument(None, metavar="[TAG]...", help="tag:NAME, as many as it carries; none to untag."),
) -> None:
    """Give a device of the tailnet exactly these tags (any member may send it; it holds where the policy's
    tagOwners let the sender apply every tag it adds or removes, which is checked here first)."""
    from octravpn.acl.tags import grant_refusal
    from octravpn.mesh.policy_keeper import parsed_or_none as policy_of
    from octravpn.mesh.roster import roster
    from octravpn.mesh.tagging import device_tags

    app_ctx = get(ctx)
    client = app_ctx.client()
    checksummed = app_ctx.address_of(device, what="device")
    address = checksummed.lower()
    wanted = tuple(dict.fromkeys(t.strip().lower() for t in tags or () if t.strip()))
    events = client.events()
    members = roster(events, tailnet_id)
    if address not in dict(members.keys):
        raise UsageError(f"{address} is not on tailnet {tailnet_id}'s roster: a member's wallet or a live device key")
    documents = [e.args["document"] for e in events if e.name == "TailnetAclUpdated"]
    policy = policy_of(bytes(documents[-1])) if documents else None
    carried, _ = device_tags(events, tailnet_id, members, policy_of)
    sender = client.wallet.lower()
    why = grant_refusal(policy, sender, carried.get(address, frozenset()), wanted, carried.get(sender, frozenset()))
    if why is not None:
        raise UsageError(f"{why}: nothing was sent")
    result = client.set_device_tags(tailnet_id, checksummed, list(wanted))
    app_ctx.out.record({"tailnet": tailnet_id, "device": address, "tags": list(wanted), **tx_summary(result)})


@app.command()
def invite(
    ctx: typer.Context,
    tailnet_id: int = typer.Argument(...),
    expires: str = typer.Option("24h", "--expires", help="Lifetime, e.g. 1h, 7d."),
    uses: int = typer.Option(1, "--uses", min=1, help="How many wallets may join with it."),
) -> None:
    """Create a pre-auth invite and print its key string (owner only)."""
    app_ctx = get(ctx)
    client = app_ctx.client()
    network = app_ctx.network()
    token = Invite.new(chain_id=network.chain_id, contract=client.address, tailnet_id=tailnet_id)
    # The chain's clock decides expiry, so count from the latest block's time.
    expires_at = client.w3.eth.get_block("latest")["timestamp"] + parse_duration(expires)
    result = client.precommit_join_token(tailnet_id, token.key_address, expires_at, uses)
    app_ctx.out.record(
        {
            "invite": token.encode(),
            "tailnet": tailnet_id,
            "expires_at": expires_at,
            "uses": uses,
            "invite_key": token.key_address,
            **tx_summary(result),
        },
        title="invite (share it privately)",
    )


@app.command()
def invites(ctx: typer.Context, tailnet_id: int = typer.Argument(...)) -> None:
    """The tailnet's invites: when each expires, uses left, and whether it still admits anyone."""
    app_ctx = get(ctx)
    client = app_ctx.client(signer=False)
    now = client.w3.eth.get_block("latest")["timestamp"]
    events = client.tailnet_events(tailnet_id)
    revoked = {e.args["invite_key"] for e in events if e.name == "JoinTokenRevoked"}
    rows = []
    for event in events:
        if event.name != "JoinTokenPrecommitted":
            continue
        key = event.args["invite_key"]
        token = client.join_token(tailnet_id, key)
        state = (
            "revoked"
            if key in revoked
            else "used up"
            if token.uses_left == 0
            else "expired"
            if now >= token.expires_at
            else "active"
        )
        rows.append(
            {
                "invite_key": key,
                "expires_at": token.expires_at,
                "uses_left": token.uses_left,
                "max_uses": event.args["max_uses"],
                "state": state,
            }
        )
    app_ctx.out.rows(rows, columns=["invite_key", "state", "uses_left", "max_uses", "expires_at"], title="invites")


@app.command("revoke-invite")
def revoke_invite(
    ctx: typer.Context,
    tailnet_id: int = typer.Argument(...),
    invite: str = typer.Argument(..., help="The invite string, or its invite_key (see `tailnet invites`)."),
) -> None:
    """Make an invite admit nobody more (owner only); members it admitted stay."""
    app_ctx = get(ctx)
    if invite.startswith("ovpn-invite-"):
        try:
            key = Invite.decode(invite).key_address
        except ProtocolError as exc:
            raise UsageError(str(exc)) from exc
    else:
        key = parse_address(invite, what="invite key")
    result = app_ctx.client().revoke_join_token(tailnet_id, key)
    app_ctx.out.record({"tailnet": tailnet_id, "invite_key": key, "revoked": True, **tx_summary(result)})


@app.command()
def join(
    ctx: typer.Context, invite_key: str = typer.Argument(..., metavar="INVITE", help="The invite string.")
) -> None:
    """Join a tailnet with an invite, as the selected wallet."""
    app_ctx = get(ctx)
    try:
        token = Invite.decode(invite_key)
    except ProtocolError as exc:
        raise UsageError(str(exc)) from exc
    network = app_ctx.network()
    client = app_ctx.client()
    if token.chain_id != network.chain_id or token.contract != client.address:
        raise UsageError(
            f"this invite is for chain {token.chain_id}, contract {token.contract}: "
            f"select that network (network {network.name!r} is chain {network.chain_id}, contract {client.address})"
        )
    member = client.wallet
    result = client.redeem_join_token(token.tailnet_id, token.key_address, token.join_signature(member))
    app_ctx.out.record({"tailnet": token.tailnet_id, "member": member, **tx_summary(result)}, title="joined")
