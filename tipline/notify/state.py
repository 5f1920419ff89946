"""What each channel last settled, and what it still owes: one small JSON file, written atomically.

Per channel ("webhook", or "email:ADDRESS" for each recipient): `settled`,
the last period delivered (or found quiet with nothing to send), and
`pending`, a message composed for a period and not yet accepted by the
receiver. A pending message is sent again, unchanged, by each run until it
is accepted, so a retry never says something different; it is marked
delivered only after the server accepted it, so once delivered it is never
sent again. The file holds the texts that are sent, which say only what
docs/notifications.md shows: never content, names of sources or times.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from tipline.config import Settings
from tipline.format.durable import fsync_dir

VERSION = 1


def state_path(settings: Settings) -> Path:
    """Beside the accounts database: the notify run reads journalists' addresses as that app's user."""
    return settings.journalist_private_dir / "notify-state.json"


class StateError(Exception):
    """The state file cannot be read or written; the message says which and what to do."""


@dataclass
class Pending:
    period: str
    text: str


@dataclass
class ChannelState:
    settled: str = ""
    pending: Pending | None = None


@dataclass
class State:
    path: Path
    channels: dict[str, ChannelState] = field(default_factory=dict)

    def channel(self, name: str) -> ChannelState:
        return self.channels.setdefault(name, ChannelState())

    def save(self) -> None:
        """Write a new file beside the old, fsync it, rename it over, fsync the folder."""
        doc = {
            "version": VERSION,
            "channels": {
                name: {
                    "settled": c.settled,
                    "pending": None
                    if c.pending is None
                    else {"period": c.pending.period, "text": c.pending.text},
                }
                for name, c in sorted(self.channels.items())
            },
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            fsync_dir(self.path.parent)
        except OSError as e:
            raise StateError(
                f"Cannot write the notification state {self.path} ({e.strerror}). "
                "Check the disk's free space and this user's permissions; the next run tries again."
            ) from None


def load(path: Path) -> State:
    """The state at `path`; a missing file is a fresh start (nothing settled, nothing pending)."""
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return State(path)
    except (OSError, ValueError) as e:
        raise StateError(
            f"Cannot read the notification state {path} ({e}). Move it aside to start afresh: "
            "the next run then sends the current period's notification."
        ) from None
    try:
        if doc["version"] != VERSION:
            raise ValueError
        channels = {}
        for name, c in doc["channels"].items():
            p = c["pending"]
            pending = None if p is None else Pending(str(p["period"]), str(p["text"]))
            channels[str(name)] = ChannelState(str(c["settled"]), pending)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise StateError(
            f"The notification state {path} is not one this version wrote. Move it aside to start afresh."
        ) from None
    return State(path, channels)
