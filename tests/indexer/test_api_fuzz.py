"""Schemathesis drives every operation of the API's own OpenAPI document: no input may cause a 5xx."""

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from octravpn.indexer.api import ChainReader, create_app
from octravpn.indexer.queries import Queries
from octravpn.indexer.rpc import JsonRpc
from tests.indexer.conftest import index_chain, new_database


@pytest.fixture(scope="module")
def app(request, history, network, tmp_path_factory):
    engine = new_database(request, "sqlite", tmp_path_factory.mktemp("fuzz"))
    index_chain(engine, network)
    rpc = JsonRpc(network.rpc_url)
    yield create_app(Queries(engine), ChainReader(rpc, network.contract))
    rpc.close()
    engine.dispose()


def test_no_input_causes_a_server_error(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 11  # every route is fuzzed

    # Valid inputs, then schema-violating ones (which must be refused with a documented 4xx).
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for operation in operations:
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def no_server_error(case):
                case.call_and_validate(checks=[not_a_server_error, status_code_conformance, response_schema_conformance])
            try:
                no_server_error()
            except Unsatisfiable:
                # Nothing to violate: the operation takes no parameters (/healthz, /v1/stats).
                assert mode is GenerationMode.NEGATIVE, operation.label
