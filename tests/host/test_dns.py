"""The host's resolver has one owner: the mesh's name server and an exit's servers combined by one `set`, one
original kept and given back, whatever order the two come and go in."""

import itertools
import json

import pytest

from octravpn.daemon.state import DaemonState
from octravpn.host.dns import DNSConfig, DNSManager, give_back, is_ours, nameservers, resolver_config

ORIGINAL = "nameserver 192.0.2.1\nsearch lan\n"
MESH = {"resolver": "100.100.100.100", "search": ("octravpn.internal",)}
EXIT = {"servers": ("203.0.113.53",)}
STEPS = {"mesh on": MESH, "exit on": EXIT, "mesh off": {"resolver": None, "search": ()}, "exit off": {"servers": ()}}


@pytest.fixture
def resolv(tmp_path):
    path = tmp_path / "resolv.conf"
    path.write_text(ORIGINAL)
    return path


def manager(resolv):
    return DNSManager(resolv, resolv.with_name("dns.json"))


def test_the_exits_servers_are_written_in_place_and_the_original_given_back(resolv):
    dns = manager(resolv)
    inode = resolv.stat().st_ino
    dns.update(**EXIT)
    assert nameservers(resolv.read_text()) == ["203.0.113.53"] and is_ours(resolv.read_text())
    assert resolv.stat().st_ino == inode  # in place: /etc/resolv.conf is often a bind mount
    dns.restore()
    assert resolv.read_text() == ORIGINAL and not resolv.with_name("dns.json").exists()


def test_the_mesh_answers_first_and_passes_the_rest_to_the_exits_servers_or_the_hosts():
    both = resolver_config(DNSConfig(**MESH, **EXIT), ["192.0.2.1"])
    assert nameservers(both) == ["100.100.100.100"] and "search octravpn.internal" in both
    assert nameservers(resolver_config(DNSConfig(**EXIT), ["192.0.2.1"])) == ["203.0.113.53"]
    assert resolver_config(DNSConfig(), ["192.0.2.1"]) is None


@pytest.mark.parametrize("order", list(itertools.permutations(["mesh on", "exit on", "mesh off", "exit off"])))
def test_whatever_order_the_mesh_and_an_exit_come_and_go_in_the_host_gets_the_right_servers(resolv, order):
    """Before, each kept its own backup: the mesh turned off during an exit session gave back the host's own
    servers (which the kill switch blocks), and the exit's were never written."""
    dns = manager(resolv)
    on = set()
    for step in order:
        dns.update(**STEPS[step])
        part, state = step.split()
        (on.add if state == "on" else on.discard)(part)
        text = resolv.read_text()
        if "mesh" in on:
            assert nameservers(text) == ["100.100.100.100"]
            assert dns.upstream() == (["203.0.113.53"] if "exit" in on else ["192.0.2.1"])
        elif "exit" in on:
            assert nameservers(text) == ["203.0.113.53"]
        else:
            assert text == ORIGINAL
    assert dns.host_servers() == ["192.0.2.1"]


def test_a_rewrite_by_someone_else_is_the_hosts_own_now_and_is_taken_over_again(resolv):
    dns = manager(resolv)
    dns.update(**MESH)
    resolv.write_text("nameserver 198.51.100.53\n")  # a DHCP client wrote its own
    assert dns.upstream() == ["198.51.100.53"]
    dns.update(**MESH)  # the mesh's next step
    assert nameservers(resolv.read_text()) == ["100.100.100.100"]
    dns.restore()
    assert resolv.read_text() == "nameserver 198.51.100.53\n"


def test_a_lost_record_still_gives_the_hosts_servers_back(resolv):
    dns = manager(resolv)
    dns.update(**EXIT)
    resolv.with_name("dns.json").unlink()  # a damaged or lost state directory
    assert manager(resolv).host_servers() == ["192.0.2.1"]
    manager(resolv).restore()
    assert resolv.read_text() == "nameserver 192.0.2.1\n"


def test_a_later_process_gives_it_back_from_the_record_alone(resolv):
    dns = manager(resolv)
    dns.update(**MESH, **EXIT)
    record = resolv.with_name("dns.json")
    assert json.loads(record.read_text()) == {"file": str(resolv), "original": ORIGINAL}
    assert record.stat().st_mode & 0o077 == 0
    assert give_back(record) is True and resolv.read_text() == ORIGINAL
    assert give_back(record) is False  # nothing left to give back


def test_a_state_file_from_before_the_manager_still_loads(tmp_path):
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"host": {"interface": "ovpn0", "dns_file": "/etc/resolv.conf", "dns_backup": "x"}}))
    assert DaemonState.load(path).host.interface == "ovpn0"


def test_the_name_servers_of_a_resolver_configuration():
    text = "nameserver 192.0.2.1\nnameserver fe80::1%eth0\n# nameserver 9.9.9.9\nnameserver bad\n"
    assert nameservers(text) == ["192.0.2.1", "fe80::1"] and not is_ours(text)
