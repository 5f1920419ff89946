"""Static files with Subresource Integrity, computed once when the app starts."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

STATIC = Path(__file__).parent / "static"


class Assets:
    def __init__(self, folder: Path = STATIC) -> None:
        self.folder = folder
        self._sri: dict[str, str] = {}

    def sri(self, name: str) -> str:
        if name not in self._sri:
            data = (self.folder / name).read_bytes()
            self._sri[name] = "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
        return self._sri[name]

    def exists(self, name: str) -> bool:
        return (self.folder / name).is_file()
