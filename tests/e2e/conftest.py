import pytest

from octravpn.lab import Host, link, require_root_and_tools, unique


@pytest.fixture
def two_hosts():
    """Hosts `a` (192.0.2.1) and `b` (192.0.2.2) on one veth link, removed afterwards."""
    require_root_and_tools()
    a, b = Host(unique("ovpa")), Host(unique("ovpb"))
    try:
        link(a, "192.0.2.1/24", b, "192.0.2.2/24")
        yield a, b
    finally:
        a.delete()
        b.delete()
