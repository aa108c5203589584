"""`octravpn acl check|explain`: a tailnet policy file, checked and asked about before it is published."""

from __future__ import annotations

from pathlib import Path

import typer

from octravpn.acl import PolicyError, Resolver, parse_policy, run_tests
from octravpn.acl.evaluate import decide, identity
from octravpn.acl.network import Network
from octravpn.acl.policy import PROTOCOL_NAMES, AliasReader, Policy
from octravpn.cli.context import get
from octravpn.errors import UsageError

app = typer.Typer(
    name="acl", help="Check tailnet policy files and ask what they allow.", no_args_is_help=True, add_completion=False
)


def read_policy(path: Path) -> tuple[bytes, Policy]:
    """The file's bytes (what is hashed on chain) and the policy they hold; a mistake is one line naming the file,
    line and column."""
    try:
        document = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read policy file {path}: {exc.strerror}") from exc
    try:
        text = document.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start}): save it as UTF-8") from exc
    try:
        return document, parse_policy(text)
    except PolicyError as exc:
        where = f"{path}:{exc.line}:{exc.column}" if exc.line else str(path)
        raise UsageError(f"{where}: {exc.message}") from exc


def checked_policy(path: Path, *, force: bool) -> bytes:
    """What `tailnet create --acl` and `set-acl` publish: a policy that parses and passes its own tests, unless
    --force."""
    if force:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read policy file {path}: {exc.strerror}") from exc
    try:
        document, policy = read_policy(path)
    except UsageError as exc:
        raise UsageError(f"{exc} (nothing was sent; --force publishes it anyway)") from exc
    failures = run_tests(Resolver(policy))
    if failures:
        raise UsageError(
            f"{path}: {len(failures)} of its tests fail, first {failures[0]} (see `octravpn acl check "
            f"{path}`; nothing was sent; --force publishes it anyway)"
        )
    return document


@app.command()
def check(
    ctx: typer.Context,
    policy_file: Path = typer.Argument(..., metavar="FILE", help="The policy file (HuJSON)."),
    tailnet_id: int = typer.Option(
        None, "--tailnet", min=0, help="Also resolve it against this tailnet's members on chain."
    ),
) -> None:
    """Parse the policy, run its tests, and say what it holds (exit 0), or say what is wrong (exit 2)."""
    app_ctx = get(ctx)
    _, policy = read_policy(policy_file)
    members: frozenset[str] = frozenset()
    warnings = list(policy.warnings)
    if tailnet_id is not None:
        from octravpn.chain.events import tailnet_membership

        members = frozenset(m.lower() for m in tailnet_membership(app_ctx.client(signer=False).events(), tailnet_id)[0])
        named = {
            alias.named
            for rule in policy.rules
            for alias in (*rule.sources, *(d.alias for d in rule.destinations))
            if alias.kind == "user"
        } | {user for users in policy.groups.values() for user in users}
        warnings += [
            f"{user} is not a member of tailnet {tailnet_id}: what names it matches nobody"
            for user in sorted(named - members)
        ]
    failures = run_tests(Resolver(policy, Network(members=members)))
    summary = {
        "file": str(policy_file),
        "rules": len(policy.rules),
        "groups": len(policy.groups),
        "hosts": len(policy.hosts),
        "tags": sorted(policy.tag_owners),
        "tests": len(policy.tests),
        "tests_failed": [str(f) for f in failures],
        "warnings": warnings,
    }
    app_ctx.out.record(summary, title="policy")
    if failures:
        raise UsageError(f"{len(failures)} of the policy's test assertions fail (listed above)")


@app.command()
def explain(
    ctx: typer.Context,
    policy_file: Path = typer.Argument(..., metavar="FILE", help="The policy file (HuJSON)."),
    source: str = typer.Option(..., "--src", help="A wallet address, tag:NAME, group:NAME, host name or IP."),
    destination: str = typer.Option(..., "--dst", help="The same kinds, with a port: tag:db:5432."),
    proto: str = typer.Option("tcp", "--proto", help="tcp, udp, icmp, … or an IANA number."),
) -> None:
    """Whether the policy lets SRC reach DST:PORT, and by which rule."""
    app_ctx = get(ctx)
    _, policy = read_policy(policy_file)
    protocol = _protocol(proto)
    reader = AliasReader(policy.groups, policy.hosts, set(policy.tag_owners))
    host, _, port_text = destination.rpartition(":")
    if not host or not port_text.isdigit() or not 0 < int(port_text) <= 65535:
        raise UsageError(f"--dst {destination!r}: write a destination and one port, e.g. tag:db:5432")
    try:
        src_alias = reader.read(source, None, context="test")
        dst_alias = reader.read(host, None, context="test")
    except PolicyError as exc:
        raise UsageError(exc.message) from exc
    resolver = Resolver(policy)
    answers = []
    for src_endpoint, src_address in identity(resolver, src_alias):
        for dst_endpoint, dst_address in identity(resolver, dst_alias):
            decision = decide(resolver, src_endpoint, src_address, dst_endpoint, dst_address, protocol, int(port_text))
            answers.append(
                {
                    "src": src_endpoint.user or source,
                    "dst": destination,
                    "proto": proto,
                    "allowed": decision.allowed,
                    "why": decision.describe(),
                }
            )
    app_ctx.out.rows(answers, columns=["src", "dst", "proto", "allowed", "why"], title="policy decision")


def _protocol(text: str) -> int:
    name = text.strip().lower()
    if name in PROTOCOL_NAMES:
        return PROTOCOL_NAMES[name]
    if name.isdigit() and int(name) <= 255:
        return int(name)
    raise UsageError(f"--proto {text!r}: write tcp, udp, icmp, … or an IANA protocol number 0-255")


@app.command()
def fetch(
    ctx: typer.Context,
    tailnet_id: int = typer.Argument(..., min=0),
    output: Path = typer.Option(None, "--output", "-o", help="Write it here instead of to stdout."),
) -> None:
    """The policy in force for a tailnet, as the chain carries it (the document of its last `set-acl`)."""
    import sys

    app_ctx = get(ctx)
    client = app_ctx.client(signer=False)
    published = [e for e in client.tailnet_events(tailnet_id) if e.name == "TailnetAclUpdated"]
    if not published:
        raise UsageError(f"tailnet {tailnet_id} has no policy on chain (is it a tailnet? see `octravpn tailnet list`)")
    document, digest = bytes(published[-1].args["document"]), bytes(published[-1].args["acl_policy"])
    if output is None:
        sys.stdout.write(document.decode("utf-8", errors="replace"))
        return
    output.write_bytes(document)
    app_ctx.out.record(
        {"tailnet": tailnet_id, "file": str(output), "acl_hash": "0x" + digest.hex(), "size": len(document)},
        title="policy fetched",
    )


@app.command("filter")
def filter_(
    ctx: typer.Context,
    policy_file: Path = typer.Argument(..., metavar="FILE", help="The policy file (HuJSON)."),
    tailnet_id: int = typer.Option(
        ..., "--tailnet", min=0, help="The tailnet whose members and devices (on chain) it applies to."
    ),
    device: str = typer.Option(..., "--device", help="The device (its key's address, or a wallet acting as one)."),
    nft: str = typer.Option(
        None, "--nft", metavar="INTERFACE", help="Print the nftables ruleset for this WireGuard interface instead."
    ),
) -> None:
    """The filter compiled for one device: who may send it what, and the peers it needs at all (the tailnet's
    members, device keys and the tags granted to them, from the chain)."""
    import sys

    from octravpn.acl import Device, compile_device
    from octravpn.acl.nftables import ruleset
    from octravpn.mesh.addresses import assign_addresses
    from octravpn.mesh.policy_keeper import parsed_or_none as policy_of
    from octravpn.mesh.roster import roster
    from octravpn.mesh.tagging import device_tags

    app_ctx = get(ctx)
    _, policy = read_policy(policy_file)
    events = app_ctx.client(signer=False).events()
    members = roster(events, tailnet_id)
    tags, _ = device_tags(events, tailnet_id, members, policy_of)
    addresses = assign_addresses(tailnet_id, [key for key, _ in members.keys])
    network = Network(
        members=members.members,
        devices=tuple(
            Device(key=key, owner=owner, addresses=addresses[key], tags=tags.get(key, frozenset()))
            for key, owner in members.keys
        ),
    )
    wanted = app_ctx.address_of(device, what="--device").lower()
    if wanted not in addresses:
        raise UsageError(
            f"{wanted} is no device of tailnet {tailnet_id}: its member wallets and the device keys "
            "registered to them are"
        )
    compiled = compile_device(Resolver(policy, network), wanted)
    if nft:
        sys.stdout.write(ruleset(compiled, nft))
        return
    peers = {key: str(addresses[key][0]) for key in sorted(compiled.peers)}
    entries = [
        {
            "rule": entry.rule,
            "from": [str(n) for n in entry.sources],
            "to": [str(a) for a in entry.destinations],
            "protocols": sorted(entry.protocols),
            "ports": [f"{r.first}-{r.last}" if r.first != r.last else str(r.first) for r in entry.ports],
        }
        for entry in compiled.entries
    ]
    summary = {"device": wanted, "addresses": [str(a) for a in compiled.addresses], "peers": peers}
    if app_ctx.out.as_json:
        app_ctx.out.record({**summary, "entries": entries})
        return
    app_ctx.out.record(
        {**summary, "peers": [f"{key} ({address})" for key, address in peers.items()]}, title=f"filter of {wanted}"
    )
    app_ctx.out.rows(
        [
            {key: ", ".join(map(str, value)) if isinstance(value, list) else value for key, value in entry.items()}
            for entry in entries
        ],
        columns=["rule", "from", "to", "protocols", "ports"],
        title="admitted (everything else dropped)",
    )
