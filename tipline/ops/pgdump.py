"""PostgreSQL for backups: pg_dump (one snapshot), rows sorted, and psql to restore; nothing in-process.

pg_dump writes each table's rows in the order they lie in the heap, which is
close to the order they arrived; a backup keeps no arrival order, so the rows
of every COPY block are sorted (each row is one line in COPY's text format).
What the backup must know of the dump (which envelopes its rows name, the
schema revision) is read from the dump itself, so it describes that snapshot.

The clients run as root's own role if the URL names a user; otherwise, as
root, as the journalist app's user (`owner`: tipline-journalist, or the
command's --journalist-user), who owns both databases (docs/install.md: peer
authentication over the local socket), and the tables a restore makes are
that user's, as the apps' own start makes them.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from tipline.store.schema import VERSION_TABLES

from .doctor_layout import JOURNALIST_USER

# Rows a restore has no use for: live sessions and login throttling start afresh.
EPHEMERAL = ("journalist_sessions", "login_throttle")
# The COPY blocks whose rows a backup reads: table -> the columns it needs.
WANTED = {
    "submissions": ("id", "item_count"),
    "replies": ("id", "deleted_by_source"),
    **{table: ("version_num",) for table in VERSION_TABLES.values()},
}


class PostgresError(Exception):
    """pg_dump or psql is missing or failed; the message says what to do."""


@dataclass
class Dumped:
    """What a dump holds that the backup needs: the rows of WANTED's tables, those columns only."""

    rows: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def revision(self, which: str) -> str | None:
        """The database's Alembic revision (tipline/store/schema.py), None if it has no version table."""
        versions = self.rows.get(VERSION_TABLES[which], [])
        return versions[0]["version_num"] if versions else None


def _conninfo(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI for the SQLAlchemy URL, with the password moved to the environment."""
    u = make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    return u.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _as_owner(url: str, cmd: list[str], owner: str) -> list[str]:
    if os.geteuid() != 0 or make_url(url).username:
        return cmd
    try:
        pwd.getpwnam(owner)
    except KeyError:
        return cmd
    return ["runuser", "-u", owner, "--", *cmd]


def _run(url: str, cmd: list[str], owner: str = JOURNALIST_USER, **kw) -> subprocess.CompletedProcess:
    conninfo, env = _conninfo(url)
    r = subprocess.run(_as_owner(url, [*cmd, f"--dbname={conninfo}"], owner), env=env, check=False, **kw)
    if r.returncode != 0:
        err = r.stderr.decode(errors="replace") if isinstance(r.stderr, bytes) else r.stderr or ""
        last = (err.strip().splitlines() or ["(no message)"])[-1]
        raise PostgresError(f"{Path(cmd[0]).name} failed: {last.rstrip('.')}.")
    return r


def _installed(tool: str) -> list[str]:
    """Each installed version's `tool`, newest first (Debian keeps one per major version)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), key=lambda p: int(Path(p).parts[-3]))
    return [*reversed(found), *([shutil.which(tool)] if shutil.which(tool) else [])]


def client(url: str, tool: str, owner: str = JOURNALIST_USER) -> str:
    """The pg_dump or psql of the server's major version: a newer one may write what the server refuses."""
    psql = next(iter(_installed("psql")), None)
    if psql is None:
        raise PostgresError("psql is not installed. Install it: apt-get install postgresql-client")
    show = [psql, "-X", "-A", "-t", "-c", "show server_version_num"]
    r = _run(url, show, owner, capture_output=True, text=True)
    major = int(r.stdout.strip()) // 10000
    for path in _installed(tool):
        v = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout.split()
        if v and v[-1].split(".")[0] == str(major):
            return path
    raise PostgresError(
        f"No {tool} for PostgreSQL {major} on this machine. "
        f"Install it: apt-get install postgresql-client-{major}"
    )


def dump(url: str, out: Path, owner: str = JOURNALIST_USER) -> Dumped:
    """pg_dump into `out` (plain SQL, no owners or grants), every COPY block sorted; what it holds."""
    raw = out.with_suffix(".unsorted")
    cmd = [client(url, "pg_dump", owner), "--no-owner", "--no-privileges", "--format=plain"]
    cmd += [f"--exclude-table-data={t}" for t in EPHEMERAL]
    try:
        with open(raw, "wb") as f:
            _run(url, cmd, owner, stdout=f, stderr=subprocess.PIPE)
        dumped = Dumped()
        with open(raw, "rb") as src, open(out, "wb") as dst:
            dst.writelines(sort_copy_blocks(src, dumped))
    finally:
        raw.unlink(missing_ok=True)
    return dumped


def _row(columns: list[str], line: bytes) -> dict[str, str]:
    values = line.rstrip(b"\n").decode().split("\t")
    return {c: values[columns.index(c)] for c in columns}


def sort_copy_blocks(lines: Iterator[bytes], dumped: Dumped) -> Iterator[bytes]:
    """The dump's lines, each COPY block's rows in sorted order instead of the heap's."""
    block: list[bytes] | None = None
    table, columns = "", []
    for line in lines:
        if block is None:
            yield line
            if line.startswith(b"COPY ") and line.rstrip().endswith(b"FROM stdin;"):
                block = []
                name, _, cols = line.decode().removeprefix("COPY ").partition(" (")
                table = name.removeprefix("public.").strip('"')
                columns = [c.strip().strip('"') for c in cols.partition(")")[0].split(",")]
        elif line == b"\\.\n":
            block.sort()
            if table in WANTED:
                dumped.rows[table] = [
                    {c: r[c] for c in WANTED[table]} for r in (_row(columns, x) for x in block)
                ]
            yield from block
            yield line
            block = None
        else:
            block.append(line)


def _psql_lines(url: str, sql: str, owner: str = JOURNALIST_USER) -> list[str]:
    cmd = [client(url, "psql", owner), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]
    return _run(url, cmd, owner, capture_output=True, text=True).stdout.split()


def tables(url: str, owner: str = JOURNALIST_USER) -> list[str]:
    return _psql_lines(url, "select tablename from pg_tables where schemaname = 'public' order by 1", owner)


def has_rows(url: str, wanted: tuple[str, ...], owner: str = JOURNALIST_USER) -> list[str]:
    """Which of these tables exist in the database and hold a row."""
    present = [t for t in wanted if t in tables(url, owner)]
    if not present:
        return []
    # The names are the code's own (restore.IN_USE), never input.
    one = "select '{0}' from (select 1 from public.\"{0}\" limit 1) x"
    sql = " union all ".join(one.format(t) for t in present)
    return _psql_lines(url, sql, owner)


def restore(url: str, sql: Path, owner: str = JOURNALIST_USER) -> None:
    """Replace the database's (empty) tables with the dump's, in one transaction: all or nothing."""
    drops = "".join(f'DROP TABLE IF EXISTS public."{t}" CASCADE;\n' for t in tables(url, owner)).encode()
    with open(sql, "rb") as f:
        body = drops + f.read()
    cmd = [client(url, "psql", owner), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"]
    try:
        _run(url, cmd, owner, input=body, capture_output=True)
    except PostgresError as e:
        raise PostgresError(
            f"The backup's database could not be loaded, and nothing of it was kept: {e}"
        ) from None
