"""The two ways a protocol exchange goes wrong, after h11's split.

`LocalProtocolError`: we were asked to build or send something invalid (a bug or
bad input on our side). `RemoteProtocolError`: a peer handed us something
invalid (a bad signature, a malformed message): reject it, and keep going.
"""


class ProtocolError(Exception):
    """Base class for protocol errors."""


class LocalProtocolError(ProtocolError, ValueError):
    """We tried to construct or sign an invalid message."""


class RemoteProtocolError(ProtocolError, ValueError):
    """A message or signature received from a peer is invalid."""
