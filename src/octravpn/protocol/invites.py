"""Pre-auth invite strings: what a tailnet owner hands to a new member.

    ovpn-invite-1.<chain id>.<contract>.<tailnet id>.<one-time key, 64 hex>

The key's address is registered on chain (`precommit_join_token`); whoever holds
the string signs `Join(tailnetId, member)` for its own wallet. Chain and contract
travel with the key so it cannot be redeemed against the wrong deployment.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from eth_keys import keys
from eth_utils import is_address, to_checksum_address

from octravpn.protocol.eip712 import Domain, Join, sign
from octravpn.protocol.errors import RemoteProtocolError

PREFIX = "ovpn-invite-1"


@dataclass(frozen=True, kw_only=True)
class Invite:
    chain_id: int
    contract: str
    tailnet_id: int
    key: bytes

    @classmethod
    def new(cls, *, chain_id: int, contract: str, tailnet_id: int) -> Invite:
        return cls(
            chain_id=chain_id,
            contract=to_checksum_address(contract),
            tailnet_id=tailnet_id,
            key=secrets.token_bytes(32),
        )

    @property
    def key_address(self) -> str:
        return keys.PrivateKey(self.key).public_key.to_checksum_address()

    def encode(self) -> str:
        return f"{PREFIX}.{self.chain_id}.{self.contract}.{self.tailnet_id}.{self.key.hex()}"

    @classmethod
    def decode(cls, text: str) -> Invite:
        parts = text.strip().split(".")
        if len(parts) != 5 or parts[0] != PREFIX:
            raise RemoteProtocolError(f"not an OctraVPN invite: expected {PREFIX}.<chain>.<contract>.<tailnet>.<key>")
        _, chain, contract, tailnet, key = parts
        if not (chain.isdigit() and tailnet.isdigit() and is_address(contract)):
            raise RemoteProtocolError("invite is damaged: chain id, contract or tailnet id is malformed")
        try:
            raw_key = bytes.fromhex(key)
        except ValueError as exc:
            raise RemoteProtocolError("invite is damaged: the key is not hex") from exc
        if len(raw_key) != 32:
            raise RemoteProtocolError("invite is damaged: the key is not 32 bytes")
        return cls(chain_id=int(chain), contract=to_checksum_address(contract), tailnet_id=int(tailnet), key=raw_key)

    def join_signature(self, member: str) -> bytes:
        """The invite key's signature admitting `member`."""
        domain = Domain(chain_id=self.chain_id, verifying_contract=self.contract)
        return sign(domain, Join(tailnet_id=self.tailnet_id, member=member), self.key)
