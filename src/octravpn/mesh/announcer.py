"""A device's own announcement: signed when anything in it changes or half its life has gone, and put to every
indexer until each keeps it (again to one found not serving it, no more often than `PUT_RETRY`).

Its `seq` is the time in milliseconds, so it stays newer than anything an indexer holds even after the state
was lost; an indexer that holds a newer one anyway (HTTP 409) is outbid by the next. `hostname_since` is the
`seq` of the first announcement with the current hostname: what decides a name two devices want.
"""

from __future__ import annotations

from collections.abc import Callable

from octravpn.mesh.mailbox import Mailbox
from octravpn.mesh.state import MeshState
from octravpn.protocol.announce import Announcement, SignedAnnouncement

LIFETIME = 12 * 3600  # seconds an announcement is signed for; renewed at half
PUT_RETRY = 5.0  # seconds before an indexer that refused or was unreachable is asked again


class Announcer:
    def __init__(
        self,
        state: MeshState,
        mailbox: Mailbox,
        *,
        device: str,
        sign: Callable[[Announcement], bytes],
        save: Callable[[], None],
    ) -> None:
        self.state, self.mailbox, self.device, self.sign, self.save = state, mailbox, device, sign, save
        self.accepted: set[str] = set()  # indexers that keep the current announcement
        self.errors: dict[str, str] = {}
        self.next_put: dict[str, float] = {}

    def announce(self, tailnet: int, fields: dict, now: float) -> None:
        """`fields`: wg_pubkey (text), hostname, endpoints, relay."""
        state = self.state
        wanted = {"tailnet_id": tailnet, **fields}
        expires = state.expires or 0
        if wanted != state.announced or expires - now < LIFETIME / 2:
            state.seq = max(state.seq + 1, int(now * 1000))
            if state.announced is None or state.announced.get("hostname") != fields["hostname"]:
                state.hostname_since = state.seq
            state.announced, state.expires = wanted, int(now) + LIFETIME
            self.accepted.clear()
            self.next_put.clear()
            self.save()
        if len(self.accepted) == len(self.mailbox.urls):
            return
        body = self.signed(tailnet).to_json()
        for url in self.mailbox.urls:
            if url in self.accepted or now < self.next_put.get(url, 0.0):
                continue
            error = self.mailbox.put(url, tailnet, body)
            if error is None:
                self.accepted.add(url)
                self.errors.pop(url, None)
                continue
            self.errors[url] = error
            self.next_put[url] = now + PUT_RETRY
            if "HTTP 409" in error and "not newer" in error:  # it holds a newer one of ours (a state lost)
                state.announced = None  # outbid it next time

    def signed(self, tailnet: int) -> SignedAnnouncement:
        """The current announcement: the members announced (as JSON), with this device's numbers, signed."""
        announcement = Announcement.from_json(
            {
                **(self.state.announced or {}),
                "tailnet_id": tailnet,
                "device": self.device,
                "hostname_since": min(self.state.hostname_since, self.state.seq),
                "seq": self.state.seq,
                "expires": self.state.expires,
            }
        )
        return SignedAnnouncement(announcement=announcement, signature=self.sign(announcement))

    def check_served(self, items: list, now: float) -> None:
        """If no indexer serves the current announcement though some took it (an indexer that lost its
        database, or withholds it), put it again, no more often than PUT_RETRY."""
        me = self.device.lower()
        served = any(
            isinstance(item, dict) and str(item.get("device", "")).lower() == me and item.get("seq") == self.state.seq
            for item in items
        )
        if not served and self.accepted:
            for url in self.accepted:
                self.next_put[url] = now + PUT_RETRY
            self.accepted.clear()
