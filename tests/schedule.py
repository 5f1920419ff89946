"""The order test files start in: the longest first, so that no long file starts last.

./dev test runs two pytest-xdist workers with `--dist loadfile --no-loadscope-reorder`: each file
runs whole on one worker, and files are handed out in collection order as workers come free. A
five-minute file handed out last would leave the other worker idle for most of those five minutes,
so the files below (each over about 50 s) go first, longest first; the rest follow in their usual
order. The figures are whole-file seconds from full runs on CI's kind of 2-core machine; a file
that grows past them belongs in the list, in its place.
"""

from __future__ import annotations

import pytest

HEAVIEST_FIRST = (
    "tests/system/test_deployment.py",  # 440 (cache warm) to 660 (cold): boots Debian 12 under systemd
    "tests/browser/test_source_uploads_large.py",  # 200 to 420: 100 MB with and without a JIT, 400 MB
    "tests/ops/test_upgrade.py",  # 130: five historic schemas, on SQLite and on PostgreSQL
    "tests/tor/test_onion.py",  # about 120: a private Tor network, Chromium through it
    "tests/browser/test_firefox_source.py",  # 60 to 120: Firefox ESR at Tor Browser's Safer prefs
    "tests/tor/test_upload_resume.py",  # about 60: its own Tor network, 16 MiB with a circuit closed
    "tests/tor/test_client_auth.py",
    "tests/tor/test_notify_socks.py",
    "tests/browser/test_source_crypto_loading.py",  # 54
    "tests/test_demo.py",  # 53
    "tests/browser/test_source_conversation.py",  # 53
)


def heaviest_first(items: list[pytest.Item]) -> None:
    """Reorder ITEMS in place: the listed files first, in the list's order; each file's tests keep theirs."""
    rank = {path: i for i, path in enumerate(HEAVIEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
