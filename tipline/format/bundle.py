"""Export bundles: a tar of envelopes plus a manifest (docs/bundle.md).

The server writes bundles and the offline tool reads them. The reader never
extracts: it only opens members the manifest names, so a hostile tar cannot
write anything anywhere. It reads the tar with tipline.format.ustar, never
with tarfile, which accepts far more than a bundle holds (compression, sparse
files, unbounded pax headers).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Literal

from .errors import TiplineError
from .ustar import BLOCK, Member, MemberFile, TarError, TarReader, compression, is_header, member_header

MANIFEST_NAME = "manifest.json"
BUNDLE_FORMAT = "tipline-bundle"
BUNDLE_VERSION = 1
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_ENVELOPES_PER_SUBMISSION = 1000
SUBMISSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
HOUR = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:00Z$")
MAX_NUMBER_CHARS = 9  # the only number in a manifest is its version


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


def _small_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise BundleError("The bundle's manifest holds a number far too large to be valid.")
    return int(text)


def _no_float(text: str) -> float:
    raise BundleError("The bundle's manifest holds a number that is not a whole number.")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        raise BundleError("The bundle's manifest repeats a key.")
    return doc


def parse_manifest(data: bytes) -> list[SubmissionEntry]:
    """Check a manifest strictly; raise BundleError on anything unexpected."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise BundleError("The bundle's manifest is too large.")
    try:
        doc = json.loads(
            data.decode("utf-8"),
            parse_int=_small_int,
            parse_float=_no_float,
            parse_constant=_no_float,
            object_pairs_hook=_unique_keys,
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BundleError("The bundle's manifest is not valid JSON.") from None
    if not isinstance(doc, dict) or doc.get("format") != BUNDLE_FORMAT:
        raise BundleError("This is not a Tipline bundle manifest.")
    version = doc.get("version")
    # bool is a subclass of int in Python: `true` must not pass for 1.
    if type(version) is not int or version != BUNDLE_VERSION:
        shown = version if type(version) is int else "unknown"
        raise BundleError(f"This bundle is version {shown}; this tool reads version 1.")
    created = doc.get("created_hour")
    if not isinstance(created, str) or not HOUR.match(created):
        raise BundleError("The bundle's manifest has an invalid creation time.")
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


def _padding(size: int) -> bytes:
    return bytes(-size % BLOCK)


Opener = Callable[[str], tuple[IO[bytes], int]]


def iter_bundle(
    entries: list[SubmissionEntry], created_hour: str, open_member: Opener, block: int = 1 << 20
) -> Iterator[bytes]:
    """Yield a bundle's bytes piece by piece: for streaming it as an HTTP response.

    open_member(name) returns an open file and its size for each listed
    envelope. Memory stays at one block whatever the envelopes' sizes.
    """
    manifest = manifest_bytes(entries, created_hour)
    yield member_header(MANIFEST_NAME, len(manifest)) + manifest + _padding(len(manifest))
    for entry in entries:
        for member in entry.envelopes:
            f, size = open_member(member)
            with f:
                yield member_header(member, size)
                left = size
                while left:
                    data = f.read(min(block, left))
                    if not data:
                        raise BundleError(f"{member} shrank while it was being exported.")
                    left -= len(data)
                    yield data
            yield _padding(size)
    yield bytes(2 * BLOCK)  # the tar end-of-archive marker


class BundleReader:
    """Open a bundle file: its manifest, then each listed envelope on request.

    The tar's headers are read once, up front, keeping only the members the
    manifest lists. manifest.json MUST be the first member. If the tar is cut
    short or breaks the rules part-way, the members before that point are
    still readable, and each later one fails on its own.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._f = open(path, "rb")  # noqa: SIM115 (closed by close())
        try:
            self._index()
        except BaseException:
            self._f.close()
            raise

    def _index(self) -> None:
        tar = TarReader(self._f)
        members = tar.members()
        try:
            first = next(members, None)
        except TarError as e:
            raise BundleError(str(e)) from None
        if first is None or first.name != MANIFEST_NAME:
            raise BundleError("The bundle does not start with manifest.json; it is damaged or not a bundle.")
        if first.size > MAX_MANIFEST_BYTES:
            raise BundleError("The bundle's manifest is too large.")
        data = MemberFile(self._f, first).read()
        if len(data) != first.size:
            raise BundleError("The bundle is truncated inside its manifest.")
        self.entries = parse_manifest(data)
        listed = {m for e in self.entries for m in e.envelopes}
        self._members: dict[str, Member | None] = {}  # None: the name appears twice
        self._stopped: str | None = None
        try:
            for m in members:
                if m.name in listed:
                    self._members[m.name] = None if m.name in self._members else m
        except TarError as e:
            self._stopped = str(e)
        if tar.truncated:
            self._stopped = "The bundle is truncated."

    def envelope(self, member: str) -> MemberFile:
        """The file object of one listed envelope; BundleError if it is missing."""
        if member not in self._members:
            why = f" {self._stopped}" if self._stopped else ""
            raise BundleError(f"The bundle lists {member} but does not contain it.{why}")
        info = self._members[member]
        if info is None:
            raise BundleError(f"{member} appears twice in the bundle; neither copy was used.")
        return MemberFile(self._f, info)

    def items(self) -> Iterator[tuple[SubmissionEntry, str]]:
        for e in self.entries:
            for m in e.envelopes:
                yield e, m

    def close(self) -> None:
        self._f.close()


def is_bundle(path: str) -> bool:
    """A cheap test on the first block: a tar, or a compressed file (refused when read).

    Envelopes start with 'TIPLINE', never with a tar header or compression magic.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(BLOCK)
    except OSError:
        return False
    return compression(head) is not None or is_header(head)
