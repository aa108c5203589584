"""A thin layer over the deployed contract that speaks in test actors.

It hides the one difference between a native-coin and an ERC-20 deployment
(how money is sent in), so every flow is written once and runs on both.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import boa
from eth_account import Account
from eth_hash.auto import keccak

from octravpn.chain.client import NO_SESSION
from octravpn.chain.records import UNLISTED, Endpoint, Exit, Listing, Session
from octravpn.chain.sessionlog import fold
from octravpn.protocol import Device, Domain, Join, Receipt, ReceiptSigner, sign
from octravpn.protocol.reports import report_commitment
from tests.contract.deployers import deploy_vpn, token_deployer

ZERO = "0x0000000000000000000000000000000000000000"
ETHER = 10**18
MIN_SESSION_DEPOSIT = 10**15
MIN_TAILNET_DEPOSIT = 10**16
SESSION_GRACE = 86_400
MIN_STAKE = ETHER
PRICE = 2 * 10**12  # per MB: 1 GB costs 0.002
MB = 10**6
SESSION_DEPOSIT = 10**16
ACL_DOCUMENT = b'{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}'
ACL_HASH = keccak(ACL_DOCUMENT)
WG_KEY = bytes.fromhex("11" * 32)
GOV_DELAY = 2 * 86_400


@dataclass(frozen=True)
class Actor:
    """A wallet with a private key (so it can sign typed messages)."""

    alias: str
    key: bytes
    address: str = field(init=False)

    def __post_init__(self) -> None:
        # Deriving the address is a pure-Python EC multiplication: do it once.
        object.__setattr__(self, "address", Account.from_key(self.key).address)

    def __str__(self) -> str:
        return self.address


def actor(alias: str) -> Actor:
    actor_ = Actor(alias, keccak(b"octravpn-test:" + alias.encode()))
    boa.env.alias(actor_.address, alias)
    return actor_


class RecordsFromEvents:
    """The contract as a client uses it: the contract keeps only a hash of each session's record and of each
    exit's listing, so every call on a session passes the record back, and every change of a listing the
    listing. This reads both from the events of the transactions it sends (the way `chain.sessionlog` and
    `ChainClient.endpoint` read them from a node) and passes them where a test leaves them out; a test that
    passes one (a forged record) gets exactly what it passed. `get_session` is the record and `get_endpoint`
    the exit with its listing, each held against the contract's hash."""

    def __init__(self, contract) -> None:
        self._contract = contract
        self.records: dict[int, Session] = {}
        self.listings: dict[str, Listing] = {}
        functions = [item for item in contract.abi if item["type"] == "function"]
        self._record_at = {
            f["name"]: [i["name"] for i in f["inputs"]].index("session")
            for f in functions
            if "session" in [i["name"] for i in f["inputs"]]
        }
        self._listing_at = {
            f["name"]: [i["name"] for i in f["inputs"]].index("listing")
            for f in functions
            if "listing" in [i["name"] for i in f["inputs"]]
        }
        self._arity = {f["name"]: len(f["inputs"]) for f in functions}
        self._salts = itertools.count(1)  # an opener's salt, where a test leaves it out: every session's own
        self._writes = {f["name"] for f in functions if f["stateMutability"] not in ("view", "pure")}

    def __getattr__(self, name: str):
        function = getattr(self._contract, name)
        return _Call(self, name, function) if name in self._arity else function

    def _call(self, name: str, function, args: tuple, kwargs: dict):
        if name == "open_session" and len(args) == self._arity[name] - 1:
            args = (*args, next(self._salts))
        if name in self._record_at and len(args) == self._arity[name] - 1:
            at = self._record_at[name]
            args = (*args[:at], self.record(args[at - 1]), *args[at:])
        if name in self._listing_at and len(args) == self._arity[name] - 1:
            at = self._listing_at[name]
            args = (*args[:at], self.listing(boa.env.eoa).as_argument(), *args[at:])
        result = function(*args, **kwargs)
        if name in self._writes:
            self._observe(self._contract.get_logs())
        return result

    def _observe(self, logs) -> None:
        for log in logs:
            args = log._asdict() if hasattr(log, "_asdict") else {}
            if type(log).__name__ in Listing.EVENTS:
                self.listings[str(args["addr"])] = Listing.from_event(
                    {**args, "receipt_signer": str(args["receipt_signer"])}
                )
            if "session_id" in args:
                found = fold(
                    args["session_id"], [_Logged(type(log).__name__, args)], self.records.get(args["session_id"])
                )
                if found is not None:
                    self.records[args["session_id"]] = found

    def record(self, session_id: int) -> tuple:
        """The session's record as the contract takes it; for an id no event named, an empty one (which the
        contract refuses as it refuses the id)."""
        known = self.records.get(session_id)
        return known.as_argument() if known else NO_SESSION

    def listing(self, operator) -> Listing:
        """The exit's listing as its events tell it (one never registered: an empty one)."""
        return self.listings.get(str(operator), UNLISTED)

    def kept_endpoint(self, operator) -> Endpoint:
        """What the contract itself keeps of the exit."""
        return Endpoint(*self._contract.get_endpoint(str(operator)))

    def get_endpoint(self, operator) -> Exit:
        kept = self.kept_endpoint(operator)
        listing = self.listing(operator) if kept.registered_at else UNLISTED
        if kept.registered_at:
            assert listing.digest() == kept.listing_hash, f"exit {operator}: the events do not add up to its listing"
        return Exit.of(kept, listing)

    def get_session(self, session_id: int) -> Session:
        on_chain = self._contract.get_session_hash(session_id)
        record = self.records[session_id]
        assert record.digest() == on_chain, f"session {session_id}: the events do not add up to the stored record"
        return record


@dataclass(frozen=True)
class _Call:
    """A contract function called through `RecordsFromEvents`; its other attributes (`prepare_calldata`) are
    the function's own."""

    owner: RecordsFromEvents
    name: str
    function: object

    def __call__(self, *args, **kwargs):
        return self.owner._call(self.name, self.function, args, kwargs)

    def __getattr__(self, attribute: str):
        return getattr(self.function, attribute)


@dataclass(frozen=True)
class _Logged:
    name: str
    args: dict


@dataclass
class Operator:
    account: Actor
    receipt_key: Actor

    @property
    def address(self) -> str:
        return self.account.address


class Harness:
    def __init__(self, asset_kind: str):
        self.asset_kind = asset_kind
        self.owner = actor("owner")
        self.token = None
        asset = ZERO
        with boa.env.prank(self.owner.address):
            if asset_kind == "erc20":
                self.token = token_deployer().deploy()
                asset = self.token.address
            self.vpn = RecordsFromEvents(
                deploy_vpn(asset, MIN_SESSION_DEPOSIT, MIN_TAILNET_DEPOSIT, SESSION_GRACE, MIN_STAKE)
            )

    # ------------------------------------------------------------- money
    @property
    def native(self) -> bool:
        return self.token is None

    def fund(self, who, amount: int) -> None:
        who = str(who)
        if self.native:
            boa.env.set_balance(who, boa.env.get_balance(who) + amount)
        else:
            self.token.mint(who, amount)
            with boa.env.prank(who):
                self.token.approve(self.vpn.address, 2**256 - 1)

    def balance(self, who) -> int:
        who = str(who)
        return boa.env.get_balance(who) if self.native else self.token.balanceOf(who)

    def vpn_balance(self) -> int:
        return self.balance(self.vpn.address)

    def pay(self, who, function: str, *args, amount: int, fund: bool = True):
        """Call a payable function that takes `amount` as its last argument."""
        if fund:
            self.fund(who, amount)
        with boa.env.prank(str(who)):
            return getattr(self.vpn, function)(*args, amount, value=amount if self.native else 0)

    def as_(self, who):
        return boa.env.prank(str(who))

    # ------------------------------------------------------------- flows
    def bond(self, who, amount: int = MIN_STAKE):
        return self.pay(who, "bond_endpoint", amount=amount)

    def register(
        self, op: Operator, *, price: int = PRICE, region: str = "eu-west", endpoint: str = "198.51.100.7:51820"
    ):
        with self.as_(op.account):
            self.vpn.register_endpoint(
                endpoint,
                WG_KEY,
                region,
                price,
                op.receipt_key.address,
                self.signer_sig(op.receipt_key, op.account),
            )

    def operator(self, alias: str, *, stake: int = MIN_STAKE, price: int = PRICE) -> Operator:
        op = Operator(actor(alias), actor(alias + "-receipts"))
        self.bond(op.account, stake)
        self.register(op, price=price)
        return op

    def tailnet(self, owner, deposit: int = ETHER) -> int:
        return self.pay(owner, "create_tailnet", ACL_DOCUMENT, amount=deposit)

    def session(
        self, tailnet_id: int, opener, op: Operator, max_pay: int = 10**16, max_price: int | None = None
    ) -> int:
        """Open a session as a client does: at most the exit's price as listed now, unless `max_price`."""
        listed = self.vpn.get_endpoint(op.address).price_per_mb
        with self.as_(opener):
            return self.vpn.open_session(tailnet_id, op.address, max_pay, listed if max_price is None else max_price)

    def earn(self, op: Operator, payer, bytes_used: int) -> int:
        """A session of `payer`'s new tailnet through `op`, settled by `op` with
        `payer`'s receipt for `bytes_used`. Returns the session id."""
        tid = self.tailnet_with_exit(payer, op)
        sid = self.session(tid, payer, op)
        with self.as_(op.account):
            self.vpn.settle_with_receipt(sid, 1, bytes_used, self.receipt_sig(payer, sid, 1, bytes_used))
        return sid

    def tailnet_with_exit(self, owner, op: Operator, deposit: int = ETHER) -> int:
        tid = self.tailnet(owner, deposit)
        with self.as_(owner):
            self.vpn.configure_tailnet_exit(tid, op.address)
        return tid

    # -------------------------------------------------------- governance
    def apply_params(self, params: tuple):
        """Schedule `params`, wait out the timelock, execute (as the owner)."""
        with self.as_(self.owner):
            self.vpn.schedule_params(tuple(params))
            boa.env.time_travel(seconds=GOV_DELAY)
            self.vpn.execute_params()

    def gov_slash(self, operator, evidence: bytes = b"\x01" * 32):
        """Schedule a governance slash of `operator`, wait out the timelock, execute it."""
        with self.as_(self.owner):
            self.vpn.schedule_slash(str(operator), evidence)
            boa.env.time_travel(seconds=GOV_DELAY)
            self.vpn.execute_slash(str(operator))

    @staticmethod
    def report_commitment(reporter, operator, session_id: int, seq: int, bytes_a: int, bytes_b: int) -> bytes:
        return report_commitment(
            reporter=str(reporter),
            operator=str(operator),
            session_id=session_id,
            seq=seq,
            bytes_a=bytes_a,
            bytes_b=bytes_b,
        )

    def commit_report(self, reporter, operator, session_id: int, seq: int, bytes_a: int, bytes_b: int):
        with self.as_(reporter):
            self.vpn.commit_slash_report(self.report_commitment(reporter, operator, session_id, seq, bytes_a, bytes_b))

    def report_double_sign(
        self, reporter, operator, session_id: int, seq: int, bytes_a: int, sig_a: bytes, bytes_b: int, sig_b: bytes
    ):
        """Commit the report, let a block pass, reveal it: what an honest reporter does."""
        self.commit_report(reporter, operator, session_id, seq, bytes_a, bytes_b)
        boa.env.time_travel(blocks=1)
        with self.as_(reporter):
            return self.vpn.slash_double_sign(str(operator), session_id, seq, bytes_a, sig_a, bytes_b, sig_b)

    def events(self, name: str | None = None) -> list:
        """Events OctraVPN emitted in the last transaction (read it right after)."""
        logs = [e for e in self.vpn.get_logs() if type(e).__name__ in self._event_names]
        return [e for e in logs if name is None or type(e).__name__ == name]

    def event(self, name: str):
        """The one `name` event of the last transaction."""
        (found,) = self.events(name)
        return found

    @property
    def _event_names(self) -> set[str]:
        return {item["name"] for item in self.vpn.abi if item["type"] == "event"}

    # ----------------------------------------------------------- signing
    def domain(self) -> Domain:
        return Domain(chain_id=boa.env.evm.patch.chain_id, verifying_contract=self.vpn.address)

    def receipt_sig(self, signer: Actor, session_id: int, seq: int, bytes_used: int) -> bytes:
        return sign(self.domain(), Receipt(session_id=session_id, seq=seq, bytes_used=bytes_used), signer.key)

    def join_sig(self, invite_key: Actor, tailnet_id: int, member) -> bytes:
        return sign(self.domain(), Join(tailnet_id=tailnet_id, member=str(member)), invite_key.key)

    def device_sig(self, device: Actor, wallet) -> bytes:
        return sign(self.domain(), Device(wallet=str(wallet)), device.key)

    def signer_sig(self, receipt_key: Actor, operator) -> bytes:
        return sign(self.domain(), ReceiptSigner(operator=str(operator)), receipt_key.key)

    def register_device(self, wallet, device: Actor):
        """`device` consents to act for `wallet`, and `wallet` registers it."""
        with self.as_(wallet):
            return self.vpn.register_device(device.address, self.device_sig(device, wallet))

    def pay_for(self, session_id: int, bytes_used: int) -> tuple[int, int, int]:
        """(total paid, protocol fee, operator's net) for settling at `bytes_used`."""
        session = self.vpn.get_session(session_id)
        total = bytes_used * session.price_per_mb // 1_000_000
        fee = total * session.protocol_fee_bps // 10_000
        return total, fee, total - fee
