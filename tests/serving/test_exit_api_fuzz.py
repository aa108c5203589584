"""Schemathesis drives every operation of the exit's OpenAPI document: no input may cause a 5xx
(a chain or WireGuard failure is the only 503, and the fakes here have neither)."""

from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from tests.openapi_fuzz import fuzz_every_operation


def test_no_input_causes_a_server_error(handshake_app):
    fuzz_every_operation(
        handshake_app, operations=7, checks=[not_a_server_error, status_code_conformance], max_examples=150
    )
