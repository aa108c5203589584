"""A chain, exits and an indexer for the daemon's unit tests (the host is `tests.fakehost.FakeHost`): no root,
no node, no network. `FakeChain` holds sessions as the contract would. `FakeExits` answer the handshake API the
way an exit node does, and can go silent."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, cast

from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from octravpn.chain.client import ChainEvent, TxOutcome, TxResult
from octravpn.chain.errors import ContractRevert, RpcUnreachable
from octravpn.chain.records import ClaimRecord, Exit, Params, Session
from octravpn.chain.transactions import Signed
from octravpn.client.exit_api import ExitAPIError
from octravpn.protocol import Domain, Receipt, exitwire, recover, sign
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


if TYPE_CHECKING:  # the type checker holds every method here to the real client's signature (`make lint`)
    from octravpn.chain.client import OctraVPN as _Client
else:
    _Client = object


class FakeChain(_Client):
    """The contract's view: two exits, the device of a member, sessions opened by the device."""

    CONTROLS = frozenset({"settle"})  # what a test does to it, beyond the client's interface

    def __init__(self) -> None:
        self.address = Web3.to_checksum_address(CONTRACT)
        self.down = False
        self.sessions: dict[int, Session] = {}
        self.unsent: dict[str, tuple] = {}  # signed opens not broadcast yet, by hash
        self.opens: dict[str, int] = {}  # open transaction hash -> its session
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

        self.w3 = cast(Web3, _W3())  # what the daemon reads of it: the chain id

    def _check(self) -> None:
        if self.down:
            raise RpcUnreachable("http://127.0.0.1:8545", "no answer within the RPC timeout")

    def asset_decimals(self) -> int:
        return 18

    def block_number(self) -> int:  # the mesh's feed: no mesh events on this chain
        self._check()
        return 0

    def events(self, from_block: int = 0, to_block: int | str = "latest") -> list[ChainEvent]:
        self._check()
        return []

    def asset_symbol(self) -> str:
        return "ETH"

    def device_owner(self, device: str) -> str:
        self._check()
        return self.devices.get(device, "0x" + "00" * 20)

    def endpoint(self, addr: str) -> Exit:
        self._check()
        index = [o.address for o in OPERATORS].index(addr)
        return Exit(
            active=True,
            endpoint=ENDPOINTS[index],
            wg_pubkey=EXIT_KEYS[index].public,
            receipt_signer=RECEIPT_KEYS[index].address,
            region="lab",
            price_per_mb=2 * 10**12 * (index + 1),
            registered_at=1,
            reputation=0,
        )

    def is_active(self, addr: str) -> bool:
        return True

    def params(self) -> Params:
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

    def is_member(self, tailnet_id: int, addr: str) -> bool:
        return addr == MEMBER.address

    def is_exit(self, tailnet_id: int, addr: str) -> bool:
        return True

    def open_session(
        self, tailnet_id: int, exit_addr: str, max_pay: int, max_price_per_mb: int | None = None
    ) -> tuple[int, TxResult]:
        price = max_price_per_mb if max_price_per_mb is not None else self.endpoint(exit_addr).price_per_mb
        sid, signed = self.prepare_open_session(tailnet_id, exit_addr, max_pay, price)
        self.broadcast(signed)
        return sid, self.mined(signed)

    def prepare_open_session(
        self, tailnet_id: int, exit_addr: str, max_pay: int, max_price_per_mb: int
    ) -> tuple[int, Signed]:
        self._check()
        sid = len(self.sessions) + len(self.unsent)
        raw = sid.to_bytes(8, "big")
        tx_hash = "0x" + keccak(raw).hex()
        self.unsent[tx_hash] = (sid, tailnet_id, exit_addr, max_pay, max_price_per_mb)
        self.opens[tx_hash] = sid
        return sid, Signed(tx={}, raw=raw, tx_hash=tx_hash, name="open_session")

    def broadcast(self, signed: Signed) -> None:
        """Mined at once, as on anvil."""
        self._check()
        sid, tailnet_id, exit_addr, max_pay, price = self.unsent.pop(signed.tx_hash)
        self.sessions[sid] = Session(
            tailnet_id=tailnet_id,
            exit=exit_addr,
            opener=DEVICE.address,
            deposit=max_pay,
            price_per_mb=price,
            opened_at=self.now,
            status=0,
            protocol_fee_bps=50,
            sweep_bounty_bps=100,
            settle_by=self.now + 3600,
            sweep_after=self.now + 36000,
            bytes_paid=0,
        )

    def mined(self, signed: Signed) -> TxResult:
        return _mined(signed.tx_hash, self._opened(self.opens[signed.tx_hash]))

    def _opened(self, sid: int) -> list[ChainEvent]:
        session = self.sessions[sid]
        args = {
            "session_id": sid,
            "tailnet_id": session.tailnet_id,
            "deposit": session.deposit,
            "price_per_mb": session.price_per_mb,
        }
        return [ChainEvent("SessionOpened", args, 1, f"0x{sid:064x}", 0)]

    def transaction_outcome(self, tx_hash: str) -> TxOutcome:
        self._check()
        sid = self.opens[tx_hash]
        return TxOutcome("mined", function="open_session", block=1, events=self._opened(sid))

    def session(self, session_id: int) -> Session:
        self._check()
        return self.sessions[session_id]

    def operator_claim(self, session_id: int) -> ClaimRecord:
        self._check()
        return self.claims.get(session_id, ClaimRecord(is_set=False, bytes_used=0, claimed_at=0))

    def settle(self, session_id: int, bytes_used: int) -> None:
        """The exit settles the session with a receipt for `bytes_used`."""
        self.sessions[session_id] = replace(self.sessions[session_id], status=1)
        self.settled[session_id] = bytes_used

    def settle_confirm(self, session_id: int, bytes_used: int) -> TxResult:
        self._check()
        self.confirmed[session_id] = bytes_used
        if self.claims[session_id].bytes_used == bytes_used:
            self.settle(session_id, bytes_used)
            return _mined("0xc0", [ChainEvent("SessionSettled", {}, 1, "0xc0", 0)])
        return _mined("0xc1", [ChainEvent("SettleDispute", {}, 1, "0xc1", 0)])

    def clock(self) -> int:
        self._check()
        return self.now

    def claim_no_show(self, session_id: int) -> TxResult:
        self._check()
        if self.now < self.sessions[session_id].settle_by:
            raise ContractRevert("claim_no_show", "settle_by not elapsed")
        self.sessions[session_id] = replace(self.sessions[session_id], status=2)
        self.no_shows.append(session_id)
        return _mined("0xd0", [])

    def session_events(self, session_id: int, to_block: int | str = "latest") -> list[ChainEvent]:
        paid = self.settled[session_id] * self.sessions[session_id].price_per_mb // 10**6
        settled = {"bytes_used": self.settled[session_id], "total_paid": paid}
        return [ChainEvent("SessionSettled", settled, 1, "0xee", 0)]


def _mined(tx_hash: str, events: list[ChainEvent]) -> TxResult:
    return TxResult(tx_hash=tx_hash, block_number=1, gas_used=21_000, events=events)


class FakeExits:
    """The handshake API of both exits, as `ExitAPI._call` reaches it; an exit can be taken away."""

    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain
        self.gone: set[int] = set()
        self.peers: dict[int, list[str]] = {0: [], 1: []}
        self.requests: dict[int, dict] = {}  # session -> the receipt request to serve
        self.receipts: dict[int, list[dict]] = {}
        self.left: list[int] = []
        self.parked: list[int] = []  # sessions a device left open (`down` without --end)
        self.signatures: set[bytes] = set()  # of the requests to leave, as the exit remembers them
        self.parked_here: set[int] = set()  # sessions the exit left open without their device (idle)
        self.refuse_peers: str | None = None  # a refusal for joins of sessions left open (the exit ended them)
        self.openings: list[int] = []  # sessions joined with their open transaction

    def call(self, base_url: str, method: str, path: str, body: dict | None, headers: dict | None = None):
        index = [f"http://{e}" for e in ENDPOINTS].index(base_url)
        if index in self.gone:
            raise ExitAPIError(None, f"{base_url}{path}: ConnectTimeout")
        if method == "POST" and path in (exitwire.PEERS, exitwire.OPENING):
            if path == exitwire.OPENING:  # the open is mined at once here: the exit takes it as any join
                opening = exitwire.OpeningAsk.from_json(body)
                ask = opening.ask
                self.openings.append(ask.request.session_id)
            else:
                ask = exitwire.PeerAsk.from_json(body)
            if self.refuse_peers and ask.request.session_id in self.parked:
                raise ExitAPIError(409, self.refuse_peers)
            self.peers[index].append(encode_key(ask.request.wg_pubkey))
            self.parked_here.discard(ask.request.session_id)
            return exitwire.PeerGrant(
                session_id=ask.request.session_id,
                exit_public_key=EXIT_KEYS[index].public,
                endpoint=ENDPOINTS[index],
                client_address=f"10.77.0.{2 + index}/16",
                exit_address="10.77.0.1",
                dns=("203.0.113.53",),
            ).to_json()
        session = int(path.split("/")[3])
        if path.endswith("/receipt-request") and session in self.parked_here:
            raise ExitAPIError(410, f"session {session} is left open with no device here: join it again")
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
        if path.endswith(("/close", "/park")):
            park = path.endswith("/park")
            leave: type[exitwire.LeaveAsk] = exitwire.ParkAsk if park else exitwire.LeaveAsk
            request, signature = leave.from_json(session, body)
            assert recover(DOMAIN, request, signature) == self.chain.sessions[session].opener
            if signature in self.signatures:  # as the exit's replay guard
                raise ExitAPIError(409, "replayed peer request: sign a new one with the current time")
            self.signatures.add(signature)
            (self.parked if park else self.left).append(session)
            last = self.requests.get(session)
            return exitwire.LeaveAnswer(
                session_id=session,
                state="active" if park else "cut",
                reason=None if park else "closed by the client",
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
