"""The small CLI changes the deployment relies on: keys from stdin, private files, no recovery
from the journalist app."""

from __future__ import annotations

import subprocess
import sys

from tipline.format.keys import SecretKey

from .common import add_key, free_port, get, stop, wait_for_port


def test_keys_add_from_stdin(tmp_path):
    key = SecretKey.generate().public_key
    r = subprocess.run(
        [sys.executable, "-m", "tipline.cli", "keys", "add", "--data-dir", str(tmp_path / "d"), "-"],
        input=key.to_text(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and key.fingerprint in r.stdout, r.stderr


def test_files_written_by_the_cli_are_private(tmp_path):
    data = tmp_path / "data"
    add_key(data)
    (tmp_path / "pw").write_text("correct horse battery staple tipline umask test\n")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tipline.cli",
            "journalist",
            "add",
            "ana",
            "--data-dir",
            str(data),
            "--passphrase-file",
            str(tmp_path / "pw"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    modes = {p.name: p.stat().st_mode & 0o777 for p in [data, *data.rglob("*")]}
    assert modes["accounts.db"] == modes["totp.key"] == 0o600, modes
    assert all(m & 0o077 == 0 for m in modes.values()), modes


def test_serve_journalist_app_does_not_recover(tmp_path):
    """`tipline serve --app journalist` next to a running source app must leave its uploads alone."""
    data = tmp_path / "data"
    add_key(data)
    in_flight = data / "store" / "pending" / ("d" * 32)
    in_flight.mkdir(parents=True)
    port, log = free_port(), tmp_path / "j.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tipline.cli",
                "serve",
                "--app",
                "journalist",
                "--data-dir",
                str(data),
                "--bind",
                f"127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, proc, log)
        assert get(port, "/login")[0] == 200
        assert in_flight.exists()
    finally:
        stop(proc)
