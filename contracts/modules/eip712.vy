# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title EIP-712 domain and signature recovery
@notice Domain: name "OctraVPN", version "1", the chain id, this contract.
@dev The separator is cached at deployment and rebuilt if the chain id ever
     changes (a fork), so a signature for one chain never verifies on another,
     or if the code runs for another address (the extension, run by
     delegatecall, binds signatures to the contract that holds the state).
     `_recover` refuses the empty address and high-s signatures, so every
     message has exactly one valid signature per key.
"""

_DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
_NAME_HASH: constant(bytes32) = keccak256("OctraVPN")
_VERSION_HASH: constant(bytes32) = keccak256("1")
# secp256k1 group order / 2: the upper bound for a canonical `s`.
_MAX_S: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168

_CACHED_CHAIN_ID: immutable(uint256)
_CACHED_SELF: immutable(address)
_CACHED_DOMAIN_SEPARATOR: immutable(bytes32)


@deploy
def __init__():
    _CACHED_CHAIN_ID = chain.id
    _CACHED_SELF = self
    _CACHED_DOMAIN_SEPARATOR = self._build_domain_separator()


@external
@view
def DOMAIN_SEPARATOR() -> bytes32:
    """
    @notice The EIP-712 domain separator that every signed message is bound to.
    @return The EIP-712 domain separator every signed message of this
           deployment uses.
    """
    return self._domain_separator()


@internal
@view
def _domain_separator() -> bytes32:
    if chain.id == _CACHED_CHAIN_ID and self == _CACHED_SELF:
        return _CACHED_DOMAIN_SEPARATOR
    return self._build_domain_separator()


@internal
@view
def _build_domain_separator() -> bytes32:
    return keccak256(abi_encode(_DOMAIN_TYPEHASH, _NAME_HASH, _VERSION_HASH, chain.id, self))


@internal
@view
def _recover(struct_hash: bytes32, signature: Bytes[65]) -> address:
    """
    @dev Recovers the signer of the typed message whose struct hash is
         `struct_hash`. Reverts with a readable reason on a malformed or
         non-canonical signature.
    """
    assert len(signature) == 65, "signature must be 65 bytes (r, s, v)"
    digest: bytes32 = keccak256(concat(x"1901", self._domain_separator(), struct_hash))
    r: uint256 = convert(extract32(signature, 0), uint256)
    s: uint256 = convert(extract32(signature, 32), uint256)
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    if v < 27:
        v += 27
    assert v == 27 or v == 28, "signature v must be 27 or 28"
    assert s <= _MAX_S, "signature s is not canonical (high-s)"
    signer: address = ecrecover(digest, v, r, s)
    assert signer != empty(address), "signature does not recover a signer"
    return signer


@internal
@view
def _signer_or_empty(struct_hash: bytes32, signature: Bytes[65]) -> address:
    """
    @dev `_recover` for a caller that goes on past a bad signature (an item
         of a batch): the empty address where `_recover` reverts.
    """
    if len(signature) != 65:
        return empty(address)
    digest: bytes32 = keccak256(concat(x"1901", self._domain_separator(), struct_hash))
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    if v < 27:
        v += 27
    s: uint256 = convert(extract32(signature, 32), uint256)
    if (v != 27 and v != 28) or s > _MAX_S:
        return empty(address)
    return ecrecover(digest, v, convert(extract32(signature, 0), uint256), s)
