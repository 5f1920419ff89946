"""Make a rename or a new file durable: fsync the folder that holds it.

Shared by the server's store and the offline tool, which both promise that
what they report as written survives a power cut.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
