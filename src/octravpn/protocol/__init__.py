"""Sans-I/O protocol core: typed messages, their EIP-712 hashes and signatures.

Nothing in this package opens a socket, starts a process, or talks to a node.
"""

from octravpn.protocol.eip712 import (
    Domain,
    Join,
    PeerRequest,
    Receipt,
    TypedMessage,
    digest,
    recover,
    sign,
    typed_data,
)
from octravpn.protocol.errors import LocalProtocolError, ProtocolError, RemoteProtocolError

__all__ = [
    "Domain",
    "Join",
    "LocalProtocolError",
    "PeerRequest",
    "ProtocolError",
    "Receipt",
    "RemoteProtocolError",
    "TypedMessage",
    "digest",
    "recover",
    "sign",
    "typed_data",
]
