"""`tipline doctor`: the newsroom's own page settings ([newsroom] in tipline.toml), one problem a line.

The same checks `tipline serve` makes before it starts (tipline/newsroom.py), all of them
at once: the logo files are read and checked by their bytes, and the language tables are
matched against the languages the source pages offer (tipline/web/i18n.py's catalogs).
"""

from __future__ import annotations

from tipline.config import Settings
from tipline.newsroom import problems
from tipline.ops.doctor_findings import Finding, problem


def check_newsroom(settings: Settings) -> list[Finding]:
    from tipline.web.i18n import available  # the compiled catalogs decide which languages exist

    return [problem(text) for text in problems(settings.newsroom, available("source"))]
