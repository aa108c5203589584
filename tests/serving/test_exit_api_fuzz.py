"""Schemathesis drives every operation of the exit's OpenAPI document: no input may cause a 5xx
(a chain or WireGuard failure is the only 503, and the fakes here have neither)."""

from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance


def test_no_input_causes_a_server_error(handshake_app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", handshake_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 5  # every route is fuzzed

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for operation in operations:
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def no_server_error(case):
                case.call_and_validate(checks=[not_a_server_error, status_code_conformance])
            try:
                no_server_error()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # /v1/info takes nothing to violate
