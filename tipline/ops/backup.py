"""`tipline backup`: one consistent copy of a serving tip line, in one file (docs/backup.md).

The databases are copied first, each in one snapshot (SQLite's online backup
API; pg_dump, which reads one snapshot), then exactly the envelope files whose
rows that snapshot holds. A tip that arrives meanwhile is not in this backup
(the next one has it); one deleted meanwhile makes the whole copy start again,
so a row never comes without its envelopes. Nothing of a source is finer than
the hour: members in sorted order with the epoch as their time, SQLite copies
rewritten in key order by VACUUM, PostgreSQL rows sorted.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from tipline import __version__
from tipline.config import Settings
from tipline.format.durable import fsync_dir
from tipline.format.keys import SECRET_MAGIC, SECRET_PREFIX
from tipline.store.filetimes import open_quietly, to_the_hour, walk
from tipline.store.schema import VERSION_TABLES
from tipline.store.submissions import current_hour

from . import pgdump
from .backup_format import CHUNK, Manifest, Sealer, TarWriter
from .doctor_layout import JOURNALIST_USER

ATTEMPTS = 5
# The data folder's own files that a backup carries (the rest are made afresh: docs/backup.md).
KEPT = ("tipline.toml", "source/install.salt", "journalist/totp.key", "journalist/notify-state.json")


class BackupError(Exception):
    """The backup cannot be made; the message says why and what to do. Nothing was written."""


@dataclass
class Snapshot:
    """The two databases' copies (files in a private work folder) and what they hold."""

    kinds: dict[str, str]  # each database's: "sqlite" or "postgresql"
    copies: dict[str, Path]
    schema: dict[str, str | None]
    submissions: list[tuple[str, int]]  # (id, envelopes) of every row
    replies: list[str]  # ids of the replies whose file is kept (not deleted by the source)


def sqlite_file(url: str) -> Path | None:
    u = make_url(url)
    return Path(u.database) if u.get_backend_name() == "sqlite" and u.database else None


def copy_sqlite(live: Path, dest: Path, which: str) -> str | None:
    """Online backup of `live` into memory, sessions dropped, then VACUUM INTO `dest`: in key order.

    Returns the Alembic revision it holds (None if it has no version table: from before migrations)."""
    src = sqlite3.connect(f"file:{live}?mode=ro", uri=True, timeout=30)
    mem = sqlite3.connect(":memory:")
    try:
        src.backup(mem)
    finally:
        src.close()
    try:
        tables = {r[0] for r in mem.execute("select name from sqlite_schema where type = 'table'")}
        for t in pgdump.EPHEMERAL:
            if t in tables:
                mem.execute(f'delete from "{t}"')  # noqa: S608 (the code's own table names)
        mem.commit()
        version = VERSION_TABLES[which]
        query = f'select version_num from "{version}"'  # noqa: S608 (tipline/store/schema.py's name)
        revision = mem.execute(query).fetchone() if version in tables else None
        mem.execute("VACUUM INTO ?", (str(dest),))
        return revision[0] if revision else None
    finally:
        mem.close()


def _ids(con: sqlite3.Connection) -> tuple[list[tuple[str, int]], list[str]]:
    tables = {r[0] for r in con.execute("select name from sqlite_schema where type = 'table'")}
    subs = list(con.execute("select id, item_count from submissions")) if "submissions" in tables else []
    replies = (
        [r[0] for r in con.execute("select id from replies where deleted_by_source = 0")]
        if "replies" in tables
        else []
    )
    return sorted(subs), sorted(replies)


def _snapshot(settings: Settings, work: Path, owner: str) -> Snapshot:
    """Copy each database (SQLite or PostgreSQL, each as the settings say) and read what it holds."""
    snap = Snapshot({}, {}, {}, [], [])
    for name, url in (("submissions", settings.db_url), ("accounts", settings.accounts_db_url)):
        live = sqlite_file(url)
        if live is not None and not live.exists():
            continue  # nothing served (or no journalist enrolled) yet: nothing to copy
        if live is not None:
            snap.kinds[name], copy = "sqlite", work / f"{name}.sqlite3"
            copy.unlink(missing_ok=True)
            snap.schema[name] = copy_sqlite(live, copy, name)
            with contextlib.suppress(OSError):  # root reads without O_NOATIME on a file it does not own
                to_the_hour([live, live.parent])
            if name == "submissions":
                con = sqlite3.connect(copy)
                try:
                    snap.submissions, snap.replies = _ids(con)
                finally:
                    con.close()
        else:
            snap.kinds[name], copy = "postgresql", work / f"{name}.sql"
            dumped = pgdump.dump(url, copy, owner)
            snap.schema[name] = dumped.revision(name)
            if name == "submissions":
                rows = dumped.rows
                snap.submissions = sorted(
                    (r["id"], int(r["item_count"])) for r in rows.get("submissions", [])
                )
                snap.replies = sorted(
                    r["id"] for r in rows.get("replies", []) if r["deleted_by_source"] == "f"
                )
        snap.copies[name] = copy
    return snap


def check_no_private_keys(settings: Settings) -> None:
    """The server never holds a private key; a backup refuses to carry one that someone put there."""
    keys = walk(settings.keys_dir) if settings.keys_dir.is_dir() else []
    for path in [*keys, settings.data_dir / "tipline.toml"]:
        if path.is_dir() or not path.exists():
            continue
        head = path.read_bytes()
        if (path.suffix == ".key" or SECRET_PREFIX.encode() in head or SECRET_MAGIC in head) or (
            path.parent.name in ("keys", "retired") and path.suffix != ".pub"
        ):
            raise BackupError(
                f"{path} is not a public key file (or holds a private key): the server must never hold a "
                "private key. Move it off this machine, then run the backup again."
            )


def _members(settings: Settings, snap: Snapshot) -> list[tuple[str, Path]]:
    """(member name, path) of every file the backup carries, sorted by name."""
    data = settings.data_dir
    out = [(f"data/{rel}", data / rel) for rel in KEPT if (data / rel).is_file()]
    for folder in (settings.keys_dir, settings.keys_dir / "retired"):
        if folder.is_dir():
            out += [(f"data/{p.relative_to(data)}", p) for p in folder.iterdir() if p.suffix == ".pub"]
    # Exactly the files each row names (as the export reads them): one deleted since the snapshot
    # fails to open, and the copy starts again.
    names = [f"submissions/{sid}/{n}.envelope" for sid, count in snap.submissions for n in range(count)]
    names += [f"replies/{rid}/reply.envelope" for rid in snap.replies]
    out += [(f"data/store/{name}", settings.store_dir / name) for name in names]
    out += [(f"db/{name}{path.suffix}", path) for name, path in snap.copies.items()]
    return sorted(out)


def _chunks(f) -> Iterator[bytes]:
    while chunk := f.read(CHUNK):
        yield chunk


def _write_tar(f, settings: Settings, snap: Snapshot) -> int:
    writer = TarWriter(f)
    for name, path in _members(settings, snap):
        with os.fdopen(open_quietly(path), "rb") as src:
            writer.add(name, _chunks(src), os.fstat(src.fileno()).st_size)
    writer.finish(Manifest(__version__, snap.kinds, snap.schema, current_hour()[0], writer.members))
    return len(snap.submissions)


def take_backup(
    settings: Settings,
    out: Path,
    passphrase: bytes | None = None,
    owner: str = JOURNALIST_USER,
    after_snapshot: Callable[[Snapshot], None] | None = None,
) -> tuple[int, int]:
    """Write the backup to `out` (0600, atomically, fsynced): returns (submissions, replies) it holds.

    `owner`: the databases' owner, whom pg_dump runs as when root backs up PostgreSQL (pgdump.py).
    `after_snapshot` is called with each attempt's snapshot, after the databases are copied and
    before any envelope is: the one moment a deletion makes the copy start again. The tests use it
    to delete a tip there, for real; the command passes nothing."""
    if not settings.data_dir.is_dir():
        raise BackupError(f"There is no data folder {settings.data_dir}: check --data-dir.")
    check_no_private_keys(settings)
    out = out.resolve()
    if not out.parent.is_dir():
        raise BackupError(f"The folder {out.parent} does not exist; make it first.")
    if out.is_relative_to(settings.data_dir):
        raise BackupError("Write the backup outside the data folder: a backup inside it would hold itself.")
    # The database copies stay on the data folder's own disk (where the same rows already are),
    # in a private folder; only the finished file, sealed if asked, goes to the backup's folder.
    with (
        tempfile.TemporaryDirectory(dir=settings.data_dir, prefix=".backup-") as copies,
        tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp,
    ):
        work = Path(tmp)
        for _attempt in range(ATTEMPTS):
            snap = _snapshot(settings, Path(copies), owner)
            if after_snapshot is not None:
                after_snapshot(snap)
            try:
                with _private(work / "out") as f:
                    sealer = Sealer(f, passphrase) if passphrase is not None else None
                    _write_tar(sealer or f, settings, snap)
                    if sealer is not None:
                        sealer.finish()
                break
            except FileNotFoundError:
                continue  # a tip or reply was deleted after the snapshot: copy again
        else:
            raise BackupError(
                f"Tips or replies were deleted while each of {ATTEMPTS} attempts copied them, so no "
                "backup was written. Run it again when fewer are being deleted."
            )
        os.replace(work / "out", out)
    fsync_dir(out.parent)
    with contextlib.suppress(OSError):
        to_the_hour([settings.data_dir])  # its mtime moved with the private folder's coming and going
    return len(snap.submissions), len(snap.replies)


class _private:
    """A new 0600 file, fsynced when closed without error."""

    def __init__(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self.f = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600), "wb")

    def __enter__(self):
        return self.f

    def __exit__(self, exc_type, *_exc) -> None:
        try:
            if exc_type is None:
                self.f.flush()
                os.fsync(self.f.fileno())
        finally:
            self.f.close()
