"""HuJSON: JSON with comments and trailing commas, every value's line and column kept."""

import pytest

from octravpn.acl.errors import PolicyError
from octravpn.acl.hujson import Position, parse


def test_comments_and_trailing_commas():
    value = parse('{\n  // a comment\n  "a": [1, 2, /* inline */ 3,],\n  "b": {"c": true, "d": null,},\n}\n')
    assert value == {"a": [1, 2, 3], "b": {"c": True, "d": None}}


def test_positions_of_members_elements_and_strings():
    value = parse('{\n  "acls": [\n    {"src": ["x", "y"]},\n  ],\n}')
    assert value.where("acls") == Position(2, 11)
    assert value["acls"].where(0) == Position(3, 5)
    assert value["acls"][0]["src"][1].position == Position(3, 19)


def test_strings_escapes_and_numbers():
    value = parse(r'["a\"b\\c\u0041\n", -12, 3.5, 1e3]')
    assert value == ['a"b\\cA\n', -12, 3.5, 1000.0]


@pytest.mark.parametrize(
    "text, message, line, column",
    [
        ("", "the policy file is empty", 1, 1),
        ('{"a": 1 "b": 2}', "expected , between members", 1, 9),
        ('{"a": [1, 2}', "expected , between elements or ] to close", 1, 12),
        ('{"a": 1,\n "a": 2}', "'a' appears twice in this object", 2, 2),
        ("{'a': 1}", "expected a member name in double quotes", 1, 2),
        ("{\"a\": 'x'}", "double quotes", 1, 7),
        ('{"a": "x\n"}', "a string runs past the end of its line", 1, 7),
        ('{"a": 1} x', "unexpected text after the policy's closing brace", 1, 10),
        ('{"a": 1 /* open', "a /* comment is never closed", 1, 9),
        ('{"a": tru}', "unexpected 't'", 1, 7),
        ('{"a": "\\q"}', "unknown escape \\q", 1, 8),
        ('{"a": [', "the file ends in the middle of a value", 1, 8),
    ],
)
def test_syntax_errors_say_what_and_where(text, message, line, column):
    with pytest.raises(PolicyError) as caught:
        parse(text)
    assert message in caught.value.message and (caught.value.line, caught.value.column) == (line, column)


def test_nesting_is_bounded():
    with pytest.raises(PolicyError, match="nested more than 64 levels"):
        parse("[" * 100 + "]" * 100)
