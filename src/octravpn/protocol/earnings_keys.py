"""Keys for the operator's earnings ledger: ElGamal on alt_bn128 (BN254 G1).

An exit registers a public key `PK = x*G` and a ciphertext of zero
`Enc(0) = (r*G, r*PK)`. The contract checks both are curve points with the
EVM's ecAdd precompile. Today the contract keeps earnings as a plain balance;
these keys are what an encrypted ledger (additively homomorphic "exponential"
ElGamal, amounts in the exponent) will be built on without changing how exits
register.

Points travel as integers (x, y); the point at infinity is (0, 0), as the
precompiles encode it.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass

from eth_hash.auto import keccak

# Importing py_ecc raises the interpreter's recursion limit to 100,000 for everyone. In a server that
# lets a deeply nested request recurse past the C stack (a segfault, not a RecursionError). The
# optimized curve needs no such depth (scalar multiplication recurses about 256 deep), so the limit
# is put back as it was.
_recursion_limit = sys.getrecursionlimit()
try:
    from py_ecc.optimized_bn128 import FQ, G1, Z1, add, curve_order, is_on_curve, multiply, normalize
    from py_ecc.optimized_bn128 import b as CURVE_B
finally:
    sys.setrecursionlimit(_recursion_limit)

from octravpn.protocol.errors import LocalProtocolError, RemoteProtocolError  # noqa: E402  (after py_ecc, on purpose)

Point = tuple[int, int]


def _to_ints(point) -> Point:
    if point == Z1 or point[2] == 0:
        return (0, 0)
    x, y = normalize(point)
    return (int(x), int(y))


def _from_ints(point: Point):
    x, y = point
    if (x, y) == (0, 0):
        return Z1
    candidate = (FQ(x), FQ(y), FQ(1))
    if not (0 <= x < FQ.field_modulus and 0 <= y < FQ.field_modulus) or not is_on_curve(candidate, CURVE_B):
        raise RemoteProtocolError(f"({x}, {y}) is not an alt_bn128 point")
    return candidate


@dataclass(frozen=True, kw_only=True)
class EarningsKeypair:
    """An ElGamal keypair: `secret` in [1, n), `public = secret * G`."""

    secret: int

    def __post_init__(self) -> None:
        if not isinstance(self.secret, int) or not 0 < self.secret < curve_order:
            raise LocalProtocolError("earnings secret must be an integer in [1, curve order)")

    @classmethod
    def generate(cls) -> EarningsKeypair:
        return cls(secret=secrets.randbelow(curve_order - 1) + 1)

    @classmethod
    def derive(cls, account_key: bytes) -> EarningsKeypair:
        """The keypair bound to an operator's account key: recoverable from the
        wallet alone, and independent of it (a domain-separated hash)."""
        if not isinstance(account_key, bytes) or len(account_key) != 32:
            raise LocalProtocolError("account key must be 32 bytes")
        digest = keccak(b"octravpn-earnings-key-v1" + account_key)
        return cls(secret=int.from_bytes(digest, "big") % (curve_order - 1) + 1)

    @property
    def public(self) -> Point:
        return _to_ints(multiply(G1, self.secret))

    def encrypt_zero(self, randomness: int | None = None) -> tuple[int, int, int, int]:
        """A fresh ciphertext of 0: (r*G, r*PK), flattened as the contract takes it."""
        r = randomness if randomness is not None else secrets.randbelow(curve_order - 1) + 1
        if not 0 < r < curve_order:
            raise LocalProtocolError("randomness must be in [1, curve order)")
        c1 = _to_ints(multiply(G1, r))
        c2 = _to_ints(multiply(_from_ints(self.public), r))
        return (*c1, *c2)

    def decrypts_to_zero(self, ciphertext: tuple[int, int, int, int]) -> bool:
        """True if `ciphertext` encrypts 0 under this key: c2 - x*c1 is infinity."""
        c1 = _from_ints(ciphertext[:2])
        c2 = _from_ints(ciphertext[2:])
        return _to_ints(add(c2, multiply(c1, curve_order - self.secret))) == (0, 0)
