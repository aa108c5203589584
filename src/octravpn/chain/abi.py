"""Values from the contract's ABI, as plain Python: the one place that turns ABI types into what the rest of the
code reads, for events (`chain.events`) and for what views return (`chain.records`). A struct becomes a dict by
its components' names (never by position in our own code), an address its checksummed string."""

from __future__ import annotations

from eth_utils import to_checksum_address


def abi_type(arg: dict) -> str:
    """The canonical type string eth_abi reads, tuples spelled out (`(address,uint256)[]`)."""
    if arg["type"].startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in arg["components"]) + ")" + arg["type"][5:]
    return arg["type"]


def plain(value, arg: dict):
    """An ABI value as plain Python: tuples of named components become dicts, addresses checksummed strings."""
    if arg["type"] == "tuple":
        return {c["name"]: plain(v, c) for c, v in zip(arg["components"], value, strict=True)}
    if arg["type"].startswith("tuple["):
        element = {**arg, "type": "tuple"}
        return [plain(v, element) for v in value]
    if arg["type"] == "address":
        return to_checksum_address(value)
    if arg["type"] == "address[]":
        return [to_checksum_address(v) for v in value]
    return value
