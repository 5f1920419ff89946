"""Decrypt envelopes and bundles into one folder per submission, and one per conversation.

Each item goes to a temporary file and is renamed into place only after its
final tag verifies, so a failure leaves no plaintext behind. Nothing is ever
overwritten, and a re-run skips the items it already wrote. Whatever goes
wrong with one item, even an error nobody foresaw, is that item's failure:
the run goes on with the others. A conversation's folder holds a folder per
submission and per reply, its conversation.json and its thread.txt
(conversation.py, thread.py).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from nacl import bindings

from tipline.format.bundle import BundleError, BundleReader, Manifest, ReplyEntry, SubmissionEntry, is_bundle
from tipline.format.durable import fsync_dir
from tipline.format.errors import DecryptionFailed, TiplineError
from tipline.format.header import read_header
from tipline.format.keys import SecretKey
from tipline.format.stream import decrypt, unlock

from . import conversation, thread
from .files import PART_PREFIX, PART_SUFFIX, json_bytes, place, replace_file
from .names import safe_name
from .summary import Failure, Summary

RECORD = "items.json"


@dataclass(frozen=True)
class Source:
    """One envelope to decrypt, and the submission or reply it belongs to."""

    folder: str  # under the output folder: "<submission id>" or "conversation-<id>/<item folder>"
    label: str
    head: tuple[tuple[str, object], ...]  # the fields of a new items.json, before "items"
    size: int = 0
    reply: str | None = None  # the reply's id, for a reply


def _loose(folder: str, label: str, size: int) -> Source:
    return Source(folder, label, (("submission", folder), ("received_hour", None), ("sealed_by", None)), size)


def _source(label: str, entry: SubmissionEntry | ReplyEntry, cid: str | None) -> Source:
    """Where one bundle item goes: its submission's folder, or its own folder in its conversation's."""
    if isinstance(entry, ReplyEntry):
        if cid is None:  # cannot happen: the manifest lists every reply under its conversation
            raise BundleError(f"Reply {entry.id} belongs to no conversation.")
        head = (("reply", entry.id), ("conversation", cid), ("hour", entry.hour))
        head += (("journalist", entry.journalist), ("sealed_by", entry.sealed_by))
        item = conversation.item_folder("reply", entry.id, entry.hour)
        return Source(f"{conversation.folder_name(cid)}/{item}", label, head, reply=entry.id)
    head = (("submission", entry.id), ("received_hour", entry.received_hour), ("sealed_by", entry.sealed_by))
    if cid is None:
        return Source(entry.id, label, head)
    item = conversation.item_folder("submission", entry.id, entry.received_hour)
    return Source(f"{conversation.folder_name(cid)}/{item}", label, (*head, ("conversation", cid)))


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
        # Each submission or reply folder is opened once per run, and its record read.
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
                    src = _loose(sub, path.name, path.stat().st_size)
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

        Temporary files live only in the output folder, its submission and
        conversation folders, and the item folders of a conversation, so these
        are all there is to look at.
        """

        def subfolders(folder: Path) -> list[Path]:
            with os.scandir(folder) as it:
                return [Path(e.path) for e in it if e.is_dir(follow_symlinks=False)]

        top = subfolders(self.out)
        folders = [self.out, *top]
        for f in top:
            if f.name.startswith(conversation.FOLDER_PREFIX):
                folders += subfolders(f)
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
            m = reader.manifest
            records = self._conversations(path.name, m)
            of_reply = {r.id: c.id for c in m.conversations for r in c.replies}
            seen: dict[str, set[str]] = {}
            for entry, member in reader.items():
                cid = of_reply.get(entry.id) if isinstance(entry, ReplyEntry) else entry.conversation
                if cid is not None and cid not in records:
                    continue  # its conversation failed, and said so once
                src = _source(f"{path.name}:{member}", entry, cid)
                try:
                    with reader.envelope(member) as f:
                        self._item(src, f, seen.setdefault(src.folder, set()))
                except Exception as e:  # this item's failure only
                    self._fail(src.label, e)
            for cid, record in records.items():
                try:
                    thread.write(self.out / conversation.folder_name(cid), record)
                except Exception as e:
                    self._fail(f"{path.name}:conversation {cid}", e)
        finally:
            reader.close()

    def _conversations(self, label: str, m: Manifest) -> dict[str, dict]:
        """Make or update each conversation's folder and record; those that fail are reported and left out."""
        records: dict[str, dict] = {}
        subs: dict[str | None, list[SubmissionEntry]] = {}
        for s in m.submissions:
            subs.setdefault(s.conversation, []).append(s)
        for c in m.conversations:
            folder = self.out / conversation.folder_name(c.id)
            try:
                old = conversation.load(folder)
                readers = tuple(k.public_key.raw for k in self.identities)
                record = conversation.merge(old, c, subs[c.id], m.created_hour, m.newsroom_keys, readers)
                folder.mkdir(mode=0o700, exist_ok=True)
                conversation.save(folder, record)
            except Exception as e:  # this conversation's failure only
                self._fail(f"{label}:conversation {c.id}", e)
                continue
            records[c.id] = record
        return records

    # -- one item -------------------------------------------------------------

    def _folder(self, src: Source) -> tuple[Path, dict]:
        if src.folder not in self._folders:
            self._folders[src.folder] = self._open_folder(src)
        return self._folders[src.folder]

    def _open_folder(self, src: Source) -> tuple[Path, dict]:
        folder = self.out / src.folder
        try:
            record = json.loads((folder / RECORD).read_text("utf-8"))
        except FileNotFoundError:
            record = {**dict(src.head), "items": {}}
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
                    f"This envelope is a second copy of one already in {src.folder}; the copy was ignored."
                )
            seen.add(item_id)
        # An item that is not ours fails here, before it touches the output folder.
        unlock(header, self.identities)
        folder, record = self._folder(src)
        if src.reply:
            self.summary.replies.add(src.reply)
        else:
            self.summary.submissions.add(dict(src.head)["submission"])  # type: ignore[arg-type]
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
            final = place(tmp, dest_dir, name)
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
        replace_file(folder, RECORD, json_bytes(record), "record")


__all__ = ["DecryptJob", "DecryptionFailed", "Summary"]
