"""HuJSON ("human JSON", Tailscale's policy file format): JSON plus `//` and `/* */` comments and trailing
commas. Parsed into plain Python values, with the line and column of every value kept beside it, so that
an error found later (an unknown group, a bad port) can point at the place in the file that says it.

Containers are `Object` (a dict) and `Array` (a list); `where(key)` gives the position of a member. Strings
are `Text` (a str) carrying their own position. Numbers, booleans and null are plain values; their
position is their container's `where`.
"""

from __future__ import annotations

from octravpn.acl.errors import PolicyError, Position

MAX_DEPTH = 64  # nesting a policy file needs is under 10; this bounds the recursion on hostile input


class Text(str):
    """A string from the document, with where it starts."""

    position: Position

    def __new__(cls, value: str, position: Position) -> Text:
        text = super().__new__(cls, value)
        text.position = position
        return text


class Object(dict):
    """A JSON object, with where it and each of its members start."""

    def __init__(self, position: Position) -> None:
        super().__init__()
        self.position = position
        self.positions: dict[str, Position] = {}

    def where(self, key: str) -> Position:
        return self.positions.get(key, self.position)


class Array(list):
    """A JSON array, with where it and each of its elements start."""

    def __init__(self, position: Position) -> None:
        super().__init__()
        self.position = position
        self.positions: list[Position] = []

    def where(self, index: int) -> Position:
        return self.positions[index] if index < len(self.positions) else self.position


_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def position(self, index: int | None = None) -> Position:
        index = self.i if index is None else index
        low, high = 0, len(self.line_starts) - 1
        while low < high:  # the last line start at or before index
            middle = (low + high + 1) // 2
            if self.line_starts[middle] <= index:
                low = middle
            else:
                high = middle - 1
        return Position(low + 1, index - self.line_starts[low] + 1)

    def fail(self, message: str, index: int | None = None) -> PolicyError:
        return PolicyError(message, self.position(index))

    def skip(self) -> None:
        """Whitespace and comments."""
        text = self.text
        while self.i < len(text):
            c = text[self.i]
            if c in " \t\r\n\ufeff":
                self.i += 1
            elif text.startswith("//", self.i):
                end = text.find("\n", self.i)
                self.i = len(text) if end < 0 else end + 1
            elif text.startswith("/*", self.i):
                end = text.find("*/", self.i + 2)
                if end < 0:
                    raise self.fail("a /* comment is never closed: end it with */")
                self.i = end + 2
            else:
                return

    def document(self):
        self.skip()
        if self.i >= len(self.text):
            raise self.fail('the policy file is empty: it must be one JSON object, such as {"acls": []}')
        value = self.value(0)
        self.skip()
        if self.i < len(self.text):
            raise self.fail("unexpected text after the policy's closing brace: remove it")
        return value

    def value(self, depth: int):
        if depth > MAX_DEPTH:
            raise self.fail(f"nested more than {MAX_DEPTH} levels deep")
        self.skip()
        if self.i >= len(self.text):
            raise self.fail("the file ends in the middle of a value: a bracket or brace is not closed")
        c = self.text[self.i]
        if c == "{":
            return self.object(depth)
        if c == "[":
            return self.array(depth)
        if c == '"':
            return self.string()
        if c == "-" or c.isdigit():
            return self.number()
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.i):
                self.i += len(word)
                return value
        if c == "'":
            raise self.fail('strings are written in double quotes ("…"), not single quotes')
        raise self.fail(
            f"unexpected {c!r}: expected a value (a string in double quotes, a number, an object, "
            "an array, true, false or null)"
        )

    def object(self, depth: int) -> Object:
        result = Object(self.position())
        self.i += 1
        while True:
            self.skip()
            if self.i < len(self.text) and self.text[self.i] == "}":
                self.i += 1
                return result
            if self.i >= len(self.text) or self.text[self.i] != '"':
                raise self.fail("expected a member name in double quotes, or } to close the object")
            key = self.string()
            if key in result:
                raise PolicyError(f"{key!r} appears twice in this object: keep one", key.position)
            self.skip()
            if self.i >= len(self.text) or self.text[self.i] != ":":
                raise self.fail(f"expected : after {key!r}")
            self.i += 1
            self.skip()
            result.positions[key] = self.position()
            result[key] = self.value(depth + 1)
            self.skip()
            if self.i < len(self.text) and self.text[self.i] == ",":
                self.i += 1  # a trailing comma before } is allowed: HuJSON
            elif self.i >= len(self.text) or self.text[self.i] != "}":
                raise self.fail("expected , between members or } to close the object")

    def array(self, depth: int) -> Array:
        result = Array(self.position())
        self.i += 1
        while True:
            self.skip()
            if self.i < len(self.text) and self.text[self.i] == "]":
                self.i += 1
                return result
            result.positions.append(self.position())
            result.append(self.value(depth + 1))
            self.skip()
            if self.i < len(self.text) and self.text[self.i] == ",":
                self.i += 1
            elif self.i >= len(self.text) or self.text[self.i] != "]":
                raise self.fail("expected , between elements or ] to close the array")

    def string(self) -> Text:
        start = self.i
        self.i += 1
        parts: list[str] = []
        text = self.text
        while True:
            if self.i >= len(text):
                raise self.fail('a string is never closed: end it with "', start)
            c = text[self.i]
            if c == '"':
                self.i += 1
                return Text("".join(parts), self.position(start))
            if c == "\n":
                raise self.fail('a string runs past the end of its line: close it with "', start)
            if c == "\\":
                escape = text[self.i + 1 : self.i + 2]
                if escape in _ESCAPES:
                    parts.append(_ESCAPES[escape])
                    self.i += 2
                elif (
                    escape == "u"
                    and all(h in "0123456789abcdefABCDEF" for h in text[self.i + 2 : self.i + 6])
                    and len(text[self.i + 2 : self.i + 6]) == 4
                ):
                    parts.append(chr(int(text[self.i + 2 : self.i + 6], 16)))
                    self.i += 6
                else:
                    raise self.fail(f"unknown escape \\{escape} in a string")
            else:
                parts.append(c)
                self.i += 1

    def number(self) -> int | float:
        start = self.i
        text = self.text
        if text[self.i] == "-":
            self.i += 1
        while self.i < len(text) and (text[self.i].isdigit() or text[self.i] in ".eE+-"):
            self.i += 1
        literal = text[start : self.i]
        try:
            return int(literal) if literal.lstrip("-").isdigit() else float(literal)
        except ValueError:
            raise self.fail(f"{literal!r} is not a number", start) from None


def parse(text: str):
    """The document's value (an `Object` for a policy file), or `PolicyError` with the line and column."""
    return _Parser(text).document()
