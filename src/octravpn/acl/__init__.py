"""Tailnet policies: Tailscale's ACL language, evaluated and compiled to per-device packet filters (no I/O)."""

from octravpn.acl.compile import DeviceFilter, FilterEntry, compile_device
from octravpn.acl.errors import PolicyError
from octravpn.acl.evaluate import Decision, Resolver, TestFailure, decide, decide_packet, run_tests
from octravpn.acl.network import TAILNET_PREFIXES, Device, Endpoint, Network
from octravpn.acl.policy import Policy, parse_policy

__all__ = [
    "TAILNET_PREFIXES",
    "Decision",
    "Device",
    "DeviceFilter",
    "Endpoint",
    "FilterEntry",
    "Network",
    "Policy",
    "PolicyError",
    "Resolver",
    "TestFailure",
    "compile_device",
    "decide",
    "decide_packet",
    "parse_policy",
    "run_tests",
]
