"""Export bundles: a tar of envelopes plus a manifest (docs/bundle.md).

The server writes bundles and the offline tool reads them. The reader never
extracts: it only opens members the manifest names, so a hostile tar cannot
write anything anywhere.
"""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Literal

from .errors import TiplineError

MANIFEST_NAME = "manifest.json"
BUNDLE_FORMAT = "tipline-bundle"
BUNDLE_VERSION = 1
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_ENVELOPES_PER_SUBMISSION = 1000
SUBMISSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
HOUR = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:00Z$")


class BundleError(TiplineError):
    """The bundle's tar structure or manifest is not what docs/bundle.md says."""


SealedBy = Literal["browser", "server"]


@dataclass(frozen=True)
class SubmissionEntry:
    id: str
    received_hour: str
    sealed_by: SealedBy
    envelopes: tuple[str, ...]


def envelope_member(submission_id: str, index: int) -> str:
    return f"{submission_id}/{index}.envelope"


def manifest_bytes(entries: list[SubmissionEntry], created_hour: str) -> bytes:
    doc = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "created_hour": created_hour,
        "submissions": [
            {
                "id": e.id,
                "received_hour": e.received_hour,
                "sealed_by": e.sealed_by,
                "envelopes": list(e.envelopes),
            }
            for e in entries
        ],
    }
    return json.dumps(doc, indent=1, sort_keys=True).encode()


def parse_manifest(data: bytes) -> list[SubmissionEntry]:
    """Check a manifest strictly; raise BundleError on anything unexpected."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise BundleError("The bundle's manifest is too large.")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BundleError("The bundle's manifest is not valid JSON.") from None
    if not isinstance(doc, dict) or doc.get("format") != BUNDLE_FORMAT:
        raise BundleError("This is not a Tipline bundle manifest.")
    if doc.get("version") != BUNDLE_VERSION:
        raise BundleError(f"This bundle is version {doc.get('version')!r}; this tool reads version 1.")
    subs = doc.get("submissions")
    if not isinstance(subs, list):
        raise BundleError("The bundle's manifest has no submission list.")
    entries: list[SubmissionEntry] = []
    seen: set[str] = set()
    for s in subs:
        if not isinstance(s, dict):
            raise BundleError("A submission entry in the manifest is not an object.")
        sid, hour, by, envs = s.get("id"), s.get("received_hour"), s.get("sealed_by"), s.get("envelopes")
        if not isinstance(sid, str) or not SUBMISSION_ID.match(sid) or sid in seen:
            raise BundleError("A submission id in the manifest is invalid or repeated.")
        if not isinstance(hour, str) or not HOUR.match(hour) or by not in ("browser", "server"):
            raise BundleError(f"Submission {sid} has an invalid time or sealing mark.")
        if not isinstance(envs, list) or not 1 <= len(envs) <= MAX_ENVELOPES_PER_SUBMISSION:
            raise BundleError(f"Submission {sid} lists no envelopes, or too many.")
        expected = [envelope_member(sid, i) for i in range(len(envs))]
        if envs != expected:
            raise BundleError(f"Submission {sid} lists envelope names that break the bundle rules.")
        seen.add(sid)
        entries.append(SubmissionEntry(sid, hour, by, tuple(envs)))
    return entries


def _member_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = 0  # no precise times leave the server
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _padding(size: int) -> bytes:
    return bytes(-size % tarfile.BLOCKSIZE)


Opener = Callable[[str], tuple[IO[bytes], int]]


def iter_bundle(
    entries: list[SubmissionEntry], created_hour: str, open_member: Opener, block: int = 1 << 20
) -> Iterator[bytes]:
    """Yield a bundle's bytes piece by piece: for streaming it as an HTTP response.

    open_member(name) returns an open file and its size for each listed
    envelope. Memory stays at one block whatever the envelopes' sizes.
    """
    manifest = manifest_bytes(entries, created_hour)
    yield _member_header(MANIFEST_NAME, len(manifest)) + manifest + _padding(len(manifest))
    for entry in entries:
        for member in entry.envelopes:
            f, size = open_member(member)
            with f:
                yield _member_header(member, size)
                left = size
                while left:
                    data = f.read(min(block, left))
                    if not data:
                        raise BundleError(f"{member} shrank while it was being exported.")
                    left -= len(data)
                    yield data
            yield _padding(size)
    yield bytes(2 * tarfile.BLOCKSIZE)  # the tar end-of-archive marker


@dataclass
class BundleReader:
    """Open a bundle file and yield (entry, member name, file object) in order."""

    path: str

    def __post_init__(self) -> None:
        try:
            self._tar = tarfile.open(self.path, mode="r:")  # noqa: SIM115 (closed by close())
        except tarfile.TarError:
            raise BundleError("This file is not a readable tar bundle; it is damaged or truncated.") from None
        try:
            manifest = self._tar.getmember(MANIFEST_NAME)
        except KeyError:
            raise BundleError("The bundle has no manifest.json.") from None
        except tarfile.TarError:
            raise BundleError("The bundle's tar structure is damaged.") from None
        if not manifest.isreg() or manifest.size > MAX_MANIFEST_BYTES:
            raise BundleError("The bundle's manifest is not a plain file of sane size.")
        f = self._tar.extractfile(manifest)
        if f is None:
            raise BundleError("The bundle's manifest cannot be read.")
        self.entries = parse_manifest(f.read())

    def envelope(self, member: str) -> IO[bytes]:
        """The file object of one listed envelope; BundleError if it is missing."""
        try:
            info = self._tar.getmember(member)
        except KeyError:
            raise BundleError(f"The bundle lists {member} but does not contain it.") from None
        f = self._tar.extractfile(info) if info.isreg() else None
        if f is None:
            raise BundleError(f"{member} in the bundle is not a plain file.")
        return f

    def items(self) -> Iterator[tuple[SubmissionEntry, str]]:
        for e in self.entries:
            for m in e.envelopes:
                yield e, m

    def close(self) -> None:
        self._tar.close()


def is_bundle(path: str) -> bool:
    """A cheap test: a tar file (envelopes start with 'TIPLINE', not tar)."""
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False
