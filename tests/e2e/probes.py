"""Real packets between lab hosts: a TCP and UDP echo service on some ports of a host, and one-shot probes
that say whether a TCP connection, a UDP datagram's echo, or an ICMP echo got through."""

from __future__ import annotations

import subprocess
import sys

from octravpn.lab import Host

SERVER = r"""
import socket, sys, threading
ports = [int(p) for p in sys.argv[1:]]
def tcp(port):
    s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); s.bind(("::", port)); s.listen(16)
    while True:
        c, _ = s.accept(); c.sendall(b"tcp-ok"); c.close()
def udp(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); s.bind(("::", port))
    while True:
        data, peer = s.recvfrom(2048); s.sendto(b"udp-ok", peer)
for port in ports:
    threading.Thread(target=tcp, args=(port,), daemon=True).start()
    threading.Thread(target=udp, args=(port,), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""

CLIENT = r"""
import socket, sys
kind, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
family = socket.AF_INET6 if ":" in address else socket.AF_INET
try:
    if kind == "tcp":
        s = socket.create_connection((address, port), timeout=1.5); ok = s.recv(16) == b"tcp-ok"
    else:
        s = socket.socket(family, socket.SOCK_DGRAM); s.settimeout(1.5); s.sendto(b"hi", (address, port))
        ok = s.recvfrom(16)[0] == b"udp-ok"
except OSError:
    ok = False
sys.exit(0 if ok else 1)
"""


def serve(host: Host, *ports: int) -> subprocess.Popen:
    """The echo service on `ports` (TCP and UDP, IPv4 and IPv6) of `host`, once it listens."""
    process = subprocess.Popen(
        ["ip", "netns", "exec", host.name, sys.executable, "-c", SERVER, *map(str, ports)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "ready"
    return process


def reaches(host: Host, kind: str, address: str, port: int | None = None) -> bool:
    """Whether `kind` ("tcp", "udp", "icmp") from `host` to `address` (and `port`) gets its answer."""
    if kind == "icmp":
        ping = "ping" if ":" not in address else "ping6"
        return host.run(ping, "-c", "1", "-W", "2", address, check=False).returncode == 0
    return host.run(sys.executable, "-c", CLIENT, kind, address, str(port), check=False, timeout=10).returncode == 0
