"""The one way the daemon connects through an exit, for `up`, a failover and a rejoin alike: the session's
terms, the exit's handshake with a new key, then the host pointed at the exit. Each caller says only how it
gets its session (opened, named, or the one it holds) and what it does to the host (bring the tunnel up, move
it to another exit, put it back).

A rejoin needs neither the chain nor an indexer: the exit's key and address are in the saved connection, and
the handshake is the exit's API alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from eth_account.signers.local import LocalAccount

from octravpn.client.connect import Joined, Located, Terms, Timestamps, join
from octravpn.client.discovery import IndexerClient, choose_exit
from octravpn.client.exit_api import ExitAPIError
from octravpn.client.state import Connection
from octravpn.daemon.chainlink import ChainLink
from octravpn.daemon.wire import UpRequest
from octravpn.errors import StateError, UsageError
from octravpn.host.tunnel import interface_config
from octravpn.protocol.eip712 import Domain
from octravpn.wireguard.config import InterfaceConfig
from octravpn.wireguard.keys import Keypair, decode_key, encode_key

log = logging.getLogger("octravpn.daemon")

HostStep = Callable[[InterfaceConfig, Joined], None]  # point the host at the exit that just took the key


class NotRegistered(StateError):
    """This device's key acts for no member yet."""

    code = "device-not-registered"

    def __init__(self, message: str, device: str) -> None:
        super().__init__(message)
        self.detail = {"device": device}


class Dialer:
    def __init__(
        self,
        link: ChainLink,
        *,
        account: LocalAccount,
        domain: Domain,
        indexer_url: str | None,
        clock: Callable[[], float],
    ) -> None:
        self.link, self.account, self.domain, self.indexer_url, self.clock = link, account, domain, indexer_url, clock
        self.stamps = Timestamps(clock)  # every request this device signs for an exit: strictly increasing
        self.member: str | None = None  # the member wallet this device acts for, once the chain said

    def refresh_member(self) -> bool:
        """Ask the chain again whom this device acts for; True if that changed."""
        member = self.link.connector().member()
        changed, self.member = member != self.member, member
        return changed

    def registered_member(self) -> str:
        """The member this device acts for; `NotRegistered` says how to add it if it acts for none."""
        if self.member is None:
            self.refresh_member()
        if self.member is None:
            raise NotRegistered(
                f"this device ({self.account.address}) acts for no member yet: on a machine with the member's wallet "
                f"run `octravpn -w WALLET device add {self.account.address} --fund 0.01` (or give `up` that wallet "
                "with -w)",
                self.account.address,
            )
        return self.member

    def target(
        self, request: UpRequest, *, exclude=frozenset(), prefer=frozenset()
    ) -> tuple[Located, Callable[[], Terms]]:
        """The exit a request names (or `auto` chooses, passing over `exclude`, and among those it would take,
        one in `prefer` first), and how to get its session: the one `--session` names, checked to be this
        device's and open there, or a new one at the price the exit was chosen at."""
        member = self.registered_member()
        connector = self.link.connector()
        exit_addr, tailnet_id, price = self._choose(request, member, exclude, prefer)
        located = connector.locate(exit_addr)
        price = located.price_per_mb if price is None else price
        max_pay = self.link.amount(request.max_pay, "max pay")

        def session() -> Terms:
            if request.session is not None:
                connector.reusable(located.address, request.session, required=True)
                return connector.terms(request.session)
            with self.link.transactions:
                return connector.begin_session(located.address, tailnet_id, max_pay, price)

        return located, session

    def _choose(self, request: UpRequest, member: str, exclude, prefer) -> tuple[str, int | None, int | None]:
        """The exit's address, the tailnet that pays (None: the one tailnet that allows it) and the price it was
        chosen at (None: as listed now)."""
        if request.exit != "auto":
            return request.exit, request.tailnet, None
        url = request.indexer or self.indexer_url
        if url is None:
            raise UsageError("--exit auto needs an indexer: pass --indexer URL (or start the daemon with --indexer)")
        api = IndexerClient(url, timeout=5.0)
        try:
            chosen = choose_exit(
                api,
                member,
                tailnet=request.tailnet,
                region=request.region,
                max_price=self.link.amount(request.max_price, "max price"),
                exclude=frozenset(exclude),
                prefer=frozenset(prefer),
            )
        finally:
            api.close()
        log.info("--exit auto: %s for tailnet %d (price %d per MB)", *chosen)
        return chosen

    def join(
        self,
        located: Located,
        session_id: int,
        public_key: bytes,
        *,
        signs_receipts: bool = True,
        open_tx: bytes | None = None,
    ) -> Joined:
        """The exit's handshake (its API only: no chain)."""
        return join(
            self.domain,
            self.account,
            located.api_url,
            located.wg_pubkey,
            session_id,
            public_key,
            clock=self.stamps,
            signs_receipts=signs_receipts,
            open_tx=open_tx,
        )

    def _join_new(self, located: Located, terms: Terms, public_key: bytes) -> tuple[Terms, Joined]:
        """Join, while a new session's open is mined if the exit takes that (no block to wait for), else once it
        is mined."""
        if terms.opening is None:
            return terms, self.join(located, terms.session_id, public_key)
        try:
            return terms, self.join(located, terms.session_id, public_key, open_tx=terms.opening.raw)
        except ExitAPIError as exc:
            if exc.status not in (404, 409):  # 404: an exit from before openings
                raise
            log.info("the exit takes session %d once its open is mined (%s)", terms.session_id, exc.reason)
        with self.link.transactions:
            terms = self.link.connector().opened(terms)
        return terms, self.join(located, terms.session_id, public_key)

    def dial(
        self,
        located: Located,
        session: Callable[[], Terms],
        interface: str,
        host_step: HostStep,
        *,
        prepare: Callable[[bytes], None] | None = None,
    ) -> Connection:
        """Terms, handshake, host: the connection they make. `prepare(private_key)` runs beside the first two
        (making the interface takes as long as a transaction, and neither needs the other)."""
        keys = Keypair.generate()
        with ThreadPoolExecutor(max_workers=1) as pool:
            prepared = pool.submit(prepare, keys.private) if prepare else None
            try:
                terms, joined = self._join_new(located, session(), keys.public)
            finally:
                if prepared is not None:
                    prepared.result()
        host_step(
            interface_config(interface, keys.private, joined.client_address, joined.exit_public_key, located.endpoint),
            joined,
        )
        return connection_of(terms, located, joined)


def connection_of(terms: Terms, located: Located, joined: Joined) -> Connection:
    return Connection(
        session_id=terms.session_id,
        exit=located.address,
        tailnet_id=terms.tailnet_id,
        deposit=terms.deposit,
        price_per_mb=terms.price_per_mb,
        exit_endpoint=located.endpoint,
        receipt_signer=located.receipt_signer,
        exit_wg_pubkey=encode_key(located.wg_pubkey),
        client_address=joined.client_address,
        exit_address=joined.exit_address,
        dns=list(joined.dns),
        open_tx=terms.open_tx,
        chain_status="open" if terms.opening is None else "opening",
    )


def held(connection: Connection) -> tuple[Located, Callable[[], Terms]]:
    """The exit and session a connection holds, as a rejoin dials them: from the saved connection alone."""
    ip, port = connection.exit_endpoint.rsplit(":", 1)
    located = Located(
        address=connection.exit,
        wg_pubkey=decode_key(connection.exit_wg_pubkey),
        price_per_mb=connection.price_per_mb,
        ip=ip,
        port=int(port),
        receipt_signer=connection.receipt_signer,
    )
    terms = Terms(
        session_id=connection.session_id,
        tailnet_id=connection.tailnet_id,
        deposit=connection.deposit,
        price_per_mb=connection.price_per_mb,
    )
    return located, lambda: terms


def failover_request(request: UpRequest, tailnet_id: int) -> UpRequest:
    """What a failover asks for: the same preferences, a new session on the same tailnet."""
    return replace(request, tailnet=tailnet_id, session=None)
