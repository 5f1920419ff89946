"""Recipient public keys, kept as files in the data folder.

Active keys are `keys/<FINGERPRINT>.pub`; a retired key moves to
`keys/retired/`, so what was sealed to it stays explained. Every new
submission is sealed to every active key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tipline.format.errors import KeyFileError
from tipline.format.header import MAX_RECIPIENTS
from tipline.format.keys import PublicKey

from .filetimes import list_quietly, read_quietly


class KeyringError(Exception):
    """A key operation cannot be done; the message says why and what to do."""


def compact(fingerprint: str) -> str:
    """'ABCD EFGH ...' -> 'ABCDEFGH...', the form used in file names and rows."""
    return "".join(fingerprint.split()).upper()


@dataclass(frozen=True)
class Keyring:
    folder: Path

    def active(self) -> list[PublicKey]:
        # Read on every page view and tip: quietly, or the keys' atimes would keep the time of the
        # first visit after each change, to the nanosecond.
        if not self.folder.is_dir():
            return []
        keys = []
        names = [n for n in list_quietly(self.folder) if n.endswith(".pub") and not n.startswith(".")]
        for p in sorted(self.folder / n for n in names):
            try:
                keys.append(PublicKey.from_text(read_quietly(p).decode("utf-8")))
            except (OSError, UnicodeDecodeError, KeyFileError) as e:
                raise KeyringError(
                    f"The key file {p} is unreadable or damaged ({e}); remove or replace it."
                ) from None
        return keys

    def retired(self) -> list[PublicKey]:
        folder = self.folder / "retired"
        return (
            [PublicKey.from_text(p.read_text("utf-8")) for p in sorted(folder.glob("*.pub"))]
            if folder.is_dir()
            else []
        )

    def add(self, text: str) -> PublicKey:
        try:
            key = PublicKey.from_text(text)
        except KeyFileError as e:
            raise KeyringError(str(e)) from None
        if len(self.active()) >= MAX_RECIPIENTS:
            raise KeyringError(
                f"There are already {MAX_RECIPIENTS} active keys, the most an envelope can hold."
            )
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.folder / f"{compact(key.fingerprint)}.pub"
        if path.exists():
            raise KeyringError(f"The key {key.fingerprint} is already active.")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(key.to_text(), "utf-8")
        os.replace(tmp, path)
        return key

    def retire(self, fingerprint: str) -> PublicKey:
        path = self.folder / f"{compact(fingerprint)}.pub"
        if not path.exists():
            raise KeyringError(f"No active key has the fingerprint {fingerprint}; see `tipline keys list`.")
        if len(self.active()) == 1:
            raise KeyringError("That is the last active key: add its replacement first, then retire it.")
        (self.folder / "retired").mkdir(mode=0o700, exist_ok=True)
        key = PublicKey.from_text(path.read_text("utf-8"))
        os.replace(path, self.folder / "retired" / path.name)
        return key
