"""PostgreSQL for backups: pg_dump of one exported snapshot, rows sorted, and psql to restore it.

pg_dump writes each table's rows in the order they lie in the heap, which is
close to the order they arrived; a backup keeps no arrival order, so the rows
of every COPY block are sorted (each row is one line in COPY's text format).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import make_url

# Rows a restore has no use for: live sessions and login throttling start afresh.
EPHEMERAL = ("journalist_sessions", "login_throttle")


class PostgresError(Exception):
    """pg_dump or psql is missing or failed; the message says what to do."""


def _conninfo(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI for the SQLAlchemy URL, with the password moved to the environment."""
    u = make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    return u.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def client(con: Connection, tool: str) -> str:
    """The pg_dump or psql of the server's major version (Debian keeps one per version)."""
    major = int(con.execute(text("show server_version_num")).scalar_one()) // 10000
    for path in [*glob.glob(f"/usr/lib/postgresql/{major}/bin/{tool}"), shutil.which(tool) or ""]:
        if path and os.access(path, os.X_OK):
            r = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
            digits = r.stdout.split()[-1].split(".")[0] if r.stdout.split() else ""
            if digits.isdigit() and int(digits) >= major:
                return path
    raise PostgresError(
        f"No {tool} for PostgreSQL {major} on this machine. "
        f"Install it: apt-get install postgresql-client-{major}"
    )


@contextmanager
def snapshot(url: str) -> Iterator[tuple[Connection, str]]:
    """A read-only repeatable-read transaction and its exported snapshot, for pg_dump --snapshot."""
    engine = create_engine(url)
    try:
        with engine.connect() as con:
            con = con.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with con.begin():
                yield con, con.execute(text("select pg_export_snapshot()")).scalar_one()
    finally:
        engine.dispose()


def dump(con: Connection, snap: str, url: str, out: Path) -> None:
    """pg_dump of the snapshot into `out` (plain SQL, no owners or grants), every COPY block sorted."""
    conninfo, env = _conninfo(url)
    raw = out.with_suffix(".unsorted")
    cmd = [client(con, "pg_dump"), "--no-owner", "--no-privileges", "--format=plain", f"--snapshot={snap}"]
    cmd += [f"--exclude-table-data={t}" for t in EPHEMERAL]
    with open(raw, "wb") as f:
        r = subprocess.run(
            [*cmd, f"--dbname={conninfo}"], stdout=f, stderr=subprocess.PIPE, env=env, check=False
        )
    if r.returncode != 0:
        raw.unlink(missing_ok=True)
        last = (r.stderr.decode(errors="replace").strip().splitlines() or ["(no message)"])[-1]
        raise PostgresError(f"pg_dump failed: {last}")
    with open(raw, "rb") as src, open(out, "wb") as dst:
        dst.writelines(sort_copy_blocks(src))
    raw.unlink()


def sort_copy_blocks(lines: Iterator[bytes]) -> Iterator[bytes]:
    """The dump's lines, each COPY block's rows in sorted order instead of the heap's."""
    block: list[bytes] | None = None
    for line in lines:
        if block is None:
            yield line
            if line.startswith(b"COPY ") and line.rstrip().endswith(b"FROM stdin;"):
                block = []
        elif line == b"\\.\n":
            yield from sorted(block)
            yield line
            block = None
        else:
            block.append(line)


def has_rows(url: str, tables: tuple[str, ...]) -> list[str]:
    """Which of these tables exist in the database and hold a row."""
    engine = create_engine(url)
    try:
        with engine.connect() as con:
            present = set(inspect(con).get_table_names())
            return [
                t
                for t in tables
                if t in present and con.execute(text(f'select 1 from "{t}" limit 1')).first()  # noqa: S608
            ]
    finally:
        engine.dispose()


def restore(url: str, sql: Path) -> None:
    """Replace the database's (empty) tables with the dump's, in one transaction: all or nothing."""
    engine = create_engine(url)
    try:
        with engine.connect() as con:
            psql = client(con, "psql")
            tables = inspect(con).get_table_names()
    finally:
        engine.dispose()
    conninfo, env = _conninfo(url)
    drops = "".join(f'DROP TABLE IF EXISTS public."{t}" CASCADE;\n' for t in tables).encode()
    with open(sql, "rb") as f:
        body = drops + f.read()
    r = subprocess.run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", f"--dbname={conninfo}"],
        input=body,
        capture_output=True,
        env=env,
        check=False,
    )
    if r.returncode != 0:
        last = (r.stderr.decode(errors="replace").strip().splitlines() or ["(no message)"])[-1]
        raise PostgresError(f"psql could not load the backup's database, nothing of it was kept: {last}")
