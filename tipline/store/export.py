"""Write export bundles (docs/bundle.md) from stored submissions."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from tipline.format.bundle import BundleWriter, SubmissionEntry, envelope_member

from .submissions import SubmissionInfo, SubmissionStore, current_hour


def write_bundle(store: SubmissionStore, subs: Iterable[SubmissionInfo], out: BinaryIO) -> int:
    """Stream a bundle of these submissions to out. Returns the number of envelopes."""
    subs = list(subs)
    entries = [
        SubmissionEntry(
            s.id,
            s.received_hour,
            s.sealed_by,  # type: ignore[arg-type]
            tuple(envelope_member(s.id, i) for i in range(s.item_count)),
        )
        for s in subs
    ]
    writer = BundleWriter(out, entries, current_hour()[0])
    count = 0
    for s in subs:
        for i, path in enumerate(store.envelope_paths(s.id)):
            with open(path, "rb") as f:
                writer.add_envelope(envelope_member(s.id, i), f, os.fstat(f.fileno()).st_size)
            count += 1
    writer.close()
    return count


def export_to_file(store: SubmissionStore, path: Path, since: str | None = None) -> tuple[int, int]:
    """Write a bundle file (never overwriting). Returns (submissions, envelopes)."""
    subs = [s for s in store.list() if since is None or s.received_hour >= since]
    tmp = path.with_name(f".{path.name}.part")
    try:
        with open(tmp, "xb") as f:
            n = write_bundle(store, subs, f)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(subs), n
