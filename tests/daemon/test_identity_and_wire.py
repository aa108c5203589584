"""The device key at rest, the local API's request types, the exit-health rule and the probe packet."""

import os
import stat

import pytest

from octravpn.client.health import ExitHealth
from octravpn.daemon import identity
from octravpn.daemon.wire import (
    UpRequest,
    WireError,
    confirmation,
    down_request,
    end_request,
    ping_request,
    preferences,
    wallet_address,
)
from octravpn.errors import ConfigError
from octravpn.host.icmp import checksum, echo_request

ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_the_device_key_is_created_once_owner_only_and_reused(tmp_path):
    first = identity.load_or_create(tmp_path)
    path = tmp_path / identity.PLAIN_KEY
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert identity.load_or_create(tmp_path).address == first.address


def test_a_device_key_others_can_read_is_refused(tmp_path):
    identity.load_or_create(tmp_path)
    os.chmod(tmp_path / identity.PLAIN_KEY, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        identity.load_or_create(tmp_path)


def test_an_encrypted_device_key_needs_its_password(tmp_path):
    first = identity.load_or_create(tmp_path, password="s3cret")
    assert not (tmp_path / identity.PLAIN_KEY).exists() and (tmp_path / identity.SEALED_KEY).exists()
    assert identity.load_or_create(tmp_path, password="s3cret").address == first.address
    with pytest.raises(ConfigError, match="cannot unlock"):
        identity.load_or_create(tmp_path, password="wrong")
    with pytest.raises(ConfigError, match="--key-password-file"):
        identity.load_or_create(tmp_path)


def test_a_plain_key_is_not_silently_replaced_by_an_encrypted_one(tmp_path):
    identity.load_or_create(tmp_path)
    with pytest.raises(ConfigError, match="registered again"):
        identity.load_or_create(tmp_path, password="s3cret")


def test_the_password_comes_from_systemds_credentials(tmp_path, monkeypatch):
    (tmp_path / "device-key-password").write_text("from-systemd\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert identity.credentials_password() == "from-systemd"
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    assert identity.credentials_password() is None


def test_an_up_request_round_trips_and_checks_every_field():
    request = UpRequest(exit=ADDRESS.lower(), tailnet=2, max_pay="0.5", interface="wg-a", leeway_mb=0)
    assert request.exit == ADDRESS and UpRequest.from_json(request.to_json()) == request
    for bad, says in (
        ({"exit": "auto", "region": "eu", "max_price": None, "session": -1}, "session must be >= 0"),
        ({"exit": ADDRESS, "region": "eu"}, "with --exit auto"),
        ({"exit": "auto", "indexer": "ftp://x"}, "http(s)://"),
        ({"exit": "auto", "kill_switch": "yes"}, "kill_switch must be bool"),
        ({"exit": "auto", "keep_alive": -1}, "keep_alive must be between 0 and"),
        ({"exit": "auto", "keep_alive": 31 * 86400}, "keep_alive must be between 0 and"),
        ({"exit": "auto", "keep_alive": "24h"}, "keep_alive must be int"),
        ({"tailnet": 1}, "exit is required"),
    ):
        with pytest.raises(WireError, match=says.replace("(", r"\(").replace(")", r"\)")):
            UpRequest.from_json(bad)


def test_the_small_bodies_are_checked_too():
    assert down_request({}) == (60.0, False) and down_request({"settle_wait": 5, "end": True}) == (5.0, True)
    assert end_request({}) == (None, 60.0) and end_request({"session": 4, "settle_wait": 0}) == (4, 0.0)
    assert confirmation({"session": 3, "bytes_used": 10}) == (3, 10)
    assert wallet_address({"wallet": ADDRESS.lower()}) == ADDRESS
    for call, body in (
        (down_request, {"settle_wait": -1}),
        (down_request, {"wait": 1}),
        (down_request, {"end": "yes"}),
        (end_request, {"session": -1}),
        (end_request, {"session": "all"}),
        (confirmation, {"session": 1}),
        (confirmation, {"session": 1, "bytes_used": -5}),
        (wallet_address, {"wallet": 7}),
    ):
        with pytest.raises(WireError):
            call(body)


def test_set_and_ping_bodies_split_the_connections_preferences_from_the_meshs_and_check_both():
    assert preferences({"kill_switch": False, "hostname": "box", "relay": True}) == (
        {"kill_switch": False},
        {"hostname": "box", "relay": True},
    )
    assert preferences({"mesh": False, "mesh_dns": True, "mesh_tailnet": 2}) == (
        {},
        {"enabled": False, "dns": True, "tailnet": 2},
    )
    assert ping_request({"target": "box"}) == ("box", 3) and ping_request({"target": "box", "count": 20}) == ("box", 20)
    for call, body, says in (
        (preferences, {}, "some of"),
        (preferences, {"colour": "red"}, "some of"),
        (preferences, {"hostname": "no_underscores"}, "one DNS label"),
        (preferences, {"hostname": 5}, "hostname must be str"),
        (preferences, {"advertise_tags": ["tag:a"]}, "some of"),  # a tag owner grants tags, on chain
        (preferences, {"hostname": "box\n"}, "one DNS label"),
        (preferences, {"relay": "yes"}, "relay must be bool"),
        (preferences, {"mesh_tailnet": True}, "tailnet must be int"),
        (ping_request, {"count": 1}, "target"),
        (ping_request, {"target": "box", "count": 0}, "count must be 1-20"),
        (ping_request, {"target": ""}, "hostname, a tailnet address"),
    ):
        with pytest.raises(WireError, match=says):
            call(body)


def test_the_exit_is_unreachable_only_after_dead_after_seconds_without_any_sign_of_life():
    health = ExitHealth(since=100.0, dead_after=6.0)
    assert health.unreachable_since(105.9) is None and not health.should_probe(105)  # the API never failed
    health.api_failed("refused")
    assert health.should_probe(101.0) and health.unreachable_since(106.0) == 100.0
    health.received(500, 103.0)  # a probe's answer through the tunnel
    assert health.unreachable_since(106.0) is None and not health.should_probe(103.5)
    health.received(500, 108.0)  # the same total: nothing new came in
    assert health.unreachable_since(109.0) == 103.0
    health.api_answered(109.5)
    assert health.unreachable_since(110.0) is None and not health.should_probe(112.0)


def test_the_probe_is_a_valid_icmp_echo_request():
    packet = echo_request(0x1234, 7)
    assert packet[0] == 8 and packet[1] == 0 and checksum(packet) == 0  # a correct checksum sums to zero
