"""Decrypt envelopes and bundles into one folder per submission.

Each item goes to a temporary file and is renamed into place only after its
final tag verifies, so a failure leaves no plaintext behind. Nothing is ever
overwritten, and a re-run skips the items it already wrote. Whatever goes
wrong with one item, even an error nobody foresaw, is that item's failure:
the run goes on with the others.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from nacl import bindings

from tipline.format.bundle import BundleError, BundleReader, is_bundle
from tipline.format.durable import fsync_dir
from tipline.format.errors import DecryptionFailed, NoMatchingKey, TiplineError
from tipline.format.header import read_header
from tipline.format.keys import SecretKey
from tipline.format.stream import decrypt, unlock

from .names import safe_name, with_counter

RECORD = "items.json"
PART_PREFIX = ".tipline-"
PART_SUFFIX = ".part"


@dataclass
class Failure:
    """One input or item that could not be decrypted, and why."""

    label: str
    error: Exception

    @property
    def kind(self) -> str:
        """'not_recipient', 'local' (a file-system problem here) or 'damaged'."""
        if isinstance(self.error, NoMatchingKey):
            return "not_recipient"
        if isinstance(self.error, OSError):
            return "local"
        return "damaged"  # a TiplineError, or anything else the input provoked

    @property
    def message(self) -> str:
        e = self.error
        if isinstance(e, TiplineError):
            return str(e)
        if isinstance(e, OSError):
            where = f" ({e.filename})" if e.filename else ""
            return f"Could not write it here: {e.strerror or e}{where}. Fix that and run again."
        return (
            f"Could not be decrypted: it provoked an unexpected {type(e).__name__}. "
            "The other items were not affected; please report this."
        )


@dataclass
class Summary:
    decrypted: int = 0
    skipped: int = 0
    submissions: set[str] = field(default_factory=set)
    failures: list[Failure] = field(default_factory=list)

    def _any(self, kind: str) -> bool:
        return any(f.kind == kind for f in self.failures)

    @property
    def not_recipient(self) -> bool:
        return self._any("not_recipient")

    @property
    def damaged(self) -> bool:
        return self._any("damaged")

    @property
    def local_problem(self) -> bool:
        return self._any("local")


@dataclass(frozen=True)
class Source:
    """One envelope to decrypt, and the submission it belongs to."""

    submission: str
    label: str
    received_hour: str | None
    sealed_by: str | None
    size: int


def _place(tmp: Path, folder: Path, name: str) -> Path:
    """Give tmp its final name in folder without ever replacing a file."""
    n = 1
    while True:
        target = folder / (name if n == 1 else with_counter(name, n))
        try:
            os.link(tmp, target)  # fails if target exists: no clobbering, no race
        except FileExistsError:
            n += 1
            continue
        except OSError:
            # File systems without hard links (FAT on USB sticks): check, then rename.
            if target.exists():
                n += 1
                continue
            os.rename(tmp, target)
            return target
        tmp.unlink()
        return target


class DecryptJob:
    def __init__(
        self,
        out_dir: Path,
        identities: list[SecretKey],
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.out = out_dir
        self.identities = identities
        self.progress = progress
        self.summary = Summary()
        # Each submission folder is opened once per run: swept, and its record read.
        self._folders: dict[str, tuple[Path, dict]] = {}

    # -- inputs -------------------------------------------------------------

    @staticmethod
    def expand(inputs: list[Path]) -> list[Path]:
        """Files to read: each input file, or the files directly in a folder."""
        files: list[Path] = []
        for p in inputs:
            if p.is_dir():
                files += sorted(c for c in p.iterdir() if c.is_file() and not c.name.startswith("."))
            else:
                files.append(p)
        return files

    def run(self, inputs: list[Path]) -> Summary:
        self.out.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._sweep()
        for path in self.expand(inputs):
            try:
                if is_bundle(str(path)):
                    self._run_bundle(path)
                else:
                    sub = safe_name(path.name.removesuffix(".envelope"), "submission")
                    src = Source(sub, path.name, None, None, path.stat().st_size)
                    with open(path, "rb") as f:
                        self._item(src, f)
            except Exception as e:  # one input's failure, whatever it is, never stops the others
                self._fail(path.name, e)
        return self.summary

    def _fail(self, label: str, e: Exception) -> None:
        # Without its traceback, a failure does not keep the failed item's frames alive.
        self.summary.failures.append(Failure(label, e.with_traceback(None)))

    def _sweep(self) -> None:
        """Remove partial plaintext that a killed run left in the output folder.

        Temporary files live only in the output folder and in its submission
        folders, so these two levels are all there is to look at.
        """
        folders = [self.out]
        with os.scandir(self.out) as it:
            folders += [Path(e.path) for e in it if e.is_dir(follow_symlinks=False)]
        for folder in folders:
            with os.scandir(folder) as it:
                for e in it:
                    if (
                        e.name.startswith(PART_PREFIX)
                        and e.name.endswith(PART_SUFFIX)
                        and e.is_file(follow_symlinks=False)
                    ):
                        os.unlink(e.path)

    def _run_bundle(self, path: Path) -> None:
        reader = BundleReader(str(path))
        try:
            seen: dict[str, set[str]] = {}
            for entry, member in reader.items():
                src = Source(entry.id, f"{path.name}:{member}", entry.received_hour, entry.sealed_by, 0)
                try:
                    with reader.envelope(member) as f:
                        self._item(src, f, seen.setdefault(entry.id, set()))
                except Exception as e:  # this item's failure only
                    self._fail(src.label, e)
        finally:
            reader.close()

    # -- one item -------------------------------------------------------------

    def _folder(self, src: Source) -> tuple[Path, dict]:
        if src.submission not in self._folders:
            self._folders[src.submission] = self._open_folder(src)
        return self._folders[src.submission]

    def _open_folder(self, src: Source) -> tuple[Path, dict]:
        folder = self.out / src.submission
        try:
            record = json.loads((folder / RECORD).read_text("utf-8"))
        except FileNotFoundError:
            record = {
                "submission": src.submission,
                "received_hour": src.received_hour,
                "sealed_by": src.sealed_by,
                "items": {},
            }
        except ValueError:
            raise TiplineError(f"{folder / RECORD} is damaged; move it aside and run again.") from None
        return folder, record

    @contextmanager
    def _temp(self, folder: Path) -> Iterator[tuple[Path, IO[bytes]]]:
        tmp = folder / f"{PART_PREFIX}{secrets.token_hex(8)}{PART_SUFFIX}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                yield tmp, f
        finally:
            if tmp.exists():
                tmp.unlink()

    def _item(self, src: Source, f: IO[bytes], seen: set[str] | None = None) -> None:
        header, header_bytes = read_header(f)
        item_id = bindings.crypto_generichash_blake2b_salt_personal(header_bytes, digest_size=16).hex()
        if seen is not None:
            # A copy within one submission of one bundle is the bundle's fault. A
            # copy already in items.json is a re-run's, and is skipped quietly.
            if item_id in seen:
                raise BundleError(
                    f"This envelope is a second copy of one already in submission {src.submission}; "
                    "the copy was ignored."
                )
            seen.add(item_id)
        # An item that is not ours fails here, before it touches the output folder.
        unlock(header, self.identities)
        folder, record = self._folder(src)
        self.summary.submissions.add(src.submission)
        if item_id in record["items"]:
            self.summary.skipped += 1
            if self.progress:
                self.progress(src.size)
            return
        folder.mkdir(mode=0o700, exist_ok=True)
        with self._temp(folder) as (tmp, out):
            meta, length = decrypt(
                f, self.identities, out, progress=self.progress, header=(header, header_bytes)
            )
            out.flush()
            os.fsync(out.fileno())
            if meta.kind == "message":
                dest_dir, name = folder, "message.txt"
            else:
                dest_dir, name = folder / "files", safe_name(meta.name)
                dest_dir.mkdir(mode=0o700, exist_ok=True)
            final = _place(tmp, dest_dir, name)
            fsync_dir(dest_dir)
        record["items"][item_id] = {
            "kind": meta.kind,
            "saved_as": str(final.relative_to(folder)),
            "original_name": meta.name,
            "media_type": meta.media_type,
            "length": length,
        }
        try:
            self._save_record(folder, record)
        except BaseException:
            # Keep the folder and its record in agreement: a re-run decrypts
            # this item again, under the same name.
            del record["items"][item_id]
            final.unlink(missing_ok=True)
            raise
        self.summary.decrypted += 1

    @staticmethod
    def _save_record(folder: Path, record: dict) -> None:
        data = _record_bytes(record)
        tmp = folder / f"{PART_PREFIX}record{PART_SUFFIX}"
        try:
            # The record holds original file names: as private as the files.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, folder / RECORD)
        finally:
            tmp.unlink(missing_ok=True)  # gone already after the replace
        fsync_dir(folder)


def _record_bytes(record: dict) -> bytes:
    """items.json as UTF-8, readable by people; always encodable, whatever the names hold."""
    try:
        return json.dumps(record, indent=1, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        # Text with no UTF-8 form (a lone surrogate): \u escapes keep it exact and valid.
        return json.dumps(record, indent=1, ensure_ascii=True).encode("ascii")


__all__ = ["DecryptJob", "DecryptionFailed", "Summary"]
