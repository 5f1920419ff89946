from __future__ import annotations

import pytest

from tests.conftest import export_and_decrypt as export_bundle_and_decrypt
from tests.web.server import make_server


@pytest.fixture(scope="module")
def server(tmp_path_factory, keydir):
    """A real gunicorn serving the source app, with the keygen-made key as recipient."""
    srv = make_server(tmp_path_factory.mktemp("server"), keydir / "journalist.pub").start()
    yield srv
    srv.stop()


@pytest.fixture
def export_and_decrypt(keydir, tmp_path):
    """Export a server's data and decrypt it with the real tools; returns the output folder."""
    return lambda srv: export_bundle_and_decrypt(srv.data_dir, keydir, tmp_path)
