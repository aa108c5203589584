"""Read-side queries for the discovery API: filters, sorting and pages over the indexed tables."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, and_, func, select, true
from sqlalchemy.exc import IntegrityError

from octravpn.indexer import schema
from octravpn.protocol.sessions import STATUS_NAMES

op = schema.operators
MAX_ANNOUNCEMENTS = 10_000  # live announcements one tailnet may hold (the chain bounds it too: 64 devices a member)
EXIT_SORTS = {
    "price": (op.c.price_per_mb,),
    "stake": (op.c.stake,),
    "reputation": (op.c.reputation,),
    "registered": (op.c.registered_at,),
    "region": (op.c.region, op.c.price_per_mb),
}
SESSION_STATUSES = tuple(STATUS_NAMES.values())
# What an exit listing shows: reading (and converting) the operator's other amounts would cost a third of a page's time.
EXIT_COLUMNS = [
    op.c[name]
    for name in (
        "address",
        "endpoint",
        "region",
        "price_per_mb",
        "wg_pubkey",
        "receipt_signer",
        "registered_at",
        "reputation",
        "stake",
        "active",
        "listed",
        "slashed",
        "sessions_settled",
        "bytes_served",
    )
]


@dataclass(frozen=True)
class ExitFilter:
    region: str | None = None
    max_price: int | None = None
    min_stake: int | None = None
    min_reputation: int | None = None
    active: bool = True
    tailnet: int | None = None


@dataclass(frozen=True)
class Page:
    items: list[dict]
    total: int
    limit: int
    offset: int


def _page(connection, table, condition, order, limit: int, offset: int, *, joined=None) -> Page:
    """One page of `table`'s rows matching `condition`, and how many match in all. `joined`: `table` joined to what
    `order` sorts by (each row of `table` meets one row of it)."""
    items = [
        dict(r)
        for r in connection.execute(
            select(table)
            .select_from(table if joined is None else joined)
            .where(condition)
            .order_by(*order)
            .limit(limit)
            .offset(offset)
        ).mappings()
    ]
    total = connection.execute(select(func.count()).select_from(table).where(condition)).scalar_one()
    return Page(items, total, limit, offset)


# `active = true`, not just `active`: an equality the planners match to the (active, …) indexes.
ACTIVE = op.c.active == True  # noqa: E712


class Queries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def exits(
        self, where: ExitFilter, *, sort: str = "price", descending: bool = False, limit: int = 50, offset: int = 0
    ) -> Page:
        with self.engine.connect() as connection:
            conditions = [ACTIVE] if where.active else [op.c.registered_at > 0]
            if where.region is not None:
                conditions.append(op.c.region == where.region)
            if where.max_price is not None:
                conditions.append(op.c.price_per_mb <= where.max_price)
            if where.min_stake is not None:
                conditions.append(op.c.stake >= where.min_stake)
            if where.min_reputation is not None:
                conditions.append(op.c.reputation >= where.min_reputation)
            if where.tailnet is not None:
                allowed = select(schema.tailnet_exits.c.exit).where(schema.tailnet_exits.c.tailnet_id == where.tailnet)
                conditions.append(op.c.address.in_(allowed))
            condition = and_(*conditions)
            columns = EXIT_SORTS[sort]
            # The address breaks ties in the same direction, so one index walk yields the page (no sort step).
            order = [c.desc() if descending else c.asc() for c in (*columns, op.c.address)]
            # Deferred join: find the page's keys on the index alone, then read only those rows (deep offsets
            # would otherwise read every skipped row).
            page = select(op.c.address).where(condition).order_by(*order).limit(limit).offset(offset).subquery()
            rows = connection.execute(
                select(*EXIT_COLUMNS).join(page, op.c.address == page.c.address).order_by(*order)
            ).mappings()
            items = [dict(row) for row in rows]
            total = connection.execute(select(func.count()).select_from(op).where(condition)).scalar_one()
        return Page(items, total, limit, offset)

    def operator(self, address: str) -> dict | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(op).where(op.c.address == address)).mappings().first()
        return None if row is None else dict(row)

    def tailnets(
        self, *, member: str | None = None, owner: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page:
        t = schema.tailnets
        condition: ColumnElement[bool] = true()
        if member is not None:
            joined = select(schema.tailnet_members.c.tailnet_id).where(schema.tailnet_members.c.member == member)
            condition = and_(condition, t.c.id.in_(joined))
        if owner is not None:
            condition = and_(condition, t.c.owner == owner)
        with self.engine.connect() as connection:
            return _page(connection, t, condition, [t.c.id], limit, offset)

    def tailnet(self, tailnet_id: int) -> dict | None:
        with self.engine.connect() as connection:
            row = (
                connection.execute(select(schema.tailnets).where(schema.tailnets.c.id == tailnet_id)).mappings().first()
            )
            if row is None:
                return None
            members = schema.tailnet_members
            exits = schema.tailnet_exits
            tailnet = dict(row)
            tailnet["members"] = [
                dict(r)
                for r in connection.execute(
                    select(members.c.member, members.c.added_at)
                    .where(members.c.tailnet_id == tailnet_id)
                    .order_by(members.c.added_at, members.c.member)
                ).mappings()
            ]
            tailnet["exits"] = [
                dict(r)
                for r in connection.execute(
                    select(exits.c.exit, exits.c.configured_at)
                    .where(exits.c.tailnet_id == tailnet_id)
                    .order_by(exits.c.configured_at, exits.c.exit)
                ).mappings()
            ]
            tailnet["acl_document"] = (
                connection.execute(
                    select(func.count())
                    .select_from(schema.acl_documents)
                    .where(schema.acl_documents.c.hash == tailnet["acl_policy"])
                ).scalar_one()
                > 0
            )
        return tailnet

    def sessions(
        self,
        *,
        tailnet: int | None = None,
        exit_address: str | None = None,
        opener: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        s = schema.sessions
        conditions = []
        for column, value in (
            (s.c.tailnet_id, tailnet),
            (s.c.exit, exit_address),
            (s.c.opener, opener),
            (s.c.status, status),
        ):
            if value is not None:
                conditions.append(column == value)
        condition = and_(true(), *conditions)
        # Newest first: a session's id is a hash, so the place of its `SessionOpened` event says when it opened.
        e = schema.events
        opened = s.join(e, and_(e.c.session_id == s.c.id, e.c.name == "SessionOpened"))
        order = [e.c.block_number.desc(), e.c.log_index.desc()]
        with self.engine.connect() as connection:
            return _page(connection, s, condition, order, limit, offset, joined=opened)

    def session(self, session_id: int) -> dict | None:
        e = schema.events
        with self.engine.connect() as connection:
            row = (
                connection.execute(select(schema.sessions).where(schema.sessions.c.id == session_id)).mappings().first()
            )
            if row is None:
                return None
            session = dict(row)
            session["events"] = [
                {
                    "name": r.name,
                    "block_number": r.block_number,
                    "log_index": r.log_index,
                    "tx_hash": r.tx_hash,
                    "args": json.loads(r.args),
                }
                for r in connection.execute(
                    select(e).where(e.c.session_id == session_id).order_by(e.c.block_number, e.c.log_index)
                )
            ]
        return session

    def stats(self) -> dict:
        s, t = schema.sessions, schema.tailnets
        with self.engine.connect() as connection:
            protocol = dict(connection.execute(select(schema.protocol)).mappings().one())
            counted = connection.execute(select(s.c.status, func.count()).group_by(s.c.status)).all()
            by_status: dict[str, int] = {status: count for status, count in counted}
            stakes = connection.execute(select(op.c.stake, op.c.unbonding)).all()
            return {
                "operators": len(stakes),
                "exits_registered": connection.execute(select(func.count()).where(op.c.registered_at > 0)).scalar_one(),
                "exits_active": connection.execute(select(func.count()).where(ACTIVE)).scalar_one(),
                "regions": list(
                    connection.execute(
                        select(op.c.region).where(ACTIVE).group_by(op.c.region).order_by(op.c.region)
                    ).scalars()
                ),
                "tailnets": connection.execute(select(func.count()).select_from(t)).scalar_one(),
                "sessions": {status: by_status.get(status, 0) for status in SESSION_STATUSES},
                "staked": sum(stake for stake, _ in stakes),
                "unbonding": sum(unbonding for _, unbonding in stakes),
                "bytes_settled": protocol["bytes_settled"],
                "volume_paid": protocol["volume_paid"],
                "program_treasury": protocol["program_treasury"],
                "paused": protocol["paused"],
                "owner": protocol["owner"],
            }

    def tailnet_acl_hash(self, tailnet_id: int) -> str | None:
        with self.engine.connect() as connection:
            return connection.execute(
                select(schema.tailnets.c.acl_policy).where(schema.tailnets.c.id == tailnet_id)
            ).scalar_one_or_none()

    def acl_document(self, acl_hash: str) -> dict | None:
        with self.engine.connect() as connection:
            row = (
                connection.execute(select(schema.acl_documents).where(schema.acl_documents.c.hash == acl_hash))
                .mappings()
                .first()
            )
        return None if row is None else dict(row)

    # ------------------------------------------------------ announcements
    def acts_for(self, tailnet_id: int, address: str) -> str | None:
        """The member of the tailnet `address` acts for: itself if it is a member, the wallet it is a (not revoked)
        device of if that wallet is a member; None otherwise."""
        members = schema.tailnet_members
        with self.engine.connect() as connection:

            def is_member(wallet: str) -> bool:
                found = select(members.c.member).where(members.c.tailnet_id == tailnet_id, members.c.member == wallet)
                return connection.execute(found).first() is not None

            if is_member(address):
                return address
            wallet = connection.execute(
                select(schema.devices.c.wallet).where(schema.devices.c.device == address)
            ).scalar_one_or_none()
            return wallet if wallet is not None and is_member(wallet) else None

    def _on_roster(self, tailnet_id: int):
        """A condition on `announcements.device`: the key is a member of the tailnet, or a live device of one."""
        a, members, devices = schema.announcements, schema.tailnet_members, schema.devices
        is_member = select(members.c.member).where(members.c.tailnet_id == tailnet_id)
        member_devices = select(devices.c.device).where(devices.c.wallet.in_(is_member))
        return a.c.device.in_(is_member) | a.c.device.in_(member_devices)

    def store_announcement(
        self, tailnet_id: int, device: str, *, seq: int, hostname: str, expires: int, document: str, now: int
    ) -> tuple[str, object] | None:
        """Keep `document` as the device's announcement, unless: the one held is as new ("seq", the seq held);
        another live device of the tailnet announced the hostname first ("hostname", that device); the tailnet
        already fills the mailbox ("full", the limit). One transaction decides, also between concurrent uploads."""
        a = schema.announcements
        key = (a.c.tailnet_id == tailnet_id) & (a.c.device == device)
        try:
            with self.engine.begin() as connection:
                held = connection.execute(select(a.c.seq, a.c.hostname).where(key)).first()
                if held is not None and int(held.seq) >= seq:
                    return "seq", int(held.seq)
                holder = connection.execute(
                    select(a.c.device)
                    .where(a.c.tailnet_id == tailnet_id, a.c.hostname == hostname, a.c.device != device)
                    .where(a.c.expires > now, self._on_roster(tailnet_id))
                    .limit(1)
                ).scalar_one_or_none()
                if holder is not None:
                    return "hostname", holder
                values = {
                    "seq": seq,
                    "announcement": document,
                    "stored_at": now,
                    "hostname": hostname,
                    "expires": expires,
                }
                if held is None:
                    count = connection.execute(
                        select(func.count()).select_from(a).where(a.c.tailnet_id == tailnet_id, a.c.expires > now)
                    ).scalar_one()
                    if count >= MAX_ANNOUNCEMENTS:
                        return "full", MAX_ANNOUNCEMENTS
                    connection.execute(a.insert().values(tailnet_id=tailnet_id, device=device, **values))
                else:
                    connection.execute(a.update().where(key, a.c.seq == held.seq).values(**values))
        except IntegrityError:  # a concurrent first upload of the same device won
            return "seq", self.announcement_seq(tailnet_id, device)
        return None

    def announcement_seq(self, tailnet_id: int, device: str) -> int | None:
        a = schema.announcements
        with self.engine.connect() as connection:
            held = connection.execute(
                select(a.c.seq).where(a.c.tailnet_id == tailnet_id, a.c.device == device)
            ).scalar_one_or_none()
        return None if held is None else int(held)

    def announcements(
        self, tailnet_id: int, *, now: int, after: str = "", limit: int = 500
    ) -> tuple[list[dict], str | None]:
        """A page of the tailnet's latest announcement of each device still on its roster and not expired, by
        device key after `after`; and the key to ask after for the next page (None: this was the last)."""
        a = schema.announcements
        with self.engine.connect() as connection:
            rows = (
                connection.execute(
                    select(a.c.device, a.c.announcement, a.c.stored_at)
                    .where(
                        a.c.tailnet_id == tailnet_id, a.c.device > after, a.c.expires > now, self._on_roster(tailnet_id)
                    )
                    .order_by(a.c.device)
                    .limit(limit + 1)
                )
                .mappings()
                .all()
            )
        items = [{**json.loads(r["announcement"]), "stored_at": r["stored_at"]} for r in rows[:limit]]
        return items, (rows[limit - 1]["device"] if len(rows) > limit else None)

    def progress(self) -> dict | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(schema.checkpoint)).mappings().first()
        return None if row is None else dict(row)
