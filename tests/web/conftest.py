from __future__ import annotations

import pytest

from tests.conftest import run_offline
from tests.web.server import make_server


@pytest.fixture(scope="module")
def server(tmp_path_factory, keydir):
    """A real gunicorn serving the source app, with the keygen-made key as recipient."""
    srv = make_server(tmp_path_factory.mktemp("server"), keydir / "journalist.pub").start()
    yield srv
    srv.stop()


@pytest.fixture
def export_and_decrypt(keydir, tmp_path):
    """Run the real `tipline export` then `tipline-offline decrypt`; return the output folder."""
    import subprocess
    import sys

    def run(srv) -> object:
        bundle = tmp_path / f"bundle-{len(list(tmp_path.glob('bundle-*')))}.tar"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "tipline.cli",
                "export",
                "--data-dir",
                str(srv.data_dir),
                "--out",
                str(bundle),
            ],
            check=True,
            capture_output=True,
        )
        out = tmp_path / "decrypted"
        r = run_offline(
            "decrypt",
            str(bundle),
            "--key",
            str(keydir / "journalist.key"),
            "--out",
            str(out),
            "--passphrase-file",
            str(keydir / "pass.txt"),
        )
        assert r.returncode == 0, r.stderr
        return out

    return run
