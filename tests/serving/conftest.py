import pytest

from tests.serving.exit_app import build_exit_app


@pytest.fixture
def handshake_app(tmp_path):
    app, store = build_exit_app(tmp_path / "node.db")
    yield app
    store.close()
