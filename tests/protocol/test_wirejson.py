"""JSON from the network: a value or a ValueError, whatever the bytes."""

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from octravpn.protocol.wirejson import MAX_REASON, error_reason, loads, loads_object


def test_values_within_the_depth_are_read():
    assert loads(b'{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}
    assert loads(b"[[[]]]", max_depth=3) == [[[]]]
    assert loads("7", max_depth=0) == 7  # a scalar nests nothing
    assert loads_object(b'{"x": 1}', max_depth=1) == {"x": 1}


@pytest.mark.parametrize(
    "data, max_depth, reason",
    [
        (b"[[[[]]]]", 3, "nests deeper than 3 levels"),
        (b'{"a": {"b": {}}}', 2, "nests deeper than 2 levels"),
        (b"[1, 2, [3, [4]]]", 2, "nests deeper than 2 levels"),
        (b"[" * 2000 + b"]" * 2000, 32, "nests deeper than 32 levels"),
        (b'"\xff"', 32, "codec can't decode"),
        (b"{not json", 32, "Expecting property name"),
        (b"", 32, "Expecting value"),
    ],
)
def test_what_is_not_json_or_too_deep_is_a_value_error(data, max_depth, reason):
    with pytest.raises(ValueError, match=reason):
        loads(data, max_depth=max_depth)


def test_a_message_that_must_be_an_object():
    for data, kind in ((b"[]", "list"), (b'"x"', "str"), (b"null", "NoneType")):
        with pytest.raises(ValueError, match=f"expected a JSON object, got {kind}"):
            loads_object(data)


def test_nesting_past_the_interpreters_recursion_limit_is_a_value_error_too():
    # json.loads raises RecursionError there, which is not a ValueError. Run with the interpreter's default
    # limit (this test process may have raised it), as OctraVPN's processes do.
    script = (
        "import sys\nfrom octravpn.protocol.wirejson import loads\n"
        "try:\n    loads(b'[' * 100_000)\nexcept ValueError as exc:\n    print(sys.getrecursionlimit(), exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    limit, reason = done.stdout.split(" ", 1)
    assert int(limit) < 100_000 and reason.strip() == "JSON nests deeper than 32 levels"


def test_an_error_reason_is_one_bounded_line():
    assert error_reason(b'{"error": "no such session"}') == "no such session"
    assert error_reason(b'{"error": "two\\nlines"}') == "two lines"
    assert error_reason(b'{"error": {"code": 3}}') == '{"code": 3}'
    assert error_reason(b'{"detail": "x"}') == '{"detail": "x"}'
    assert error_reason(b"[1, 2]") == "[1, 2]"
    assert error_reason(b"<html>\n<h1>Bad Gateway</h1>") == "<html> <h1>Bad Gateway</h1>"
    assert error_reason(b"\xff oops") == "\ufffd oops"
    assert len(error_reason(json.dumps({"error": "x" * 10_000}).encode())) == MAX_REASON
    assert error_reason(b"[" * 5000) == "[" * MAX_REASON  # too deep to read: its text


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_whatever_the_bytes_a_value_or_a_value_error(data):
    try:
        loads(data)
    except ValueError:
        pass
    reason = error_reason(data)
    assert "\n" not in reason and len(reason) <= MAX_REASON
