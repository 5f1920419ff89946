"""Writing output files without ever losing or clobbering one: shared by decrypt, its records and reply."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tipline.format.durable import fsync_dir

from .names import with_counter

PART_PREFIX = ".tipline-"
PART_SUFFIX = ".part"


def place(tmp: Path, folder: Path, name: str) -> Path:
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


def replace_file(folder: Path, name: str, data: bytes, tag: str) -> None:
    """Replace a derived file (a record, thread.txt) atomically: a reader sees the old one or the new one.

    The temporary file is `.tipline-<tag>.part`, which the start of every
    decrypt run sweeps away if a kill left it behind.
    """
    tmp = folder / f"{PART_PREFIX}{tag}{PART_SUFFIX}"
    try:
        # Records hold original file names, thread.txt the messages: as private as the files.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, folder / name)
    finally:
        tmp.unlink(missing_ok=True)  # gone already after the replace
    fsync_dir(folder)


def json_bytes(doc: object) -> bytes:
    """JSON as UTF-8, readable by people; always encodable, whatever the names hold."""
    try:
        return json.dumps(doc, indent=1, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        # Text with no UTF-8 form (a lone surrogate): \u escapes keep it exact and valid.
        return json.dumps(doc, indent=1, ensure_ascii=True).encode("ascii")
