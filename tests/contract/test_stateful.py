"""Stateful fuzzing against a plain-Python model of the contract.

Each rule predicts from the model whether the call must succeed or revert,
then applies it to both. After every step:
- the contract holds exactly stakes + unbonding stakes + tailnet treasuries +
  what open sessions still hold (their deposit less the exit's share of what checkpoints paid) + program
  treasury + unclaimed earnings + held bounties + burned stake;
- every stake, earnings balance, treasury and session status equals the model;
- a session leaves "open" at most once (settled or refunded, never both, never twice);
- an event that leaves a balance behind (a treasury, a reputation, earnings) carries what the views then say.

Openers are member wallets or devices registered to them; members get removed, devices revoked, and tailnet
owners close the sessions that outlived their opener's authority, while receipts signed by device keys settle
exactly when `is_receipt_signer` says so. Exits checkpoint open sessions (alone and in batches with bad items
among good ones), and openers top them up.
"""

import os
from dataclasses import dataclass, field

import boa
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.contract.harness import (
    ACL_DOCUMENT,
    GOV_DELAY,
    MIN_SESSION_DEPOSIT,
    MIN_STAKE,
    MIN_TAILNET_DEPOSIT,
    PRICE,
    SESSION_GRACE,
    Harness,
    Operator,
    actor,
)

OPEN, SETTLED, REFUNDED = 0, 1, 2
BPS = 10_000
MB = 10**6
REPORT_WINDOW = 86_400
GOV_EXECUTION_WINDOW = MAX_PAUSE = PAUSE_COOLDOWN = 7 * 86_400
RESERVE_LOCK = 30 * 86_400
STEPS = {"count": 0}

ops_idx = st.integers(0, 2)
users_idx = st.integers(0, 2)
devices_idx = st.integers(0, 2)
keys_idx = st.integers(0, 5)  # 0-2 the users' wallets, 3-5 the device keys
# Hypothesis favours the first element: lead with a valid value, keep invalid ones in.
stakes = st.sampled_from([MIN_STAKE, 3 * MIN_STAKE, MIN_STAKE // 2])
prices = st.sampled_from([1, PRICE, 7 * PRICE])
deposits = st.sampled_from([10**17, MIN_TAILNET_DEPOSIT, 10**18, MIN_TAILNET_DEPOSIT - 1])
max_pays = st.sampled_from([10**16, MIN_SESSION_DEPOSIT, 5 * 10**16, MIN_SESSION_DEPOSIT - 1])
picks = st.integers(0, 10**6)
fractions = st.sampled_from([0.5, 1.0, 0.01, 0.0, 1.2])
waits = st.sampled_from([60, 3_600, 600, SESSION_GRACE, 31 * 86_400, 10 * SESSION_GRACE])


@dataclass
class OperatorModel:
    stake: int = 0
    unbonding: int = 0
    unlock: int = 0
    slashed: bool = False
    active: bool = False
    ever_registered: bool = False
    price: int = 0
    earnings: int = 0
    slashed_block: int = 0
    held_bounty: int = 0
    release_at: int = 0
    claimant_order: int | None = None  # the order of the earliest committed report revealed (None: none yet)


@dataclass
class DeviceModel:
    wallet: int | None = None  # the user it is bound to (kept after revocation: a revoked key never rebinds)
    revoked_at: int = 0


@dataclass
class TailnetModel:
    owner: int
    treasury: int
    reserve: int
    created_at: int
    members: set = field(default_factory=set)
    exits: set = field(default_factory=set)


@dataclass
class SessionModel:
    tailnet: int
    exit: int
    opener: int  # index into the machine's keys: a user's wallet or a device key
    opened_at: int
    deposit: int
    price: int
    fee_bps: int
    settle_by: int
    sweep_after: int
    sweep_bounty_bps: int
    status: int = OPEN
    claim: int | None = None
    bytes_paid: int = 0  # what checkpoints paid for

    def value(self, bytes_used: int) -> int:
        return bytes_used * self.price // MB

    def net(self, amount: int) -> int:
        """The exit's share of `amount`: the protocol fee is taken on everything paid, when the session ends."""
        return amount - amount * self.fee_bps // BPS

    def locked(self) -> int:
        """What an open session still holds: its deposit less the exit's share of what checkpoints paid."""
        return self.deposit - self.net(self.value(self.bytes_paid))


class VPNMachine(RuleBasedStateMachine):
    asset_kind = "native"

    def __init__(self):
        super().__init__()
        self._anchor = boa.env.anchor()
        self._anchor.__enter__()
        self.h = Harness(self.asset_kind)
        self.vpn = self.h.vpn
        self.ops = [Operator(actor(f"fz-op{i}"), actor(f"fz-op{i}-receipts")) for i in range(3)]
        self.users = [actor(f"fz-user{i}") for i in range(3)]
        self.devices = [actor(f"fz-device{i}") for i in range(3)]
        self.keys = self.users + self.devices
        self.m_devices = [DeviceModel() for _ in self.devices]
        self.m_ops = [OperatorModel() for _ in self.ops]
        self.m_tailnets: list[TailnetModel] = []
        self.m_sessions: dict[int, SessionModel] = {}  # by id, in the order opened
        self.m_treasury = 0
        self.m_burned = 0
        self.fee_bps = self.vpn.get_params().protocol_fee_bps
        self.closed_events: dict[int, int] = {}
        self.last_events: list = []  # of the last call that went through
        self.pause_set = False  # as the owner left it; a pause past MAX_PAUSE has ended by itself
        self.paused_at = 0
        self.paused_seconds = 0
        self.pause_ended_at = 0
        self.reports: list[tuple[int, int, int, int]] = []  # (session id, seq, block committed, commit order)
        self.report_order = 0  # commitments made so far, failed reveals' included

    def teardown(self):
        self._anchor.__exit__(None, None, None)

    # ------------------------------------------------------------ helpers
    def _call(self, ok: bool, fn):
        STEPS["count"] += 1
        if ok:
            result = fn()
            self.last_events = self.h.events()  # read before the checks below call views (boa keeps one call's logs)
            for event in self.last_events:
                if type(event).__name__ in ("SessionSettled", "SessionRefunded", "SessionSwept"):
                    self.closed_events[event.session_id] = self.closed_events.get(event.session_id, 0) + 1
            self._check_carried(self.last_events)
            return result
        with boa.reverts():
            fn()

    def _check_carried(self, events: list) -> None:
        """An event that leaves a balance behind carries it, as the views then say (readers copy it). In a
        transaction that changes one balance several times (a batch), the last event to carry it holds."""
        seen: set = set()
        for event in reversed(events):
            for key, carried, now in self._carried(event):
                if key not in seen:
                    seen.add(key)
                    assert carried == now(), f"{type(event).__name__} carries {key} = {carried}, the views {now()}"

    def _carried(self, event) -> list[tuple]:
        """(what balance, the value the event carries, how to read it now) for each balance `event` carries."""
        name, vpn = type(event).__name__, self.vpn
        carried: list[tuple] = []
        if name in ("SessionOpened", "SessionSettled", "SessionRefunded", "SessionSwept", "SessionToppedUp"):
            tid = vpn.get_session(event.session_id).tailnet_id
            carried.append((("treasury", tid), event.treasury, lambda: vpn.get_tailnet(tid).treasury))
        if name in ("SessionSettled", "SessionRefunded", "SessionSwept"):
            exit_ = vpn.get_session(event.session_id).exit
            carried.append((("reputation", exit_), event.reputation, lambda: vpn.get_endpoint(exit_).reputation))
        if name == "EarningsClaimed":
            carried.append((("earnings", event.operator), event.earnings, lambda: vpn.get_earnings(event.operator)))
        if name in ("SessionCheckpointed", "SessionSettled"):
            exit_ = vpn.get_session(event.session_id).exit
            carried.append((("earnings", exit_), event.earnings, lambda: vpn.get_earnings(exit_)))
        if name == "OperatorSlashed":
            carried.append(
                (("unbonding", event.addr), event.unbonding_left, lambda: vpn.get_endpoint_unbonding(event.addr))
            )
            carried.append((("unlock", event.addr), event.unlock_at, lambda: vpn.get_endpoint_unlock(event.addr)))
        if name in (
            "SessionSettled",
            "SessionRefunded",
            "SessionSwept",
            "OperatorSlashed",
            "SlashBountyReleased",
            "ProgramTreasuryWithdrawn",
        ):
            carried.append((("program treasury",), event.program_treasury, vpn.get_program_treasury))
        return carried

    def _now(self) -> int:
        return boa.env.timestamp

    def _clock(self) -> int:
        stopped = self.paused_seconds
        if self.pause_set:
            stopped += min(self._now(), self.paused_at + MAX_PAUSE) - self.paused_at
        return self._now() - stopped

    def _paused(self) -> bool:
        return self.pause_set and self._now() < self.paused_at + MAX_PAUSE

    def _spendable(self, t: TailnetModel, amount: int) -> bool:
        """The treasury covers `amount` without the creation deposit while it is locked (withdrawals, sessions)."""
        return amount <= t.treasury and (t.treasury - amount >= t.reserve or self._now() >= t.created_at + RESERVE_LOCK)

    def _block(self) -> int:
        return boa.env.evm.patch.block_number

    def _is_active(self, i: int) -> bool:
        m = self.m_ops[i]
        return m.active and not m.slashed and m.stake >= MIN_STAKE

    def _device_wallet(self, key: int) -> int | None:
        """The user a device key acts for; None for a wallet, an unbound or a revoked key."""
        if key < len(self.users):
            return None
        device = self.m_devices[key - len(self.users)]
        return device.wallet if device.revoked_at == 0 else None

    def _acts_for_member(self, tid: int, key: int) -> bool:
        members = self.m_tailnets[tid].members
        return key in members or self._device_wallet(key) in members

    def _is_receipt_signer(self, sid: int, key: int) -> bool:
        """The opener or a device of the opener wallet, while the key is not revoked."""
        s = self.m_sessions[sid]
        device = self.m_devices[key - len(self.users)] if key >= len(self.users) else None
        if device is not None and device.revoked_at:
            return False
        return key == s.opener or (device is not None and device.wallet == s.opener)

    def _slash(self, i: int, by_governance: bool = False) -> None:
        m = self.m_ops[i]
        total = m.stake + m.unbonding
        bounty = total - total * 9_000 // BPS
        if by_governance:
            self.m_burned += total + m.earnings
            bounty = 0
        else:  # the bounty is held for the earliest committed report, reporter or not
            self.m_treasury += total - bounty + m.earnings
            m.held_bounty, m.claimant_order = bounty, None
        m.stake = m.unbonding = m.unlock = m.earnings = 0
        m.slashed, m.active = True, False
        m.slashed_block, m.release_at = self._block(), self._clock() + REPORT_WINDOW

    def _pay(self, sid: int, bytes_used: int) -> None:
        """The exit's share of the value above what was paid (a checkpoint, or the settlement's last step)."""
        s = self.m_sessions[sid]
        self.m_ops[s.exit].earnings += s.net(s.value(bytes_used)) - s.net(s.value(s.bytes_paid))
        s.bytes_paid = bytes_used

    def _settle(self, sid: int, bytes_used: int) -> None:
        s = self.m_sessions[sid]
        self._pay(sid, bytes_used)
        total = s.value(bytes_used)
        self.m_treasury += total * s.fee_bps // BPS
        self.m_tailnets[s.tailnet].treasury += s.deposit - total
        s.status = SETTLED

    def _refund(self, sid: int, keep: int = 0) -> None:
        """Ends the session unpaid beyond its checkpoints: their fee to the program, the rest less `keep` back."""
        s = self.m_sessions[sid]
        paid = s.value(s.bytes_paid)
        self.m_treasury += paid * s.fee_bps // BPS
        self.m_tailnets[s.tailnet].treasury += s.deposit - paid - keep
        s.status = REFUNDED

    def _receipt_problem(self, sid: int, caller: int, signer: int, used: int, final: bool) -> bool:
        """Whether the contract refuses this receipt for the session (beside a pause and a slashed caller)."""
        s = self.m_sessions[sid]
        return not (
            s.status == OPEN
            and s.exit == caller
            and self._is_receipt_signer(sid, signer)
            and (used >= s.bytes_paid if final else used > s.bytes_paid)
            and s.value(used) <= s.deposit
        )

    def _session_bytes(self, sid: int, pick: int, fraction: float) -> int:
        s = self.m_sessions[sid]
        return int(s.deposit * MB // s.price * fraction) + pick % 3

    @initialize(prices_=st.lists(prices, min_size=3, max_size=3), treasury=st.sampled_from([10**17, 10**18]))
    def baseline(self, prices_, treasury):
        """Three bonded exits, one funded tailnet with every user and exit, a device of user 1:
        a working network the random rules then perturb."""
        for i, price in enumerate(prices_):
            self.bond(i, 2 * MIN_STAKE)
            self.register(i, price)
        self.create_tailnet(0, treasury)
        for u in (1, 2):
            self.add_member(0, u)
        for i in range(3):
            self.configure_exit(0, i)
        self.register_device(0, 1, None)

    @staticmethod
    def _choose(valid: bool, candidates: list[int], pick: int, fallback: int) -> int:
        """A model-valid candidate when `valid` is drawn, else the raw draw."""
        return candidates[pick % len(candidates)] if valid and candidates else fallback

    def _pick_session(self, pick: int, prefer_open: bool, claimed: bool = False) -> int:
        """With `prefer_open`, an open session whose exit can still be paid."""
        wanted = [
            sid
            for sid, s in self.m_sessions.items()
            if s.status == OPEN and not self.m_ops[s.exit].slashed and (s.claim is not None or not claimed)
        ]
        if prefer_open and wanted:
            return wanted[pick % len(wanted)]
        return list(self.m_sessions)[pick % len(self.m_sessions)]

    # -------------------------------------------------------------- stake
    @rule(i=ops_idx, amount=stakes)
    def bond(self, i, amount):
        m = self.m_ops[i]
        ok = not self._paused() and not m.slashed and m.unbonding == 0
        self._call(ok, lambda: self.h.bond(self.ops[i].account, amount))
        if ok:
            m.stake += amount

    def _network_survives(self) -> bool:
        # Retiring or unbonding the last exits would leave nothing to fuzz.
        return sum(self._is_active(i) for i in range(len(self.m_ops))) >= 2

    @precondition(_network_survives)
    @rule(i=ops_idx, valid=st.booleans(), pick=picks)
    def unbond(self, i, valid, pick):
        i = self._choose(valid, [j for j, m in enumerate(self.m_ops) if m.stake], pick, i)
        m = self.m_ops[i]
        ok = m.stake > 0  # also while paused: an exit can always leave
        self._call(ok, lambda: self.vpn.unbond_endpoint(sender=self.ops[i].address))
        if ok:
            m.unbonding, m.stake, m.active = m.stake, 0, False
            m.unlock = self._clock() + self.vpn.get_params().unbond_grace

    @precondition(lambda self: any(m.unbonding for m in self.m_ops))
    @rule(i=ops_idx, valid=st.booleans(), pick=picks)
    def finalize_unbond(self, i, valid, pick):
        i = self._choose(valid, [j for j, m in enumerate(self.m_ops) if m.unbonding], pick, i)
        m = self.m_ops[i]
        ok = m.unbonding > 0 and self._clock() >= m.unlock
        self._call(ok, lambda: self.vpn.finalize_unbond(sender=self.ops[i].address))
        if ok:
            m.unbonding = m.unlock = 0

    @rule(i=ops_idx, price=prices, valid=st.booleans(), pick=picks)
    def register(self, i, price, valid=False, pick=0):
        eligible = [j for j, m in enumerate(self.m_ops) if not m.slashed and m.stake >= MIN_STAKE and not m.active]
        i = self._choose(valid, eligible, pick, i)
        m = self.m_ops[i]
        ok = not self._paused() and not m.slashed and m.stake >= MIN_STAKE and not m.active
        self._call(ok, lambda: self.h.register(self.ops[i], price=price))
        if ok:
            m.active = m.ever_registered = True
            m.price = price

    @precondition(_network_survives)
    @rule(i=ops_idx, valid=st.booleans(), pick=picks)
    def retire(self, i, valid, pick):
        i = self._choose(valid, [j for j, m in enumerate(self.m_ops) if m.active], pick, i)
        m = self.m_ops[i]
        ok = m.active  # also while paused
        self._call(ok, lambda: self.vpn.retire_endpoint(sender=self.ops[i].address))
        if ok:
            m.active = False

    def _few_slashed(self) -> bool:
        # Slashing is permanent: keep two operators alive so sessions go on.
        return sum(m.slashed for m in self.m_ops) == 0

    @precondition(lambda self: self._few_slashed() and not self._paused())
    @rule(i=ops_idx)
    def gov_slash(self, i):
        """Scheduled, then executed after the timelock: everything burned."""
        m = self.m_ops[i]
        ok = not m.slashed and m.stake + m.unbonding > 0
        owner = self.h.owner.address
        self._call(ok, lambda: self.vpn.schedule_slash(self.ops[i].address, b"\x01" * 32, sender=owner))
        if not ok:
            return
        eta = self._clock() + GOV_DELAY
        boa.env.time_travel(seconds=GOV_DELAY)
        if not self._paused() and eta <= self._clock() < eta + GOV_EXECUTION_WINDOW:
            self._call(True, lambda: self.vpn.execute_slash(self.ops[i].address, sender=owner))
            self._slash(i, by_governance=True)
        else:
            self._call(True, lambda: self.vpn.cancel_slash(self.ops[i].address, sender=owner))

    @precondition(lambda self: any(m.earnings for m in self.m_ops))
    @rule(i=ops_idx, fraction=fractions, valid=st.booleans(), pick=picks)
    def claim_earnings(self, i, fraction, valid, pick):
        i = self._choose(valid, [j for j, m in enumerate(self.m_ops) if m.earnings and not m.slashed], pick, i)
        m = self.m_ops[i]
        amount = int(m.earnings * fraction)
        ok = not m.slashed and 0 < amount <= m.earnings
        self._call(ok, lambda: self.vpn.claim_earnings(amount, sender=self.ops[i].address))
        if ok:
            m.earnings -= amount

    # ----------------------------------------------------------- tailnets
    @rule(u=users_idx, amount=deposits)
    def create_tailnet(self, u, amount):
        ok = not self._paused() and amount >= MIN_TAILNET_DEPOSIT
        self._call(ok, lambda: self.h.pay(self.users[u], "create_tailnet", ACL_DOCUMENT, amount=amount))
        if ok:
            self.m_tailnets.append(
                TailnetModel(owner=u, treasury=amount, reserve=MIN_TAILNET_DEPOSIT, created_at=self._now(), members={u})
            )

    @precondition(lambda self: self.m_tailnets)
    @rule(pick=picks, u=users_idx, amount=deposits)
    def deposit(self, pick, u, amount):
        tid = pick % len(self.m_tailnets)
        self._call(not self._paused(), lambda: self.h.pay(self.users[u], "deposit_to_tailnet", tid, amount=amount))
        if not self._paused():
            self.m_tailnets[tid].treasury += amount

    @precondition(lambda self: self.m_tailnets)
    @rule(pick=picks, fraction=st.sampled_from([0.1, 0.01, 0.5, 1.0, 0.0, 1.2]))
    def withdraw_tailnet(self, pick, fraction):
        tid = pick % len(self.m_tailnets)
        t = self.m_tailnets[tid]
        amount = int(t.treasury * fraction)
        ok = 0 < amount and self._spendable(t, amount)
        owner = self.users[t.owner].address
        self._call(ok, lambda: self.vpn.withdraw_from_tailnet(tid, owner, amount, sender=owner))
        if ok:
            t.treasury -= amount

    @precondition(lambda self: self.m_tailnets)
    @rule(pick=picks, u=users_idx)
    def add_member(self, pick, u):
        tid = pick % len(self.m_tailnets)
        t = self.m_tailnets[tid]
        u = (u + pick) % len(self.users)
        ok = not self._paused() and u not in t.members
        self._call(ok, lambda: self.vpn.add_member(tid, self.users[u].address, sender=self.users[t.owner].address))
        if ok:
            t.members.add(u)

    @precondition(lambda self: self.m_tailnets)
    @rule(pick=picks, u=users_idx, valid=st.booleans())
    def remove_member(self, pick, u, valid):
        tid = pick % len(self.m_tailnets)
        t = self.m_tailnets[tid]
        u = self._choose(valid, sorted(t.members - {t.owner}), pick, u)
        ok = not self._paused() and u != t.owner and u in t.members
        self._call(ok, lambda: self.vpn.remove_member(tid, self.users[u].address, sender=self.users[t.owner].address))
        if ok:
            t.members.discard(u)

    @rule(d=devices_idx, u=users_idx, consent_to=st.one_of(st.none(), users_idx))
    def register_device(self, d, u, consent_to):
        """The device key consents to `consent_to`'s wallet (None: to `u`'s); user `u` registers it."""
        m = self.m_devices[d]
        consent_to = u if consent_to is None else consent_to
        ok = not self._paused() and m.revoked_at == 0 and m.wallet in (None, u) and consent_to == u
        signature = self.h.device_sig(self.devices[d], self.users[consent_to].address)
        self._call(
            ok, lambda: self.vpn.register_device(self.devices[d].address, signature, sender=self.users[u].address)
        )
        if ok:
            m.wallet = u

    @precondition(lambda self: any(m.wallet is not None and not m.revoked_at for m in self.m_devices))
    @rule(d=devices_idx, u=users_idx, valid=st.booleans())
    def revoke_device(self, d, u, valid):
        d = self._choose(
            valid, [j for j, m in enumerate(self.m_devices) if m.wallet is not None and not m.revoked_at], d, d
        )
        m = self.m_devices[d]
        if valid:
            u = m.wallet
        ok = not self._paused() and m.revoked_at == 0 and m.wallet == u
        self._call(ok, lambda: self.vpn.revoke_device(self.devices[d].address, sender=self.users[u].address))
        if ok:
            m.revoked_at = self._now()

    @precondition(lambda self: self.m_tailnets)
    @rule(pick=picks, i=ops_idx, valid=st.booleans())
    def configure_exit(self, pick, i, valid=False):
        tid = pick % len(self.m_tailnets)
        t = self.m_tailnets[tid]
        i = self._choose(valid, [j for j in range(len(self.m_ops)) if self._is_active(j) and j not in t.exits], pick, i)
        ok = not self._paused() and self.m_ops[i].ever_registered and self._is_active(i) and i not in t.exits
        self._call(
            ok, lambda: self.vpn.configure_tailnet_exit(tid, self.ops[i].address, sender=self.users[t.owner].address)
        )
        if ok:
            t.exits.add(i)

    # ----------------------------------------------------------- sessions
    @precondition(lambda self: self.m_tailnets)
    @rule(pick=picks, u=keys_idx, i=ops_idx, max_pay=max_pays, valid_parties=st.booleans(), max_price=prices)
    def open_session(self, pick, u, i, max_pay, valid_parties, max_price):
        """`u` opens: a member's wallet or one of its devices when `valid_parties` is drawn, else any key."""
        with_exits = [tid for tid, t in enumerate(self.m_tailnets) if any(self._is_active(j) for j in t.exits)]
        tid = with_exits[pick % len(with_exits)] if valid_parties and with_exits else pick % len(self.m_tailnets)
        t = self.m_tailnets[tid]
        if valid_parties:
            acting = [k for k in range(len(self.keys)) if self._acts_for_member(tid, k)]
            u = acting[pick % len(acting)]
            i = self._choose(True, [j for j in sorted(t.exits) if self._is_active(j)], pick // 7, i)
            if t.treasury >= MIN_SESSION_DEPOSIT:
                max_pay = max(MIN_SESSION_DEPOSIT, min(max_pay, t.treasury))
        if valid_parties:
            max_price = max(max_price, self.m_ops[i].price)  # the price the opener chose the exit at, or more
        ok = (
            not self._paused()
            and self._acts_for_member(tid, u)
            and i in t.exits
            and self._is_active(i)
            and MIN_SESSION_DEPOSIT <= max_pay
            and self._spendable(t, max_pay)
            and self.m_ops[i].price <= max_price
        )
        sid = self._call(
            ok, lambda: self.vpn.open_session(tid, self.ops[i].address, max_pay, max_price, sender=self.keys[u].address)
        )
        if ok:
            assert sid not in self.m_sessions
            t.treasury -= max_pay
            params = self.vpn.get_params()
            settle_by = self._clock() + params.session_grace
            self.m_sessions[sid] = SessionModel(
                tid,
                i,
                u,
                self._now(),
                max_pay,
                self.m_ops[i].price,
                fee_bps=params.protocol_fee_bps,
                settle_by=settle_by,
                sweep_after=settle_by + params.session_grace * (params.sweep_grace_multiplier - 1),
                sweep_bounty_bps=params.sweep_bounty_bps,
            )

    @precondition(lambda self: self.m_sessions)
    @rule(pick=picks, fraction=fractions, prefer_open=st.booleans())
    def settle_claim(self, pick, fraction, prefer_open):
        sid = self._pick_session(pick, prefer_open)
        s = self.m_sessions[sid]
        m = self.m_ops[s.exit]
        claimed = self._session_bytes(sid, pick, fraction)
        ok = not self._paused() and s.status == OPEN and not m.slashed
        equivocation = ok and s.claim is not None and s.claim != claimed
        if equivocation and m.stake + m.unbonding == 0:
            ok = False
        result = self._call(ok, lambda: self.vpn.settle_claim(sid, claimed, sender=self.ops[s.exit].address))
        if not ok:
            return
        if equivocation:
            assert result is False
            self._slash(s.exit)
            self._refund(sid)
        else:
            assert result is True
            s.claim = claimed

    @precondition(lambda self: self.m_sessions)
    @rule(pick=picks, agree=st.booleans(), prefer_open=st.booleans())
    def settle_confirm(self, pick, agree, prefer_open):
        sid = self._pick_session(pick, prefer_open, claimed=True)
        s = self.m_sessions[sid]
        confirmed = s.claim if agree and s.claim is not None else (s.claim or 0) + 1
        ok = not self._paused() and s.status == OPEN and s.claim is not None
        if ok and confirmed == s.claim:
            ok = not self.m_ops[s.exit].slashed and s.bytes_paid <= confirmed and s.value(confirmed) <= s.deposit
        result = self._call(ok, lambda: self.vpn.settle_confirm(sid, confirmed, sender=self.keys[s.opener].address))
        if ok and confirmed == s.claim:
            assert result is True
            self._settle(sid, confirmed)
        elif ok:
            assert result is False

    @precondition(lambda self: self.m_sessions)
    @rule(
        pick=picks,
        fraction=fractions,
        seq=st.integers(0, 2**64 - 1),
        prefer_open=st.booleans(),
        signer=st.one_of(st.none(), st.just("device"), keys_idx),
    )
    def settle_with_receipt(self, pick, fraction, seq, prefer_open, signer=None):
        """Signed by the opener (`signer` None), a device ever bound to the opener's wallet, or any key."""
        sid = self._pick_session(pick, prefer_open)
        s = self.m_sessions[sid]
        used = self._session_bytes(sid, pick, fraction)
        if signer == "device":
            bound = [len(self.users) + d for d, m in enumerate(self.m_devices) if m.wallet == s.opener]
            signer = bound[pick % len(bound)] if bound else None
        signer = s.opener if signer is None else signer
        signature = self.h.receipt_sig(self.keys[signer], sid, seq, used)
        ok = (
            not self._paused()
            and not self.m_ops[s.exit].slashed
            and not self._receipt_problem(sid, s.exit, signer, used, final=True)
        )
        self._call(ok, lambda: self.vpn.settle_with_receipt(sid, seq, used, signature, sender=self.ops[s.exit].address))
        if ok:
            self._settle(sid, used)

    @precondition(lambda self: self.m_sessions)
    @rule(
        pick=picks,
        fraction=st.sampled_from([0.3, 0.6, 0.01, 0.0, 1.2]),
        seq=st.integers(0, 2**64 - 1),
        prefer_open=st.booleans(),
        signer=st.one_of(st.none(), keys_idx),
    )
    def checkpoint(self, pick, fraction, seq, prefer_open, signer=None):
        """The exit is paid for a receipt above what it was paid, the session staying open."""
        sid = self._pick_session(pick, prefer_open)
        s = self.m_sessions[sid]
        used = max(self._session_bytes(sid, pick, fraction), s.bytes_paid + pick % 2)
        signer = s.opener if signer is None else signer
        signature = self.h.receipt_sig(self.keys[signer], sid, seq, used)
        ok = (
            not self._paused()
            and not self.m_ops[s.exit].slashed
            and not self._receipt_problem(sid, s.exit, signer, used, final=False)
        )
        self._call(ok, lambda: self.vpn.checkpoint(sid, seq, used, signature, sender=self.ops[s.exit].address))
        if ok:
            self._pay(sid, used)

    @precondition(lambda self: self.m_sessions)
    @rule(
        picks_=st.lists(st.tuples(picks, fractions, st.booleans(), st.one_of(st.none(), keys_idx)), max_size=5),
        i=ops_idx,
    )
    def settle_batch(self, picks_, i):
        """Exit `i` checkpoints or settles a few sessions at once (theirs or not, good receipts or bad): each
        item the contract would refuse alone is skipped, the rest go through in order."""
        items, expected = [], []
        changed: set[int] = set()
        for pick, fraction, final, signer in picks_:
            sid = self._pick_session(pick, prefer_open=True)
            s = self.m_sessions[sid]
            used = self._session_bytes(sid, pick, fraction)
            signer = s.opener if signer is None else signer
            signature = self.h.receipt_sig(self.keys[signer], sid, 1, used)
            items.append((sid, self.vpn.record(sid), 1, used, signature, final))
            # An item after another for the same session carries the record as it was before: it no longer matches.
            skipped = sid in changed or self._receipt_problem(sid, i, signer, used, final)
            expected.append((sid, used, final, skipped))
            if not skipped:
                changed.add(sid)
        ok = not self._paused() and not self.m_ops[i].slashed
        done = self._call(ok, lambda: self.vpn.settle_batch(items, sender=self.ops[i].address))
        if not ok:
            return
        assert done == sum(not skipped for *_, skipped in expected)
        assert [e.session_id for e in self.last_events if type(e).__name__ == "SettlementSkipped"] == [
            sid for sid, *_, skipped in expected if skipped
        ]
        for sid, used, final, skipped in expected:
            if not skipped:
                self._settle(sid, used) if final else self._pay(sid, used)

    @precondition(lambda self: self.m_sessions)
    @rule(pick=picks, amount=st.sampled_from([10**16, 0, 10**18]), prefer_open=st.booleans(), by_opener=st.booleans())
    def top_up(self, pick, amount, prefer_open, by_opener):
        sid = self._pick_session(pick, prefer_open)
        s = self.m_sessions[sid]
        t = self.m_tailnets[s.tailnet]
        sender = s.opener if by_opener else (s.opener + 1) % len(self.keys)
        ok = (
            not self._paused()
            and s.status == OPEN
            and sender == s.opener
            and self._acts_for_member(s.tailnet, s.opener)
            and s.exit in t.exits
            and self._is_active(s.exit)
            and self.m_ops[s.exit].price <= s.price
            and self._spendable(t, amount)
        )
        self._call(ok, lambda: self.vpn.top_up_session(sid, amount, sender=self.keys[sender].address))
        if ok:
            params = self.vpn.get_params()
            t.treasury -= amount
            s.deposit += amount
            s.settle_by = max(s.settle_by, self._clock() + params.session_grace)
            s.sweep_after = max(s.sweep_after, self._clock() + params.session_grace * params.sweep_grace_multiplier)

    @precondition(lambda self: any(s.status == OPEN for s in self.m_sessions.values()))
    @rule(
        pick=picks,
        fraction=fractions,
        seq=st.integers(0, 2**64 - 1),
        path=st.sampled_from(
            ["receipt", "claim+confirm", "claim+dispute", "dispute+receipt", "close+receipt", "close+no-show"]
        ),
    )
    def finish_session(self, pick, fraction, seq, path):
        """A session ends through one of the real settlement paths; "close" first takes its opener's authority
        away and has the tailnet owner close it."""
        sid = self._pick_session(pick, prefer_open=True)
        if path.startswith("close"):
            self.close_session(sid, prefer_open=False, by_owner=True, orphan_first=True)
            if path == "close+no-show":
                boa.env.time_travel(seconds=SESSION_GRACE)  # the window promised at opening
                self.claim_no_show(sid, prefer_open=False)
                return
            path = "receipt"
        if self.m_sessions[sid].claim is not None and path != "receipt":
            path = "receipt"  # a second, different claim would be equivocation
        if path == "receipt":
            self.settle_with_receipt(sid, fraction, seq, prefer_open=False)
            return
        self.settle_claim(sid, fraction, prefer_open=False)
        if path == "claim+confirm":
            self.settle_confirm(sid, agree=True, prefer_open=False)
        elif path == "claim+dispute":
            self.settle_confirm(sid, agree=False, prefer_open=False)
        else:
            self.settle_confirm(sid, agree=False, prefer_open=False)
            self.settle_with_receipt(sid, fraction / 2, seq, prefer_open=False)

    @precondition(lambda self: self.m_sessions)
    @rule(pick=picks, prefer_open=st.booleans())
    def claim_no_show(self, pick, prefer_open):
        sid = self._pick_session(pick, prefer_open)
        s = self.m_sessions[sid]
        ok = not self._paused() and s.status == OPEN and self._clock() >= s.settle_by
        self._call(ok, lambda: self.vpn.claim_no_show(sid, sender=self.users[0].address))
        if ok:
            self._refund(sid)

    @precondition(lambda self: self.m_sessions)
    @rule(pick=picks, prefer_open=st.booleans())
    def sweep(self, pick, prefer_open):
        sid = self._pick_session(pick, prefer_open)
        s = self.m_sessions[sid]
        ok = not self._paused() and s.status == OPEN and self._clock() >= s.sweep_after
        self._call(ok, lambda: self.vpn.sweep_expired_session(sid, sender=self.users[2].address))
        if ok:
            self._refund(sid, keep=(s.deposit - s.value(s.bytes_paid)) * s.sweep_bounty_bps // BPS)

    @precondition(lambda self: self.m_sessions)
    @rule(pick=picks, prefer_open=st.booleans(), by_owner=st.booleans(), orphan_first=st.booleans())
    def close_session(self, pick, prefer_open, by_owner, orphan_first):
        """The tailnet owner (or, when `by_owner` is not drawn, someone else) closes a session; with
        `orphan_first`, its opener first loses its authority (its device revoked, or its wallet removed)."""
        closable = [
            sid
            for sid, s in self.m_sessions.items()  # its opener is not (or need not stay) a member
            if s.status == OPEN and s.opener != self.m_tailnets[s.tailnet].owner
        ]
        sid = self._choose(prefer_open, closable, pick, self._pick_session(pick, prefer_open))
        s = self.m_sessions[sid]
        if orphan_first and self._device_wallet(s.opener) is not None:
            self.revoke_device(s.opener - len(self.users), self._device_wallet(s.opener), valid=False)
        elif orphan_first and s.opener < len(self.users):
            self.remove_member(s.tailnet, s.opener, valid=False)
        owner = self.m_tailnets[s.tailnet].owner
        sender = owner if by_owner else (owner + 1) % len(self.users)
        ok = (
            not self._paused()
            and s.status == OPEN
            and sender == owner
            and not self._acts_for_member(s.tailnet, s.opener)
        )
        self._call(ok, lambda: self.vpn.close_session(sid, sender=self.users[sender].address))

    @precondition(lambda self: self.m_sessions)
    @rule(pick=picks, seq=st.integers(0, 2**64 - 1))
    def commit_report(self, pick, seq):
        sid = list(self.m_sessions)[pick % len(self.m_sessions)]
        if any(r[:2] == (sid, seq) for r in self.reports):
            return
        commitment = self.h.report_commitment(
            self.users[1], self.ops[self.m_sessions[sid].exit].address, sid, seq, MB, 2 * MB
        )
        self._call(not self._paused(), lambda: self.vpn.commit_slash_report(commitment, sender=self.users[1].address))
        if not self._paused():
            self.reports.append((sid, seq, self._block(), self.report_order))
            self.report_order += 1

    @precondition(lambda self: self.reports and self._few_slashed())
    @rule(pick=picks, next_block=st.booleans())
    def slash_double_sign(self, pick, next_block):
        """Reveal a committed report: slash with bounty, or collect the bounty held from a self-slash."""
        if next_block:
            boa.env.time_travel(blocks=1)
        sid, seq, committed, order = self.reports[pick % len(self.reports)]
        s = self.m_sessions[sid]
        m = self.m_ops[s.exit]
        key = self.ops[s.exit].receipt_key
        evidence = (
            self.ops[s.exit].address,
            sid,
            seq,
            MB,
            self.h.receipt_sig(key, sid, seq, MB),
            2 * MB,
            self.h.receipt_sig(key, sid, seq, 2 * MB),
        )
        revealable = not self._paused() and committed < self._block()
        slashes = revealable and not m.slashed and m.stake + m.unbonding > 0
        claims = (
            revealable
            and m.slashed
            and m.held_bounty > 0
            and committed <= m.slashed_block
            and (m.claimant_order is None or order < m.claimant_order)
        )
        self._call(slashes or claims, lambda: self.vpn.slash_double_sign(*evidence, sender=self.users[1].address))
        if slashes:
            self._slash(s.exit)
        if slashes or claims:
            m.claimant_order = order
            self.reports.remove((sid, seq, committed, order))

    @precondition(lambda self: any(m.held_bounty for m in self.m_ops))
    @rule(i=ops_idx)
    def release_slash_bounty(self, i):
        m = self.m_ops[i]
        ok = m.held_bounty > 0 and self._clock() >= m.release_at
        self._call(ok, lambda: self.vpn.release_slash_bounty(self.ops[i].address, sender=self.users[2].address))
        if ok and m.claimant_order is None:
            self.m_treasury += m.held_bounty
        if ok:  # claimed: paid to the reporter (it leaves the contract)
            m.held_bounty, m.claimant_order = 0, None

    # --------------------------------------------------------- governance
    @precondition(lambda self: self.m_treasury > 0)
    @rule(fraction=fractions)
    def withdraw_program_treasury(self, fraction):
        amount = int(self.m_treasury * fraction)
        ok = 0 < amount <= self.m_treasury
        owner = self.h.owner.address
        self._call(ok, lambda: self.vpn.withdraw_program_treasury(owner, amount, sender=owner))
        if ok:
            self.m_treasury -= amount

    @rule(fee_bps=st.integers(0, 250))
    def set_protocol_fee(self, fee_bps):
        """Scheduled, then executed after the timelock; open sessions keep their fee."""
        params = list(self.vpn.get_params())
        params[9] = fee_bps
        ok = fee_bps <= 200
        owner = self.h.owner.address
        self._call(ok, lambda: self.vpn.schedule_params(tuple(params), sender=owner))
        if ok:
            eta = self._clock() + GOV_DELAY
            boa.env.time_travel(seconds=GOV_DELAY)
            if eta <= self._clock() < eta + GOV_EXECUTION_WINDOW:
                self._call(True, lambda: self.vpn.execute_params(sender=owner))
                self.fee_bps = fee_bps
            else:  # a pause held the clock: the change waits; drop it so the next can be announced
                self._call(True, lambda: self.vpn.cancel_params(sender=owner))

    @rule(pause=st.booleans())
    def set_paused(self, pause):
        now, lapsed = self._now(), self.pause_set and not self._paused()
        ended_at = self.paused_at + MAX_PAUSE if lapsed else self.pause_ended_at
        cooled = ended_at == 0 or now >= ended_at + PAUSE_COOLDOWN
        ok = pause != self._paused() and (cooled or not pause)
        self._call(ok, lambda: self.vpn.set_paused(pause, sender=self.h.owner.address))
        if not ok:
            return
        if lapsed:  # the contract books a pause that ran out as ended at its limit
            self.paused_seconds += MAX_PAUSE
            self.pause_ended_at, self.pause_set = ended_at, False
        if pause:
            self.paused_at = now
        else:
            self.paused_seconds += now - self.paused_at
            self.pause_ended_at = now
        self.pause_set = pause

    @rule(seconds=waits)
    def wait(self, seconds):
        boa.env.time_travel(seconds=seconds)

    # --------------------------------------------------------- invariants
    @invariant()
    def funds_are_conserved(self):
        liabilities = (
            sum(m.stake + m.unbonding + m.earnings for m in self.m_ops)
            + sum(t.treasury for t in self.m_tailnets)
            + sum(s.locked() for s in self.m_sessions.values() if s.status == OPEN)
            + self.m_treasury
            + sum(m.held_bounty for m in self.m_ops)
            + self.m_burned
        )
        assert self.h.vpn_balance() == liabilities

    @invariant()
    def contract_matches_model(self):
        assert self.vpn.get_program_treasury() == self.m_treasury
        assert self.vpn.get_burned() == self.m_burned
        assert self.vpn.clock() == self._clock()
        assert self.vpn.paused() == self._paused()
        for i, (op, m) in enumerate(zip(self.ops, self.m_ops, strict=True)):
            assert self.vpn.get_endpoint_stake(op.address) == m.stake
            assert self.vpn.get_endpoint_unbonding(op.address) == m.unbonding
            assert self.vpn.get_earnings(op.address) == m.earnings
            assert self.vpn.is_endpoint_slashed(op.address) == m.slashed
            assert self.vpn.is_endpoint_active(op.address) == self._is_active(i)
            record = self.vpn.get_slash_record(op.address)
            assert record.held_bounty == m.held_bounty
            if m.held_bounty:  # who it goes to: the earliest committed report revealed, or nobody yet
                claimed = record.claimant != "0x" + "00" * 20
                assert (record.claimant_order if claimed else None) == m.claimant_order
        for device, m in zip(self.devices, self.m_devices, strict=True):
            record = self.vpn.get_device(device.address)
            wallet = self.users[m.wallet].address if m.wallet is not None else "0x" + "00" * 20
            assert (record.wallet, record.revoked_at) == (wallet, m.revoked_at)
        for tid, t in enumerate(self.m_tailnets):
            assert self.vpn.get_tailnet(tid).treasury == t.treasury
            assert all(
                self.vpn.is_tailnet_member(tid, user.address) == (u in t.members) for u, user in enumerate(self.users)
            )
        for sid, s in self.m_sessions.items():
            session = self.vpn.get_session(sid)
            assert (
                session.status,
                session.settle_by,
                session.sweep_after,
                session.protocol_fee_bps,
                session.deposit,
                session.bytes_paid,
            ) == (s.status, s.settle_by, s.sweep_after, s.fee_bps, s.deposit, s.bytes_paid)
            assert session.opener == self.keys[s.opener].address

    @invariant()
    def nothing_closes_twice(self):
        assert all(count == 1 for count in self.closed_events.values())
        closed = {sid for sid, s in self.m_sessions.items() if s.status != OPEN}
        assert set(self.closed_events) == closed


class ERC20Machine(VPNMachine):
    asset_kind = "erc20"


REQUIRED_STEPS = 2_000 if os.environ.get("OCTRAVPN_FUZZ_PROFILE") == "ci" else 0


def _run(machine) -> int:
    STEPS["count"] = 0
    run_state_machine_as_test(machine, settings=settings())
    return STEPS["count"]


def test_native_coin_deployment():
    steps = _run(VPNMachine)
    assert steps >= REQUIRED_STEPS, f"only {steps} contract calls were fuzzed"


def test_erc20_deployment():
    steps = _run(ERC20Machine)
    assert steps >= REQUIRED_STEPS, f"only {steps} contract calls were fuzzed"
