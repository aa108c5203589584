"""A host, a chain and exits for the daemon's unit tests: no root, no node, no network.

`FakeHost` is a command runner that keeps what `ip`, `wg` and `nft` would: interfaces with their key, peers
and counters, routes and nftables tables, so a test can read the host's state after the daemon acted on it,
and pull an interface away under it. `FakeChain` holds sessions as the contract would. `FakeExits` answer the
handshake API the way an exit node does, and can go silent."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from eth_account import Account

from octravpn.chain.client import ClaimRecord, ChainEvent, Endpoint, Params, Session
from octravpn.chain.errors import ContractRevert, RpcUnreachable
from octravpn.client.exit_api import ExitAPIError
from octravpn.protocol import Domain, Receipt, sign
from octravpn.wireguard.keys import Keypair, encode_key
from octravpn.wireguard.runner import CommandError

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
DOMAIN = Domain(chain_id=31337, verifying_contract=CONTRACT)
MEMBER = Account.from_key(b"\x01" * 32)
DEVICE = Account.from_key(b"\x02" * 32)
OPERATORS = [Account.from_key(bytes([0x10 + i]) * 32) for i in range(2)]
RECEIPT_KEYS = [Account.from_key(bytes([0x20 + i]) * 32) for i in range(2)]
EXIT_KEYS = [Keypair.from_private(bytes([0x30 + i]) * 32) for i in range(2)]
ENDPOINTS = ["198.51.100.2:51820", "198.18.0.2:51820"]
NOW = 1_800_000_000


@dataclass
class Interface:
    private_key: str | None = None
    peers: dict[str, dict] = field(default_factory=dict)  # public key -> endpoint, allowed, keepalive, rx, tx, handshake
    addresses: list[str] = field(default_factory=list)
    up: bool = False


class FakeHost:
    def __init__(self) -> None:
        self.interfaces: dict[str, Interface] = {}
        self.routes: set[str] = set()
        self.tables: dict[str, str] = {}
        self.calls: list[list[str]] = []

    def run(self, argv, *, stdin=None) -> str:
        argv = list(argv)
        self.calls.append(argv)
        match argv:
            case ["ip", "-j", "link", "show", "dev", name] | ["ip", "-j", "addr", "show", "dev", name]:
                if name not in self.interfaces:
                    raise CommandError(argv, 1, f'Device "{name}" does not exist.')
                i = self.interfaces[name]
                return json.dumps([{"ifname": name, "flags": ["UP"] if i.up else [], "mtu": 1420, "addr_info": [
                    {"local": a.split("/")[0], "prefixlen": int(a.split("/")[1]), "scope": "global"} for a in i.addresses]}])
            case ["ip", "link", "add", "dev", _, "type", "wireguard"]:
                raise CommandError(argv, 2, "Unknown device type.")
            case ["wireguard-go", name]:
                self.interfaces[name] = Interface()
            case ["ip", "link", "del", "dev", name]:
                del self.interfaces[name]
                self.routes = {r for r in self.routes if not r.endswith(f"dev {name}")}
            case ["ip", "link", "set", "dev", name, "up"]:
                self.interfaces[name].up = True
            case ["ip", "addr", "add", address, "dev", name]:
                self.interfaces[name].addresses.append(address)
            case ["ip", "addr", "del", address, "dev", name]:
                self.interfaces[name].addresses.remove(address)
            case ["wg", "show", name, "dump"]:
                return self._dump(argv, name)
            case ["wg", "syncconf", name, "/dev/stdin"]:
                self._syncconf(name, stdin)
            case ["ip", "-j", "route", "get", address]:
                return json.dumps([{"dst": address, "gateway": "192.0.2.1", "dev": "eth0"}])
            case ["ip", "-j", "route", "show", "default"]:
                return json.dumps([{"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"}])
            case ["ip", "route", "replace", *route]:
                self.routes.add(" ".join(route))
            case ["ip", "route", "del", *route]:
                if " ".join(route) not in self.routes:
                    raise CommandError(argv, 2, "No such process")
                self.routes.discard(" ".join(route))
            case ["nft", "-f", "-"]:
                name = re.search(r"^table inet (\S+)", stdin).group(1)
                self.tables[name] = stdin
            case ["nft", "delete", "table", "inet", name]:
                if self.tables.pop(name, None) is None:
                    raise CommandError(argv, 1, "No such file or directory")
            case _:
                raise AssertionError(f"unexpected command {argv}")
        return ""

    def _dump(self, argv, name) -> str:
        if name not in self.interfaces:
            raise CommandError(argv, 1, f"Unable to access interface: No such device")
        i = self.interfaces[name]
        lines = [f"{i.private_key or '(none)'}\t(none)\t51820\toff"]
        for key, p in i.peers.items():
            lines.append("\t".join([key, "(none)", p["endpoint"], p["allowed"], str(p["handshake"]), str(p["rx"]),
                                    str(p["tx"]), str(p["keepalive"] or "off")]))
        return "\n".join(lines) + "\n"

    def _syncconf(self, name: str, text: str) -> None:
        interface = self.interfaces[name]
        interface.private_key = re.search(r"PrivateKey = (\S+)", text).group(1)
        peers = {}
        for block in text.split("[Peer]")[1:]:
            key = re.search(r"PublicKey = (\S+)", block).group(1)
            old = interface.peers.get(key, {"rx": 0, "tx": 0, "handshake": 0})
            keepalive = re.search(r"PersistentKeepalive = (\d+)", block)
            peers[key] = {**old, "endpoint": re.search(r"Endpoint = (\S+)", block).group(1),
                          "allowed": re.search(r"AllowedIPs = (.+)", block).group(1).replace(" ", ""),
                          "keepalive": keepalive.group(1) if keepalive else None}
        interface.peers = peers

    def traffic(self, name: str, *, rx: int, tx: int = 0) -> None:
        """Bytes through the interface's one peer (the exit)."""
        (peer,) = self.interfaces[name].peers.values()
        peer["rx"] += rx
        peer["tx"] += tx


class FakeChain:
    """The contract's view: two exits, the device of a member, sessions opened by the device."""

    def __init__(self) -> None:
        self.address = CONTRACT
        self.down = False
        self.sessions: dict[int, Session] = {}
        self.claims: dict[int, ClaimRecord] = {}
        self.confirmed: dict[int, int] = {}
        self.settled: dict[int, int] = {}  # session -> bytes
        self.no_shows: list[int] = []
        self.now = NOW
        self.devices = {DEVICE.address: MEMBER.address}

        class _Eth:
            chain_id = 31337

        class _W3:
            eth = _Eth()
        self.w3 = _W3()

    def _check(self) -> None:
        if self.down:
            raise RpcUnreachable("http://127.0.0.1:8545", "no answer within the RPC timeout")

    def asset_decimals(self) -> int:
        return 18

    def asset_symbol(self) -> str:
        return "ETH"

    def device_owner(self, device: str) -> str:
        self._check()
        return self.devices.get(device, "0x" + "00" * 20)

    def endpoint(self, address: str) -> Endpoint:
        self._check()
        index = [o.address for o in OPERATORS].index(address)
        return Endpoint(active=True, endpoint=ENDPOINTS[index], wg_pubkey=EXIT_KEYS[index].public,
                        receipt_signer=RECEIPT_KEYS[index].address, earnings_pubkey=(0, 0), region="lab",
                        price_per_mb=2 * 10**12 * (index + 1), registered_at=1, reputation=0)

    def is_active(self, address: str) -> bool:
        return True

    def params(self):
        return Params(min_session_deposit=10**15, min_tailnet_deposit=0, session_grace=3600, sweep_grace_multiplier=10,
                      sweep_bounty_bps=100, min_endpoint_stake=0, unbond_grace=0, slash_burn_bps=0, slash_bounty_bps=0,
                      protocol_fee_bps=50)

    def tailnet_count(self) -> int:
        return 1

    def is_member(self, tailnet: int, address: str) -> bool:
        return address == MEMBER.address

    def is_exit(self, tailnet: int, address: str) -> bool:
        return True

    def open_session(self, tailnet, exit_addr, deposit, max_price):
        self._check()
        sid = len(self.sessions)
        self.sessions[sid] = Session(tailnet_id=tailnet, exit=exit_addr, opener=DEVICE.address, deposit=deposit,
                                     price_per_mb=max_price, opened_at=self.now, status=0, protocol_fee_bps=50,
                                     sweep_bounty_bps=100, settle_by=self.now + 3600, sweep_after=self.now + 36000)
        return sid, _Result(f"0x{sid:064x}", [])

    def session(self, sid: int) -> Session:
        self._check()
        return self.sessions[sid]

    def operator_claim(self, sid: int) -> ClaimRecord:
        self._check()
        return self.claims.get(sid, ClaimRecord(is_set=False, bytes_used=0, claimed_at=0))

    def settle(self, sid: int, bytes_used: int) -> None:
        from dataclasses import replace
        self.sessions[sid] = replace(self.sessions[sid], status=1)
        self.settled[sid] = bytes_used

    def settle_confirm(self, sid: int, bytes_used: int):
        self._check()
        self.confirmed[sid] = bytes_used
        if self.claims[sid].bytes_used == bytes_used:
            self.settle(sid, bytes_used)
            return _Result("0xc0", [ChainEvent("SessionSettled", {}, 1, "0xc0", 0)])
        return _Result("0xc1", [ChainEvent("SettleDispute", {}, 1, "0xc1", 0)])

    def clock(self) -> int:
        self._check()
        return self.now

    def claim_no_show(self, sid: int):
        self._check()
        if self.now < self.sessions[sid].settle_by:
            raise ContractRevert("claim_no_show", "settle_by not elapsed")
        from dataclasses import replace
        self.sessions[sid] = replace(self.sessions[sid], status=2)
        self.no_shows.append(sid)
        return _Result("0xd0", [])

    def session_events(self, sid: int) -> list[ChainEvent]:
        paid = self.settled[sid] * self.sessions[sid].price_per_mb // 10**6
        return [ChainEvent("SessionSettled", {"bytes_used": self.settled[sid], "total_paid": paid}, 1, "0xee", 0)]


@dataclass
class _Result:
    tx_hash: str
    events: list
    block_number: int = 1
    gas_used: int = 21000


class FakeExits:
    """The handshake API of both exits, as `ExitAPI._call` reaches it; an exit can be taken away."""

    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain
        self.gone: set[int] = set()
        self.peers: dict[int, list[str]] = {0: [], 1: []}
        self.requests: dict[int, dict] = {}  # session -> the receipt request to serve
        self.receipts: dict[int, list[dict]] = {}
        self.left: list[int] = []

    def call(self, base_url: str, method: str, path: str, body: dict | None):
        index = [f"http://{e}" for e in ENDPOINTS].index(base_url)
        if index in self.gone:
            raise ExitAPIError(None, f"{base_url}{path}: ConnectTimeout")
        if method == "POST" and path == "/v1/peers":
            self.peers[index].append(body["wg_pubkey"])
            return {"exit_public_key": EXIT_KEYS[index].public_b64, "client_address": "10.77.0.2/16",
                    "exit_address": "10.77.0.1", "dns": ["203.0.113.53"]}
        session = int(path.split("/")[3])
        if path.endswith("/receipt-request"):
            return self.requests.get(session)
        if path.endswith("/receipts"):
            self.receipts.setdefault(session, []).append(body)
            return {"ok": True}
        if path.endswith("/close"):
            self.left.append(session)
            return {"receipt_request": self.requests.get(session)}
        raise AssertionError(path)

    def ask(self, session: int, seq: int, bytes_used: int, *, index: int = 0) -> None:
        """The exit asks for a receipt, signed by its receipt key."""
        signature = sign(DOMAIN, Receipt(session_id=session, seq=seq, bytes_used=bytes_used), RECEIPT_KEYS[index].key)
        self.requests[session] = {"seq": seq, "bytes_used": bytes_used, "operator_signature": "0x" + signature.hex()}


class FakeIndexer:
    """What `IndexerClient` answers for `--exit auto`."""

    def __init__(self) -> None:
        self.exits = [{"address": o.address, "region": "lab", "price_per_mb": str(2 * 10**12 * (i + 1)), "active": True,
                       "reputation": "0", "stake": "1"} for i, o in enumerate(OPERATORS)]

    def tailnets_of(self, member):
        return [{"id": 0}]

    def list_exits(self, **filters):
        return list(self.exits)


def exit_key(index: int) -> str:
    return encode_key(EXIT_KEYS[index].public)
