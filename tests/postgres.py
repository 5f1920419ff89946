"""A private PostgreSQL server for the tests that need one, and databases of their own on it.

Module-scoped: each test module that asks for `pg_url` gets its own server,
on a unix socket only (listen_addresses=''), stopped and removed afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import missing
from tests.web.server import free_port
from tipline.store.db import make_engine


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root, a laptop usually not.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _run(cmd: list[str], log: Path | None = None) -> None:
    """Run a server command; if it fails, fail with what it printed and the server's log, not an exit code."""
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode:
        told = (r.stdout + r.stderr)[-3000:]
        if log is not None and log.exists():
            told += "\nserver log:\n" + log.read_text(errors="replace")[-3000:]
        pytest.fail(f"{' '.join(cmd)} exited {r.returncode}:\n{told}", pytrace=False)


@contextlib.contextmanager
def server(superuser: str = "tipline", hba: str = "", ident: str = "") -> Iterator[tuple[Path, int]]:
    """A private server on a unix socket in a folder of its own: (that folder, port).

    By default every local connection is trusted; `hba` and `ident`, when given, replace
    pg_hba.conf and pg_ident.conf (peer authentication, as a Debian server has it)."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        missing("initdb")
    bindir = os.path.dirname(bins[-1])
    # Not under pytest's temp folder: the postgres user cannot enter root's 0700 folders.
    base = Path(tempfile.mkdtemp(prefix="tipline-pg-"))
    data = base / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(data, "postgres")
    if hba:
        base.chmod(0o755)  # other users reach the socket in it; the data folder stays 0700
    port = free_port()
    _run(_as_postgres([f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", superuser]))
    if hba:
        (data / "pg_hba.conf").write_text(hba)
        (data / "pg_ident.conf").write_text(ident)
    opts = f"-k {base} -p {port} -c listen_addresses='' -c fsync=on"
    _run(
        _as_postgres(
            [f"{bindir}/pg_ctl", "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start"]
        ),
        log=base / "log",
    )
    try:
        yield base, port
    finally:
        subprocess.run(
            _as_postgres([f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_url():
    with server() as (base, port):
        yield f"postgresql+psycopg://tipline@/postgres?host={base}&port={port}"


def new_database(pg_url: str, name: str) -> str:
    """A database of its own on the private server, as docs/install.md has for the accounts."""
    engine = make_engine(pg_url).execution_options(isolation_level="AUTOCOMMIT")
    with engine.connect() as con:
        con.execute(text(f"create database {name}"))
    engine.dispose()
    return pg_url.replace("/postgres?", f"/{name}?")
