"""Every error OctraVPN reports to a person, as one tree (the way httpx's `_exceptions.py` lays its own out).

Each carries the exit code the command line returns and, where programs tell them apart, a `code`. Its message
says what was wrong and what to do; the command line prints it on one line, and an HTTP service sends it in its
one envelope (`octravpn.serving`).

    OctraVPNError                 1  a failure the user can act on
    ├── UsageError                2  the input was wrong (an amount, an address, a request body)
    │   └── WireError                  a local API body that is not what the API takes (daemon.wire)
    ├── StateError                2  the request does not fit the state it meets: already up, not connected,
    │                                  a device not registered yet, the mesh not running (daemon)
    ├── ConfigError               3  local set-up: the configuration, a state file, the indexer's database
    ├── WalletError               4  a wallet missing, existing already, or its passphrase wrong
    ├── ChainError                5  the chain could not be read or written (chain.errors): RpcUnreachable,
    │                                  WrongChain, ContractNotDeployed, InsufficientFunds, the devnet's;
    │   ├── ContractRevert        6  the contract refused, with its reason
    │   └── TransactionPending    7  sent, and its outcome is not known yet
    └── ServiceError              5  another OctraVPN service failed or refused: an exit's API (ExitAPIError),
        │                              an indexer (IndexerUnavailable), an exit agent that cannot serve
        └── DaemonUnavailable     8  no device daemon answers (daemon.localclient)

Layers below these raise their own, each from one root, and whoever calls them turns them into the above where
they reach a person: `protocol.errors.ProtocolError` (LocalProtocolError for what we would send,
RemoteProtocolError for what another party sent: HandshakeRefused, WireFormatError), `acl.errors.PolicyError`,
`wireguard.errors.WireGuardError` (CommandError, KeyFormatError, DumpFormatError, WireGuardConfigError).
The indexer's reducer refuses a history it cannot apply (UnknownEvent, InconsistentHistory), and the exit's
store a transition its state machine does not allow (StoreError): bugs or a damaged database, never a
person's input, so a service answers them as a 500 that names no internals; the one StoreError a client
meets in normal use, a full address pool (PoolExhausted), is a 503 that says to try another exit.
"""


class OctraVPNError(Exception):
    """Base class: a failure the user can act on."""

    exit_code = 1
    code: str | None = None  # for programs: a stable name of this kind of refusal


class UsageError(OctraVPNError):
    """The command was given bad input (an amount, an address, a name)."""

    exit_code = 2


class StateError(OctraVPNError):
    """The request does not fit the state it meets (already up, nothing to take down, not registered yet)."""

    exit_code = 2


class ConfigError(OctraVPNError):
    """The configuration file or an `OCTRAVPN_*` variable is invalid or incomplete."""

    exit_code = 3


class WalletError(OctraVPNError):
    """A wallet is missing, exists already, or its passphrase is wrong."""

    exit_code = 4


class ServiceError(OctraVPNError):
    """Another OctraVPN service (an exit's API, an indexer, the local daemon) did not answer, or refused."""

    exit_code = 5
