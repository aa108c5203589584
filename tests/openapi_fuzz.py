"""Schemathesis over an app's own OpenAPI document: every operation, with valid inputs and then with
schema-violating ones, and the given checks on every response."""

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode


def fuzz_every_operation(app, *, operations: int, checks: list, max_examples: int) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) == operations  # every route is fuzzed

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for operation in found:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def check(case):
                case.call_and_validate(checks=checks)

            try:
                check()
            except Unsatisfiable:
                # Nothing to violate: the operation takes no parameters.
                assert mode is GenerationMode.NEGATIVE, operation.label
