"""Export bundles (docs/bundle.md) of stored submissions: to a file, or as a stream."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from tipline.format.bundle import SubmissionEntry, envelope_member, iter_bundle

from .filetimes import open_quietly
from .submissions import SubmissionInfo, SubmissionStore, current_hour


def iter_export(store: SubmissionStore, subs: Iterable[SubmissionInfo]) -> Iterator[bytes]:
    """The bytes of a bundle of these submissions, piece by piece."""
    entries = [
        SubmissionEntry(
            s.id,
            s.received_hour,
            s.sealed_by,  # type: ignore[arg-type]
            tuple(envelope_member(s.id, i) for i in range(s.item_count)),
        )
        for s in subs
    ]

    def open_member(member: str) -> tuple[IO[bytes], int]:
        sid, name = member.split("/")
        f = os.fdopen(open_quietly(store.done / sid / name), "rb")  # iter_bundle closes it; no atime
        return f, os.fstat(f.fileno()).st_size

    return iter_bundle(entries, current_hour()[0], open_member)


def export_to_file(store: SubmissionStore, path: Path, since: str | None = None) -> tuple[int, int]:
    """Write a bundle file (never overwriting). Returns (submissions, envelopes)."""
    subs = [s for s in store.list() if since is None or s.received_hour >= since]
    tmp = path.with_name(f".{path.name}.part")
    try:
        with open(tmp, "xb") as f:
            for piece in iter_export(store, subs):
                f.write(piece)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(subs), sum(s.item_count for s in subs)
