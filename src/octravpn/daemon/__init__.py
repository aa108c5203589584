"""octravpnd: one daemon per machine that owns the device's identity, its tunnel and its sessions.

The command line (and later a web page) talks to it over a local HTTP API on
Unix sockets (`octravpn.daemon.localapi`); the service loop lives in
`octravpn.daemon.service`, the connection's steps in `octravpn.client`.
"""
