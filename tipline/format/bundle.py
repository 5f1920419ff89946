"""Export bundles: a tar of envelopes plus a manifest (docs/bundle.md).

The server writes bundles and the offline tool reads them. The reader never
extracts: it only opens members the manifest names, so a hostile tar cannot
write anything anywhere. It reads the tar with tipline.format.ustar, never
with tarfile, which accepts far more than a bundle holds (compression, sparse
files, unbounded pax headers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import IO

from .manifest import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    MAX_ENVELOPES_PER_SUBMISSION,
    MAX_MANIFEST_BYTES,
    BundleError,
    ConversationEntry,
    Manifest,
    ReplyEntry,
    SealedBy,
    SubmissionEntry,
    envelope_member,
    manifest_bytes,
    parse_manifest,
    read_manifest,
    reply_member,
)
from .ustar import BLOCK, Member, MemberFile, TarError, TarReader, compression, is_header, member_header

MANIFEST_NAME = "manifest.json"


def _padding(size: int) -> bytes:
    return bytes(-size % BLOCK)


Opener = Callable[[str], tuple[IO[bytes], int]]


def iter_bundle(
    entries: list[SubmissionEntry],
    created_hour: str,
    open_member: Opener,
    block: int = 1 << 20,
    *,
    conversations: Sequence[ConversationEntry] = (),
    newsroom_keys: Sequence[bytes] = (),
) -> Iterator[bytes]:
    """Yield a bundle's bytes (version 2) piece by piece: for streaming it as an HTTP response.

    open_member(name) returns an open file and its size for each listed
    envelope, replies' included. Memory stays at one block whatever the
    envelopes' sizes.
    """
    manifest = manifest_bytes(entries, created_hour, tuple(conversations), tuple(newsroom_keys))
    try:
        read_manifest(manifest)  # never write what a reader would refuse: say so now, not offline
    except BundleError as e:
        raise BundleError(f"This export would not be readable ({e}) Nothing was exported.") from None
    yield member_header(MANIFEST_NAME, len(manifest)) + manifest + _padding(len(manifest))
    names = Manifest(BUNDLE_VERSION, created_hour, tuple(entries), tuple(conversations)).members()
    for member in names:
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
        self.manifest = read_manifest(data)
        self.entries = list(self.manifest.submissions)
        listed = set(self.manifest.members())
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

    def items(self) -> Iterator[tuple[SubmissionEntry | ReplyEntry, str]]:
        """Every listed envelope with its entry: the submissions', then the replies'."""
        for e in self.entries:
            for m in e.envelopes:
                yield e, m
        for c in self.manifest.conversations:
            for r in c.replies:
                if r.envelope:
                    yield r, r.envelope

    def close(self) -> None:
        self._f.close()


__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "MAX_ENVELOPES_PER_SUBMISSION",
    "MAX_MANIFEST_BYTES",
    "BundleError",
    "BundleReader",
    "ConversationEntry",
    "Manifest",
    "ReplyEntry",
    "SealedBy",
    "SubmissionEntry",
    "envelope_member",
    "is_bundle",
    "iter_bundle",
    "manifest_bytes",
    "parse_manifest",
    "read_manifest",
    "reply_member",
]


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
