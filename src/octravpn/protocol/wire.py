"""Wire messages declared once: one table of fields per message drives its JSON (written, and read back with
every field checked), its EIP-712 members when it is signed, and its JSON schema (what the services' OpenAPI
documents show). No I/O.

A capability version (Tailscale's `CapabilityVersion` is the model) lets a field be added without a flag day.
Every message says the version of its writer (`v`). A reader takes messages of its own version and of the next
one: a field the next version added is one it does not know, and it passes it on untouched (an indexer serves
an announcement as it was signed); anything newer is refused with a reason. A field added after version 1 is
optional (older writers do not send it), and a signed message signs it without changing its EIP-712 type: the
type has a `version` and an `extensions` member, the hash of every field added after version 1 as the JSON
carries it (`extensions_hash`), so an older reader checks the signature of fields it cannot read.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NoReturn

from eth_hash.auto import keccak
from eth_utils import is_address, to_checksum_address

from octravpn.names import HOSTNAME
from octravpn.protocol.errors import LocalProtocolError, RemoteProtocolError
from octravpn.wireguard.keys import KeyFormatError, decode_key, encode_key

CAPABILITY_VERSION = 1
VERSION = "v"  # the JSON member that carries the writer's version
NO_EXTENSIONS = bytes(32)
REQUIRED: Any = object()  # a field's default when it has none


class FieldError(ValueError):
    """A value a field does not take (the message says which field and why)."""


@dataclass(frozen=True)
class Kind:
    """How one field's values travel: `check` takes the Python value (raising `FieldError`), `load` makes it from
    the JSON value, `dump` makes the JSON value; `schema` is its JSON schema and `eip712` its type when signed."""

    schema: dict
    annotation: Any  # the JSON value's Python type (for the services' response models)
    load: Callable[[str, Any], Any]
    dump: Callable[[Any], Any] = lambda value: value
    check: Callable[[str, Any], None] = lambda name, value: None
    eip712: str | None = None


@dataclass(frozen=True)
class Field:
    name: str  # in the JSON, and the Python attribute
    kind: Kind
    default: Any = REQUIRED
    since: int = 1  # the capability version that added it
    signed_as: str | None = None  # its EIP-712 member (of a version-1 field of a signed message)

    def __post_init__(self) -> None:
        if self.since > 1 and self.default is REQUIRED:
            raise AssertionError(f"{self.name}: a field added after version 1 must have a default")
        if self.signed_as and self.kind.eip712 is None:
            raise AssertionError(f"{self.name}: a signed field needs a kind with an EIP-712 type")

    @property
    def eip712_type(self) -> str:
        if self.kind.eip712 is None:
            raise AssertionError(f"{self.name} has no EIP-712 type")
        return self.kind.eip712


@dataclass(frozen=True)
class Message:
    """One wire message: its fields, and whether it is signed with an extension hash (`extensible`)."""

    name: str
    fields: tuple[Field, ...]
    extensible: bool = False
    error: type[RemoteProtocolError] = RemoteProtocolError
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(f.name for f in self.fields))

    def known(self, version: int) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.since <= version)

    def with_fields(
        self, *fields: Field, name: str | None = None, error: type[RemoteProtocolError] | None = None
    ) -> Message:
        """This message with more fields (a signed message's envelope adds its signature)."""
        return Message(name or self.name, self.fields + fields, self.extensible, error or self.error)

    def values_of(self, obj: object) -> dict:
        """The Python values of this message's fields that `obj` has (as attributes of the same names)."""
        return {f.name: getattr(obj, f.name) for f in self.fields if hasattr(obj, f.name)}

    @property
    def base(self) -> frozenset[str]:
        """The JSON members of version 1 (and the version itself): every other member is an extension."""
        return frozenset({f.name for f in self.fields if f.since == 1} | {VERSION})

    # ---------------------------------------------------------------- JSON
    def dump(self, values: dict, *, added: dict | None = None, version: int = CAPABILITY_VERSION) -> dict:
        """The JSON object of `values` (each field's Python value). `added`: the members beyond version 1 as a
        message read carried them (passed on untouched); None: made from `values`."""
        body = {VERSION: version}
        body |= {f.name: f.kind.dump(values[f.name]) for f in self.fields if f.since == 1}
        return body | (self.added(values, version) if added is None else added)

    def added(self, values: dict, version: int = CAPABILITY_VERSION) -> dict:
        """The JSON members a writer of `version` adds beyond version 1."""
        return {f.name: f.kind.dump(values[f.name]) for f in self.known(version) if f.since > 1}

    def load(self, body: object, *, version: int = CAPABILITY_VERSION) -> tuple[dict, dict, int]:
        """The values of a JSON object (defaults for optional fields it lacks), its members beyond version 1 as
        they came (known to this reader or not: they are passed on, and signed by `extensions_hash`), and its
        writer's version; or `self.error` saying what is wrong."""
        if not isinstance(body, dict):
            raise self.error(f"{self.name}: the body must be a JSON object with {', '.join(self.required(version))}")
        writer = body.get(VERSION, 1)
        if isinstance(writer, bool) or not isinstance(writer, int) or not 1 <= writer <= version + 1:
            raise self.error(
                f"{self.name} of capability version {writer!r}: this reader takes {version} and {version + 1}; "
                "upgrade it to read newer ones"
            )
        known = self.known(version)
        missing = [f.name for f in known if f.default is REQUIRED and f.name not in body]
        if missing:
            raise self.error(f"{self.name}: missing fields: {', '.join(missing)}")
        unknown = sorted(set(body) - {f.name for f in known} - {VERSION})
        if unknown and writer <= version:
            raise self.error(f"{self.name}: unknown fields {unknown} in a message of capability version {writer}")
        values = {}
        for f in known:
            try:
                values[f.name] = f.kind.load(f.name, body[f.name]) if f.name in body else f.default
            except FieldError as exc:  # it names the field
                raise self.error(f"{self.name}: {exc}") from None
            except (KeyFormatError, LocalProtocolError, RemoteProtocolError, TypeError, ValueError) as exc:
                raise self.error(f"{self.name}: {f.name}: {exc}") from None
        return values, {k: v for k, v in body.items() if k not in self.base}, writer

    def check(self, values: dict) -> None:
        """Check Python values (a message built here, not read): `LocalProtocolError` says what is wrong."""
        for f in self.fields:
            if f.name in values:
                try:
                    f.kind.check(f.name, values[f.name])
                except ValueError as exc:  # FieldError, or a parser's own (an endpoint's)
                    raise LocalProtocolError(str(exc)) from None

    def required(self, version: int = CAPABILITY_VERSION) -> list[str]:
        return [f.name for f in self.known(version) if f.default is REQUIRED]

    # ------------------------------------------------------------- schema
    def schema(self, version: int = CAPABILITY_VERSION) -> dict:
        """The JSON schema of the message (a newer writer's members are allowed: they are passed on)."""
        properties = {VERSION: {"type": "integer", "minimum": 1, "description": "the writer's capability version"}}
        properties |= {f.name: f.kind.schema for f in self.known(version)}
        return {"type": "object", "properties": properties, "required": self.required(version)}

    # -------------------------------------------------------------- EIP-712
    def eip712_fields(self) -> tuple[tuple[str, str, str], ...]:
        """(member, type, attribute) of the signed struct: the version-1 fields it signs, then `version` and
        `extensions` if it is extensible."""
        members = tuple((f.signed_as, f.eip712_type, f.name) for f in self.fields if f.signed_as and f.since == 1)
        if self.extensible:
            members += (("version", "uint16", "version"), ("extensions", "bytes32", "extensions"))
        return members


def extensions_hash(added: dict) -> bytes:
    """What a signed message's `extensions` member holds: the hash of its members beyond version 1 as the JSON
    carries them (canonical: sorted, no spaces, UTF-8); zero if there are none."""
    if not added:
        return NO_EXTENSIONS
    return keccak(json.dumps(added, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())


# ------------------------------------------------------------------ kinds
def _fail(name: str, problem: str) -> NoReturn:
    raise FieldError(f"{name} {problem}")


def uint(bits: int) -> Kind:
    top = 2**bits - 1

    def check(name: str, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(name, f"must be an integer, got {type(value).__name__}")
        if not 0 <= value <= top:
            _fail(name, f"must fit in uint{bits}, got {value}")

    def load(name: str, value: Any) -> int:
        check(name, value)
        return value

    return Kind({"type": "integer", "minimum": 0, "maximum": top}, int, load, check=check, eip712=f"uint{bits}")


def _address_check(name: str, value: object) -> None:
    if not isinstance(value, str) or not is_address(value):
        _fail(name, f"must be a 20-byte hex address, got {value!r}")


# A device checks a thousand announcements at a time, each naming addresses it has seen before: the checksum
# (two keccaks) is computed once per address. Bounded: hostile input can only evict, never grow it.
checksum_address = lru_cache(maxsize=16_384)(to_checksum_address)


def _address_load(name: str, value: Any) -> str:
    _address_check(name, value)
    return checksum_address(value)


def _key_check(name: str, value: object) -> None:
    if not isinstance(value, bytes) or len(value) != 32:
        _fail(name, "must be 32 bytes (a Curve25519 public key)")


def _key_load(name: str, value: object) -> bytes:
    if not isinstance(value, str):
        _fail(name, "must be a base64 WireGuard key")
    return decode_key(value)


def _label_check(name: str, value: object) -> None:
    if not isinstance(value, str) or not HOSTNAME.fullmatch(value):
        _fail(name, f"{value!r} must be one DNS label: 1-63 of a-z, 0-9 and '-', not starting or ending with '-'")


def _loaded(check: Callable[[str, object], None]) -> Callable[[str, object], object]:
    def load(name: str, value: object) -> object:
        check(name, value)
        return value

    return load


def _text_check(name: str, value: object) -> None:
    if not isinstance(value, str):
        _fail(name, f"must be a string, got {type(value).__name__}")


def _bool_check(name: str, value: object) -> None:
    if not isinstance(value, bool):
        _fail(name, "must be true or false")


def _signature_load(name: str, value: object) -> bytes:
    if not isinstance(value, str):
        _fail(name, "must be 0x and 65 bytes of hex")
    raw = bytes.fromhex(value.removeprefix("0x"))
    if len(raw) != 65:
        _fail(name, f"must be 65 bytes (r, s, v), got {len(raw)}")
    return raw


def _ip_load(name: str, value: Any) -> str:
    _text_check(name, value)
    return str(ipaddress.ip_address(value))


def _interface_load(name: str, value: Any) -> str:
    _text_check(name, value)
    return str(ipaddress.ip_interface(value))


def _listed(item: Callable[[str, object], object], limit: int) -> Callable[[str, object], tuple]:
    def load(name: str, value: object) -> tuple:
        if not isinstance(value, list) or len(value) > limit:
            _fail(name, f"must be a list of at most {limit}")
        return tuple(item(name, v) for v in value)

    return load


UINT64 = uint(64)
UINT256 = uint(256)
ADDRESS = Kind(
    {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}, str, _address_load, check=_address_check, eip712="address"
)
WG_KEY = Kind(
    {"type": "string", "description": "a WireGuard key, base64"},
    str,
    _key_load,
    dump=encode_key,
    check=_key_check,
    eip712="bytes32",
)
LABEL = Kind(
    {"type": "string", "pattern": HOSTNAME.pattern}, str, _loaded(_label_check), check=_label_check, eip712="string"
)
TEXT = Kind({"type": "string"}, str, _loaded(_text_check), check=_text_check, eip712="string")
BOOL = Kind({"type": "boolean"}, bool, _loaded(_bool_check), check=_bool_check, eip712="bool")
SIGNATURE = Kind(
    {"type": "string", "pattern": "^0x[0-9a-fA-F]{130}$"}, str, _signature_load, dump=lambda raw: "0x" + raw.hex()
)
IP = Kind({"type": "string", "description": "an IP address"}, str, _ip_load)


def hex_bytes(limit: int) -> Kind:
    """Bytes as 0x-prefixed hex, at most `limit` of them (a signed transaction)."""

    def load(name: str, value: object) -> bytes:
        if not isinstance(value, str) or not value.startswith("0x"):
            _fail(name, "must be 0x-prefixed hex")
        if len(value) > 2 + 2 * limit:
            _fail(name, f"must be at most {limit} bytes")
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            _fail(name, "must be 0x-prefixed hex")

    def check(name: str, value: object) -> None:
        if not isinstance(value, bytes) or len(value) > limit:
            _fail(name, f"must be at most {limit} bytes")

    schema = {"type": "string", "pattern": "^0x([0-9a-fA-F]{2})*$", "maxLength": 2 + 2 * limit}
    return Kind(schema, str, load, dump=lambda raw: "0x" + raw.hex(), check=check)


IP_INTERFACE = Kind({"type": "string", "description": "an address with its prefix length"}, str, _interface_load)


def ip_list(limit: int) -> Kind:
    return Kind(
        {"type": "array", "items": {"type": "string"}, "maxItems": limit}, list[str], _listed(_ip_load, limit), list
    )


def network_list(limit: int) -> Kind:
    def network(name: str, value: Any) -> str:
        _text_check(name, value)
        return str(ipaddress.ip_network(value))

    return Kind(
        {"type": "array", "items": {"type": "string"}, "maxItems": limit}, list[str], _listed(network, limit), list
    )


def optional_text() -> Kind:
    def check(name: str, value: object) -> None:
        if value is not None:
            _text_check(name, value)

    return Kind({"type": ["string", "null"]}, str | None, _loaded(check), check=check)


def nested(message: Message) -> Kind:
    """A message inside another, or null: checked here (its JSON kept, for the outer message's reader to build)."""

    def load(name: str, value: object) -> object:
        if value is not None:
            message.load(value)
        return value

    return Kind({"oneOf": [message.schema(), {"type": "null"}]}, dict | None, load)
