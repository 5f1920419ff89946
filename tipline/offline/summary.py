"""What a decrypt run did: how many items, from which submissions and replies, and each failure."""

from __future__ import annotations

from dataclasses import dataclass, field

from tipline.format.errors import NoMatchingKey, TiplineError


@dataclass
class Failure:
    """One input or item that could not be decrypted, and why."""

    label: str
    error: Exception

    @property
    def kind(self) -> str:
        """'not_recipient', 'local' (a file-system problem here) or 'damaged'."""
        if isinstance(self.error, NoMatchingKey):
            return "not_recipient"
        if isinstance(self.error, OSError):
            return "local"
        return "damaged"  # a TiplineError, or anything else the input provoked

    @property
    def message(self) -> str:
        e = self.error
        if isinstance(e, TiplineError):
            return str(e)
        if isinstance(e, OSError):
            where = f" ({e.filename})" if e.filename else ""
            return f"Could not write it here: {e.strerror or e}{where}. Fix that and run again."
        return (
            f"Could not be decrypted: it provoked an unexpected {type(e).__name__}. "
            "The other items were not affected; please report this."
        )


@dataclass
class Summary:
    decrypted: int = 0
    skipped: int = 0
    submissions: set[str] = field(default_factory=set)
    replies: set[str] = field(default_factory=set)
    failures: list[Failure] = field(default_factory=list)

    def _any(self, kind: str) -> bool:
        return any(f.kind == kind for f in self.failures)

    @property
    def not_recipient(self) -> bool:
        return self._any("not_recipient")

    @property
    def damaged(self) -> bool:
        return self._any("damaged")

    @property
    def local_problem(self) -> bool:
        return self._any("local")
