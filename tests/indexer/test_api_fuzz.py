"""Schemathesis drives every operation of the API's own OpenAPI document: no input may cause a 5xx."""

import pytest
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from octravpn.indexer.api import ChainReader, create_app
from octravpn.indexer.queries import Queries
from octravpn.indexer.rpc import JsonRpc
from tests.indexer.conftest import index_chain, new_database
from tests.openapi_fuzz import fuzz_every_operation


@pytest.fixture(scope="module")
def app(request, history, network, tmp_path_factory):
    engine = new_database(request, "sqlite", tmp_path_factory.mktemp("fuzz"))
    index_chain(engine, network)
    rpc = JsonRpc(network.rpc_url)
    yield create_app(Queries(engine), ChainReader(rpc, network.contract))
    rpc.close()
    engine.dispose()


def test_no_input_causes_a_server_error(app):
    fuzz_every_operation(
        app,
        operations=12,
        max_examples=80,
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
