"""`tipline restore`: a backup back onto a fresh install, or nothing at all (docs/backup.md).

Every check comes before the first write: the file whole and untouched (each
member's digest), a format, Tipline version and schema this code knows, the
same kind of database as the target's settings, and a target without a tip,
conversation, reply or journalist (restoring over one would lose what it
holds). Then the files are unpacked into a private folder inside the data
folder and renamed into place, databases last, owners and modes as
docs/install.md's table has them when run as root.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tipline import __version__
from tipline.config import Settings
from tipline.format.durable import fsync_dir
from tipline.format.ustar import MemberFile
from tipline.store import schema
from tipline.store.filetimes import to_the_hour, walk
from tipline.store.schema import VERSION_TABLES

from . import pgdump
from .backup import sqlite_file
from .backup_format import CHUNK, BackupFormatError, Manifest, read_backup, unseal
from .doctor_layout import GROUP, JOURNALIST_USER, SOURCE_USER
from .restore_layout import apply_layout

# Rows that make an install "in use": restoring over them would lose them.
IN_USE = {"submissions": ("submissions", "conversations", "replies"), "accounts": ("journalists",)}


class RestoreError(Exception):
    """The backup cannot be restored here; the message says why and what to do. Nothing was changed."""


def _version(v: str) -> tuple[int, ...]:
    parts = []
    for p in v.split("."):
        digits = "".join(c for c in p if c.isdigit()) or "0"
        parts.append(int(digits))
        if not p.isdigit():
            break
    return tuple(parts)


def check_compatible(manifest: Manifest, settings: Settings) -> None:
    if _version(manifest.tipline) > _version(__version__):
        raise RestoreError(
            f"This backup was made by Tipline {manifest.tipline}, newer than this one ({__version__}). "
            "Install that version (or later) first, then restore."
        )
    for name, rev in manifest.schema.items():
        if name not in VERSION_TABLES or (rev is not None and rev not in schema.known_revisions(name)):
            raise RestoreError(
                f"This backup's {name} database has schema revision {rev}, which this Tipline "
                f"({__version__}) does not know: it is newer. Upgrade Tipline first, then restore."
            )
    for name, url in (("submissions", settings.db_url), ("accounts", settings.accounts_db_url)):
        have = "sqlite" if sqlite_file(url) is not None else "postgresql"
        want = manifest.databases.get(name)
        if want is not None and want != have:
            raise RestoreError(
                f"This backup's {name} database is {want}, and this install's settings use {have}. "
                "Set database_url / accounts_database_url in tipline.toml to match, then restore."
            )


def _in_use(settings: Settings, owner: str) -> list[str]:
    found = []
    for name, url in (("submissions", settings.db_url), ("accounts", settings.accounts_db_url)):
        live = sqlite_file(url)
        if live is None:
            found += pgdump.has_rows(url, IN_USE[name], owner)
        elif live.exists():
            con = sqlite3.connect(f"file:{live}?mode=ro", uri=True, timeout=30)
            try:
                present = {r[0] for r in con.execute("select name from sqlite_schema where type = 'table'")}
                found += [
                    t
                    for t in IN_USE[name]
                    if t in present and con.execute(f'select 1 from "{t}"').fetchone()  # noqa: S608
                ]
            finally:
                con.close()
    return found


@contextlib.contextmanager
def _opened(path: Path, passphrase: bytes | None, stage: Path) -> Iterator[BinaryIO]:
    """The backup's tar, unsealed into the private stage folder first if it is sealed."""
    with open(path, "rb") as f:
        if passphrase is None:
            yield f
            return
        plain = stage / "backup.tar"
        with open(plain, "w+b") as out:
            unseal(f, out, passphrase)
            out.seek(0)
            yield out


def _extract(f: BinaryIO, members: dict, stage: Path) -> list[Path]:
    out = []
    for name, member in members.items():
        dest = stage / name
        dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        digest, src = hashlib.sha256(), MemberFile(f, member)
        with open(dest, "xb") as g:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                g.write(chunk)
            g.flush()
            os.fsync(g.fileno())
        out.append(dest)
    return out


def _place(staged: Path, dest: Path) -> Path | None:
    """Rename one staged file into the data folder; an identical file there is left alone."""
    if dest.exists() and dest.read_bytes() == staged.read_bytes():
        return None
    if dest.name == "tipline.toml" and dest.exists():
        dest = dest.with_name("tipline.toml.restored")  # this install's own settings stay in force
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.replace(staged, dest)
    return dest


def restore_backup(
    settings: Settings,
    path: Path,
    passphrase: bytes | None = None,
    people: tuple[str, str, str] = (SOURCE_USER, JOURNALIST_USER, GROUP),
) -> tuple[int, list[str]]:
    """Restore `path` into the install `settings` describes: (envelopes restored, notes for the admin)."""
    data = settings.data_dir
    if not data.is_dir():
        raise RestoreError(
            f"There is no data folder {data}: make it (docs/install.md, step 4), then restore."
        )
    try:
        path.open("rb").close()
    except OSError as e:
        raise RestoreError(f"Cannot read {path} ({e.strerror}).") from None
    stage = Path(tempfile.mkdtemp(dir=data, prefix=".restore-"))
    try:
        with _opened(path, passphrase, stage) as f:
            manifest, members = read_backup(f)
            check_compatible(manifest, settings)
            busy = _in_use(settings, people[1])  # PostgreSQL: read as the databases' owner
            if busy:
                raise RestoreError(
                    f"This install already holds data ({', '.join(busy)}): restoring would lose it. "
                    "Restore onto a fresh install, or move this data folder aside first."
                )
            _extract(f, members, stage)
        return _apply(settings, stage, manifest, people)
    except BackupFormatError as e:
        raise RestoreError(str(e)) from None
    except pgdump.PostgresError as e:
        raise RestoreError(str(e)) from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        to_the_hour([data])


def _apply(
    settings: Settings, stage: Path, manifest: Manifest, people: tuple[str, str, str]
) -> tuple[int, list[str]]:
    data, notes, written = settings.data_dir, [], []
    urls = {"submissions": settings.db_url, "accounts": settings.accounts_db_url}
    for name, kind in manifest.databases.items():  # PostgreSQL first: all or nothing, before any file
        if kind == "postgresql":
            pgdump.restore(urls[name], stage / "db" / f"{name}.sql", people[1])
            notes.append(
                f"PostgreSQL: grant the source app's role its rights on the {name} database again "
                "(docs/install.md, the GRANT lines)."
            )
    for name, rev in manifest.schema.items():
        if rev != schema.head_revision(name):
            notes.append(
                f"The {name} database is at an older schema ({rev or 'from before migrations'}): run "
                f"tipline upgrade --data-dir {data} before starting the apps."
            )
    envelopes = 0
    for staged in sorted(p for p in walk(stage / "data") if p.is_file()):
        dest = _place(staged, data / staged.relative_to(stage / "data"))
        if dest is not None:
            written.append(dest)
            envelopes += dest.suffix == ".envelope"
            if dest.name == "tipline.toml.restored":
                notes.append(
                    f"This install's tipline.toml was kept; the backup's is in {dest}: compare them."
                )
    for name, kind in manifest.databases.items():
        live = sqlite_file(urls[name])
        if kind == "sqlite" and live is not None:
            live.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            for companion in ("-journal", "-wal", "-shm"):  # the old file's, never the copy's
                Path(f"{live}{companion}").unlink(missing_ok=True)
            os.replace(stage / "db" / f"{name}.sqlite3", live)
            written.append(live)
    for folder in sorted({p.parent for p in written}, reverse=True):
        fsync_dir(folder)
    if os.geteuid() == 0:
        notes += apply_layout(settings, *people)
    to_the_hour([p for p in walk(data) if ".restore-" not in str(p)])
    return envelopes, notes
