"""Sans-I/O protocol core: typed messages, their EIP-712 hashes and signatures.

Nothing in this package opens a socket, starts a process, or talks to a node.
"""

from octravpn.protocol.eip712 import (
    Device,
    Domain,
    Join,
    PeerRequest,
    Receipt,
    ReceiptSigner,
    TypedMessage,
    digest,
    recover,
    sign,
    typed_data,
)
from octravpn.protocol.errors import LocalProtocolError, ProtocolError, RemoteProtocolError

__all__ = [
    "Device",
    "Domain",
    "Join",
    "LocalProtocolError",
    "PeerRequest",
    "ProtocolError",
    "Receipt",
    "ReceiptSigner",
    "RemoteProtocolError",
    "TypedMessage",
    "digest",
    "recover",
    "sign",
    "typed_data",
]
