"""A chain, exits and an indexer for the daemon's unit tests (the host is `tests.fakehost.FakeHost`): no root,
no node, no network. `FakeChain` holds sessions as the contract would. `FakeExits` answer the handshake API the
way an exit node does, and can go silent."""

from __future__ import annotations

import time
from dataclasses import dataclass

from eth_account import Account

from octravpn.chain.client import ChainEvent
from octravpn.chain.errors import ContractRevert, RpcUnreachable
from octravpn.chain.records import ClaimRecord, Endpoint, Params, Session
from octravpn.client.exit_api import ExitAPIError
from octravpn.protocol import Domain, Receipt, exitwire, sign
from octravpn.wireguard.keys import Keypair, encode_key

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
DOMAIN = Domain(chain_id=31337, verifying_contract=CONTRACT)
MEMBER = Account.from_key(b"\x01" * 32)
DEVICE = Account.from_key(b"\x02" * 32)
OPERATORS = [Account.from_key(bytes([0x10 + i]) * 32) for i in range(2)]
RECEIPT_KEYS = [Account.from_key(bytes([0x20 + i]) * 32) for i in range(2)]
EXIT_KEYS = [Keypair.from_private(bytes([0x30 + i]) * 32) for i in range(2)]
ENDPOINTS = ["198.51.100.2:51820", "198.18.0.2:51820"]
NOW = 1_800_000_000


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

    def block_number(self) -> int:  # the mesh's feed: no mesh events on this chain
        self._check()
        return 0

    def events(self, first: int, last: int) -> list:
        self._check()
        return []

    def asset_symbol(self) -> str:
        return "ETH"

    def device_owner(self, device: str) -> str:
        self._check()
        return self.devices.get(device, "0x" + "00" * 20)

    def endpoint(self, address: str) -> Endpoint:
        self._check()
        index = [o.address for o in OPERATORS].index(address)
        return Endpoint(
            active=True,
            endpoint=ENDPOINTS[index],
            wg_pubkey=EXIT_KEYS[index].public,
            receipt_signer=RECEIPT_KEYS[index].address,
            region="lab",
            price_per_mb=2 * 10**12 * (index + 1),
            registered_at=1,
            reputation=0,
        )

    def is_active(self, address: str) -> bool:
        return True

    def params(self):
        return Params(
            min_session_deposit=10**15,
            min_tailnet_deposit=0,
            session_grace=3600,
            sweep_grace_multiplier=10,
            sweep_bounty_bps=100,
            min_endpoint_stake=0,
            unbond_grace=0,
            slash_burn_bps=0,
            slash_bounty_bps=0,
            protocol_fee_bps=50,
        )

    def tailnet_count(self) -> int:
        return 1

    def is_member(self, tailnet: int, address: str) -> bool:
        return address == MEMBER.address

    def is_exit(self, tailnet: int, address: str) -> bool:
        return True

    def open_session(self, tailnet, exit_addr, deposit, max_price):
        self._check()
        sid = len(self.sessions)
        self.sessions[sid] = Session(
            tailnet_id=tailnet,
            exit=exit_addr,
            opener=DEVICE.address,
            deposit=deposit,
            price_per_mb=max_price,
            opened_at=self.now,
            status=0,
            protocol_fee_bps=50,
            sweep_bounty_bps=100,
            settle_by=self.now + 3600,
            sweep_after=self.now + 36000,
        )
        opened = ChainEvent(
            "SessionOpened",
            {"session_id": sid, "tailnet_id": tailnet, "deposit": deposit, "price_per_mb": max_price},
            1,
            f"0x{sid:064x}",
            0,
        )
        return sid, _Result(f"0x{sid:064x}", [opened])

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

    def event(self, name: str) -> ChainEvent:
        (found,) = [e for e in self.events if e.name == name]
        return found


class FakeExits:
    """The handshake API of both exits, as `ExitAPI._call` reaches it; an exit can be taken away."""

    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain
        self.gone: set[int] = set()
        self.peers: dict[int, list[str]] = {0: [], 1: []}
        self.requests: dict[int, dict] = {}  # session -> the receipt request to serve
        self.receipts: dict[int, list[dict]] = {}
        self.left: list[int] = []

    def call(self, base_url: str, method: str, path: str, body: dict | None, headers: dict | None = None):
        index = [f"http://{e}" for e in ENDPOINTS].index(base_url)
        if index in self.gone:
            raise ExitAPIError(None, f"{base_url}{path}: ConnectTimeout")
        if method == "POST" and path == exitwire.PEERS:
            ask = exitwire.PeerAsk.from_json(body)
            self.peers[index].append(encode_key(ask.request.wg_pubkey))
            return exitwire.PeerGrant(
                session_id=ask.request.session_id,
                exit_public_key=EXIT_KEYS[index].public,
                endpoint=ENDPOINTS[index],
                client_address=f"10.77.0.{2 + index}/16",
                exit_address="10.77.0.1",
                dns=("203.0.113.53",),
            ).to_json()
        session = int(path.split("/")[3])
        if path.endswith("/receipt-request"):  # for the session's signers: the device signs its read
            read = exitwire.SessionRead.from_header(
                (headers or {}).get("Authorization"), subject=session, domain=DOMAIN, now=time.time()
            )
            assert read.reader == self.chain.sessions[session].opener, read
            return self.requests.get(session)
        if path.endswith("/receipts"):
            self.receipts.setdefault(session, []).append(
                exitwire.SignedReceipt.from_json(body, session_id=session).to_json()
            )
            return {"accepted": True}
        if path.endswith("/close"):
            self.left.append(session)
            last = self.requests.get(session)
            return exitwire.LeaveAnswer(
                session_id=session,
                state="cut",
                reason="closed by the client",
                measured_bytes=0,
                receipt_request=exitwire.ReceiptAsk.from_json(last, session_id=session) if last else None,
            ).to_json()
        raise AssertionError(path)

    def ask(self, session: int, seq: int, bytes_used: int, *, index: int = 0) -> None:
        """The exit asks for a receipt, signed by its receipt key."""
        receipt = Receipt(session_id=session, seq=seq, bytes_used=bytes_used)
        self.requests[session] = exitwire.ReceiptAsk(
            receipt=receipt, operator_signature=sign(DOMAIN, receipt, RECEIPT_KEYS[index].key)
        ).to_json()


class FakeIndexer:
    """What `IndexerClient` answers for `--exit auto`."""

    def __init__(self) -> None:
        self.exits = [
            {
                "address": o.address,
                "region": "lab",
                "price_per_mb": str(2 * 10**12 * (i + 1)),
                "active": True,
                "reputation": "0",
                "stake": "1",
            }
            for i, o in enumerate(OPERATORS)
        ]

    def tailnets_of(self, member):
        return [{"id": 0}]

    def list_exits(self, **filters):
        return list(self.exits)


def exit_key(index: int) -> str:
    return encode_key(EXIT_KEYS[index].public)
