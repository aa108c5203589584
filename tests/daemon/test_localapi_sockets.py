"""The two sockets of the local API never share workers: what anyone on the machine asks of the read socket,
however slow, never delays root's requests on the control socket (six pings to an offline peer once delayed
`down` from 6 ms to 7.6 s), and the read socket refuses more pings than it runs at once."""

import asyncio
import threading
from types import SimpleNamespace

import httpx

from octravpn.daemon import localapi
from octravpn.daemon.localapi import build_app


def _daemon(released: threading.Event):
    def ping(target, *, count):
        released.wait(30)  # an offline peer: each echo waits its whole timeout
        return {"name": target, "answered": 0, "sent": count}

    return SimpleNamespace(
        mesh=SimpleNamespace(ping=ping),
        down=lambda settle_wait, end: {"status": "down"},
    )


def test_pings_on_the_read_socket_never_hold_up_the_control_socket():
    released = threading.Event()
    daemon = _daemon(released)
    read, control = build_app(daemon, control=False), build_app(daemon, control=True)

    async def scenario():
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=read), base_url="http://read") as anyone,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=control), base_url="http://control") as root,
        ):
            pings = [asyncio.create_task(anyone.post("/v1/ping", json={"target": "laptop"})) for _ in range(40)]
            await asyncio.sleep(0.2)
            down = await asyncio.wait_for(root.post("/v1/down", json={}), timeout=20)
            still_pinging = sum(not task.done() for task in pings)
            released.set()
            answers = await asyncio.gather(*pings)
            return down, still_pinging, answers

    try:
        down, still_pinging, answers = asyncio.run(scenario())
    finally:
        released.set()
    assert down.status_code == 200 and down.json() == {"status": "down"}
    assert still_pinging == localapi.MAX_PINGS  # `down` was answered while the pings still held their workers
    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) == 40 - localapi.MAX_PINGS and "pings already in flight" in refused[0].json()["error"]
    assert sum(a.status_code == 200 for a in answers) == localapi.MAX_PINGS
