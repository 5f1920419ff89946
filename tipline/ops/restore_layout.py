"""Owners and modes after a restore as root: docs/install.md's "Who can read what" table, which doctor checks.

Files a restore writes as root would otherwise belong to root, and each app
could no longer write its own database, store or private folder.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path

from tipline.config import Settings
from tipline.store.filetimes import walk

from .backup import sqlite_file
from .doctor_layout import GROUP, JOURNALIST_USER, SHARED_DB_FILES, SOURCE_USER


def _own(path: Path, uid: int, gid: int, mode: int) -> None:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        return  # never follow a link a restore did not make
    os.chown(path, uid, gid, follow_symlinks=False)
    os.chmod(path, mode)


def _tree(root: Path, uid: int, gid: int, dir_mode: int, file_mode: int) -> None:
    for p in walk(root) if root.is_dir() else []:
        _own(p, uid, gid, dir_mode if p.is_dir() and not p.is_symlink() else file_mode)


def apply_layout(
    settings: Settings,
    source_user: str = SOURCE_USER,
    journalist_user: str = JOURNALIST_USER,
    group_name: str = GROUP,
) -> list[str]:
    """Give every restored path its owner and mode; a note if the install's users do not exist."""
    try:
        source, journalist = pwd.getpwnam(source_user).pw_uid, pwd.getpwnam(journalist_user).pw_uid
        group = grp.getgrnam(group_name).gr_gid
    except KeyError:
        return [
            f"The users {source_user} and {journalist_user} (group {group_name}) do not exist here, so the "
            "restored files stay root's: make them (docs/install.md, step 4), then chown as its table says."
        ]
    data = settings.data_dir
    _own(data, 0, group, 0o2770)
    live = sqlite_file(settings.db_url)
    if live is not None and live.parent == data:
        for suffix in SHARED_DB_FILES:
            _own(Path(f"{live}{suffix}"), source, group, 0o660)
    _tree(settings.store_dir, source, group, 0o2770, 0o660)
    _tree(settings.keys_dir, 0, group, 0o2750, 0o640)
    for name in ("tipline.toml", "tipline.toml.restored"):
        _own(data / name, 0, group, 0o640)
    _tree(settings.source_private_dir, source, group, 0o700, 0o600)
    _tree(settings.journalist_private_dir, journalist, group, 0o700, 0o600)
    return []
