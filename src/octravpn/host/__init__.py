"""The host's network settings, with one owner each: what the exit connection (`client`, through the daemon)
and the mesh (`mesh`) need of the host, so neither imports the other.

- `dns`: the resolver configuration, combined from the mesh's name server and an exit's servers;
- `routing`: the exit tunnel's routes and kill switch; `tunnel`: the exit connection's side of the host;
- `uplink`: the policy routing that keeps the mesh's own packets out of an exit's tunnel, and its mark;
- `mesh`: the mesh interface, its filter and routes;
- `icmp`: echo requests on one interface (the exit's liveness probe, `octravpn ping`).
Each records what it changed so that a later process can undo it.
"""
