"""Shared fakes for the exit-node tests: a chain with three sessions, and signed requests."""

from __future__ import annotations

from eth_account import Account
from web3 import Web3

from octravpn.chain.artifacts import load as load_artifact
from octravpn.chain.errors import ContractRevert, RpcUnreachable
from octravpn.chain.records import Session
from octravpn.node.handshake import ChainView
from octravpn.node.opening import OpenTransaction, decode_open
from octravpn.protocol import Domain, PeerRequest, sign
from octravpn.protocol.sessions import session_id_for
from octravpn.wireguard.keys import Keypair, encode_key

DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
OPENER, DEVICE, STRANGER = (Account.from_key(bytes([i]) * 32) for i in (1, 2, 3))
EXIT = "0x" + "e1" * 20
NOW = 1_800_000_000
EXIT_KEYS = Keypair.from_private(b"\x44" * 32)
CLIENT_KEYS = Keypair.from_private(b"\x55" * 32)


class FakeChain(ChainView):
    """What the exit's handshake reads of the chain (`ChainView`, whose real one is `ContractChainView`): three
    sessions and one device. Derived from the protocol so the type checker holds each method to its
    signature (`make lint`)."""

    def __init__(self) -> None:
        terms = dict(
            protocol_fee_bps=50, sweep_bounty_bps=100, settle_by=NOW + 86_400, sweep_after=NOW + 864_000, bytes_paid=0
        )
        self.sessions = {
            7: Session(
                tailnet_id=0,
                exit=EXIT,
                opener=OPENER.address,
                deposit=10**16,
                price_per_mb=2 * 10**12,
                opened_at=NOW - 10,
                status=0,
                **terms,
            ),
            8: Session(
                tailnet_id=0,
                exit="0x" + "e2" * 20,
                opener=OPENER.address,
                deposit=10**16,
                price_per_mb=1,
                opened_at=NOW,
                status=0,
                **terms,
            ),
            9: Session(
                tailnet_id=0,
                exit=EXIT,
                opener=OPENER.address,
                deposit=10**16,
                price_per_mb=1,
                opened_at=NOW,
                status=1,
                **terms,
            ),
        }
        self.devices = {DEVICE.address: OPENER.address}
        self.down = False
        self.contract = Web3().eth.contract(
            address=Web3.to_checksum_address(DOMAIN.verifying_contract), abi=load_artifact().abi
        )
        self.mined: dict[str, int] = {}  # the next nonce to be mined (0 unless set)
        self.waiting: dict[str, int] = {}  # transactions in the mempool beyond those
        self.base = 10**9  # the latest base fee
        self.revert: str | None = None  # what an open run now would revert with
        self.sent: list[bytes] = []  # transactions put in the mempool

    def session(self, session_id: int) -> Session | None:
        if self.down:
            raise RpcUnreachable("http://127.0.0.1:1", "connection refused")
        return self.sessions.get(session_id)

    def device_owner(self, address: str) -> str | None:
        return self.devices.get(address)

    def is_receipt_signer(self, session_id: int, signer: str) -> bool:
        opener = self.sessions[session_id].opener
        return signer == opener or self.devices.get(signer) == opener

    def decode_open(self, raw: bytes) -> OpenTransaction:
        return decode_open(raw, self.contract)

    def nonces(self, address: str) -> tuple[int, int]:
        mined = self.mined.get(address, 0)
        return mined, mined + self.waiting.get(address, 0)

    def base_fee(self) -> int | None:
        return self.base

    def simulate(self, call: dict) -> None:
        if self.revert:
            raise ContractRevert("open_session", self.revert)

    def send_raw(self, raw: bytes) -> None:
        self.sent.append(raw)


def open_tx(sender=OPENER, *, salt=5, exit=EXIT, to=None, **fields):
    """A signed `open_session` transaction, as a device sends it (`fields`: the transaction's, for
    `signed_call`); its session's id."""
    contract = Web3().eth.contract(address=DOMAIN.verifying_contract, abi=load_artifact().abi)
    args = [0, Web3.to_checksum_address(exit), 10**16, 2 * 10**12, salt]
    data = contract.encode_abi("open_session", args=args)
    return signed_call(sender, data, to=to, **fields), session_id_for(sender.address, salt)


def signed_call(sender, data, *, to=None, chain_id=31337, nonce=0, max_fee=2 * 10**9, value=0) -> bytes:
    """An EIP-1559 transaction of `sender` calling the contract (or `to`) with `data`, signed."""
    tx = {
        "to": Web3.to_checksum_address(to or DOMAIN.verifying_contract),
        "data": data,
        "value": value,
        "gas": 200_000,
        "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": 1,
        "nonce": nonce,
        "chainId": chain_id,
        "type": 2,
    }
    return bytes(sender.sign_transaction(tx).raw_transaction)


def _body(signer=OPENER, session_id=7, timestamp=NOW, key=CLIENT_KEYS.public):
    request = PeerRequest(session_id=session_id, wg_pubkey=key, timestamp=timestamp)
    return {
        "session_id": session_id,
        "wg_pubkey": encode_key(key),
        "timestamp": timestamp,
        "signature": "0x" + sign(DOMAIN, request, signer.key).hex(),
    }


def read_header(session_id: int = 7, reader=None) -> dict:
    """A signed read of a session's receipt request (the opener's unless `reader`)."""
    import time

    from octravpn.protocol.exitwire import SessionRead

    who = reader or OPENER
    read = SessionRead(subject=session_id, reader=who.address, timestamp=int(time.time()))
    return {"Authorization": read.header(sign(DOMAIN, read, who.key))}
