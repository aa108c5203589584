"""Logs -> typed contract events, decoded from the contract's ABI: the one place that decodes them, for the chain
client (web3's receipts and `eth_getLogs`) and the indexer (raw JSON-RPC logs) alike."""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import decode as abi_decode
from eth_utils import keccak

from octravpn.chain.abi import abi_type, plain
from octravpn.chain.artifacts import load as load_artifact


@dataclass(frozen=True)
class LogEvent:
    """One contract event where it happened: block, transaction and position."""

    name: str
    args: dict
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int

    @property
    def position(self) -> tuple[int, int]:
        return self.block_number, self.log_index


def _hex(value) -> str:
    return value if isinstance(value, str) else "0x" + bytes(value).hex()


def _raw(log) -> dict:
    """A log as JSON-RPC sends it (hex strings): web3 hands logs over with bytes and ints."""
    if isinstance(log.get("data"), str) and isinstance(log.get("blockNumber"), str):
        return log
    return {
        "topics": [_hex(t).lower() for t in log["topics"]],
        "data": _hex(log["data"]),
        "blockNumber": hex(log["blockNumber"]) if isinstance(log["blockNumber"], int) else log["blockNumber"],
        "blockHash": _hex(log["blockHash"]),
        "transactionHash": _hex(log["transactionHash"]),
        "logIndex": hex(log["logIndex"]) if isinstance(log["logIndex"], int) else log["logIndex"],
    }


@dataclass(frozen=True)
class _EventSpec:
    name: str
    indexed: list[dict]
    data: list[dict]
    data_types: list[str]


class EventDecoder:
    def __init__(self, abi: list[dict] | None = None) -> None:
        abi = abi if abi is not None else load_artifact().abi
        self._specs: dict[str, _EventSpec] = {}
        for item in abi:
            if item["type"] != "event":
                continue
            signature = f"{item['name']}(" + ",".join(abi_type(a) for a in item["inputs"]) + ")"
            topic = "0x" + keccak(text=signature).hex()
            data = [a for a in item["inputs"] if not a.get("indexed")]
            self._specs[topic] = _EventSpec(
                item["name"], [a for a in item["inputs"] if a.get("indexed")], data, [abi_type(a) for a in data]
            )

    @property
    def names(self) -> set[str]:
        return {spec.name for spec in self._specs.values()}

    def topic(self, name: str) -> str:
        """The first topic of the contract's event `name` (for a log filter)."""
        return next(topic for topic, spec in self._specs.items() if spec.name == name)

    def decode(self, log) -> LogEvent | None:
        """The event in a log entry (raw JSON-RPC, or as web3 returns it), or None if it is not one of the
        contract's."""
        log = _raw(log)
        topics = log["topics"]
        spec = self._specs.get(topics[0].lower()) if topics else None
        if spec is None or len(topics) != len(spec.indexed) + 1:
            return None
        args = {}
        for arg, topic in zip(spec.indexed, topics[1:], strict=True):
            (value,) = abi_decode([abi_type(arg)], bytes.fromhex(topic[2:]))
            args[arg["name"]] = plain(value, arg)
        values = abi_decode(spec.data_types, bytes.fromhex(log["data"][2:]))
        for arg, value in zip(spec.data, values, strict=True):
            args[arg["name"]] = plain(value, arg)
        return LogEvent(
            spec.name,
            args,
            int(log["blockNumber"], 16),
            log["blockHash"],
            log["transactionHash"],
            int(log["logIndex"], 16),
        )


def tailnet_membership(events, tailnet_id: int) -> tuple[list[str], list[str]]:
    """A tailnet's members and exits, from the contract's events in chain order (it cannot enumerate them)."""
    members: dict[str, bool] = {}
    exits: dict[str, bool] = {}
    for event in events:
        if event.args.get("tailnet_id") != tailnet_id:
            continue
        if event.name in ("TailnetMemberAdded", "TailnetMemberRemoved"):
            members[event.args["member"]] = event.name == "TailnetMemberAdded"
        elif event.name in ("TailnetExitConfigured", "TailnetExitRemoved"):
            exits[event.args["exit_addr"]] = event.name == "TailnetExitConfigured"
    return [m for m, on in members.items() if on], [e for e, on in exits.items() if on]
