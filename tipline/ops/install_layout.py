"""`tipline install`: the two users, their group, and the data folder's owners and modes.

The table is docs/install.md's "Who can read what", which tipline.ops.doctor_layout
checks: what this module makes, the doctor finds right. Each step changes only
what differs, and says what it changed, so a second run changes nothing.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tipline.ops.doctor_layout import GROUP, JOURNALIST_USER, SOURCE_USER

__all__ = ["GROUP", "JOURNALIST_USER", "SOURCE_USER", "Entry", "InstallError"]


class InstallError(Exception):
    """A step cannot be done; the one-line message says why and what to do. `code` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Entry:
    """A folder or file of the data folder: where (relative), its owner (group: always GROUP), its mode."""

    rel: str
    is_dir: bool
    owner: str
    mode: int


def layout(
    db_files: tuple[str, ...] = ("tipline.sqlite3", "tipline.sqlite3-journal"),
    account_files: tuple[str, ...] = ("journalist/accounts.db",),
) -> list[Entry]:
    """The data folder as docs/install.md's table has it. DB_FILES: the SQLite files made in advance
    (relative to the data folder; none with PostgreSQL), owned by the source app's user, the only user
    that may set their times back to the hour. ACCOUNT_FILES: the accounts database made in advance,
    empty, the journalist app's alone, so that `tipline upgrade` makes it at the newest revision
    with its owner, and a second install finds it current."""
    src, jour = SOURCE_USER, JOURNALIST_USER
    return [
        Entry("", True, "root", 0o2770),
        *(
            Entry(d, True, src, 0o2770)
            for d in ("store", "store/pending", "store/submissions", "store/replies")
        ),
        Entry("keys", True, "root", 0o2750),
        Entry("keys/retired", True, "root", 0o2750),
        Entry("source", True, src, 0o700),
        Entry("journalist", True, jour, 0o700),
        *(Entry(f, False, src, 0o660) for f in db_files),
        *(Entry(f, False, jour, 0o600) for f in account_files),
        Entry("tipline.toml", False, "root", 0o640),
    ]


def _run(cmd: list[str]) -> None:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except OSError as e:
        raise InstallError(f"Cannot run {cmd[0]} ({e.strerror}): is this a Debian system?") from None
    if r.returncode != 0:
        why = (r.stderr or r.stdout).strip().splitlines()[-1:] or [f"exit {r.returncode}"]
        raise InstallError(f"`{' '.join(cmd)}` failed: {why[0]}")


def ensure_people(changes: list[str]) -> None:
    """The group and the two system users (no home, no shell), made if missing; a user of that name
    in another group is refused rather than changed: it may not be Tipline's."""
    try:
        gid = grp.getgrnam(GROUP).gr_gid
    except KeyError:
        _run(["groupadd", "--system", GROUP])
        gid = grp.getgrnam(GROUP).gr_gid
        changes.append(f"made the group {GROUP}")
    for user in (SOURCE_USER, JOURNALIST_USER):
        try:
            found = pwd.getpwnam(user)
        except KeyError:
            _run(
                ["useradd", "--system", "--gid", GROUP, "--no-create-home", "--home-dir", "/nonexistent",
                 "--shell", "/usr/sbin/nologin", user]
            )  # fmt: skip
            changes.append(f"made the user {user}")
            continue
        if found.pw_gid != gid:
            raise InstallError(
                f"The user {user} exists, but its group is not {GROUP}. If it is Tipline's: "
                f"usermod -g {GROUP} {user}, then run tipline install again."
            )


def ids(owner: str) -> tuple[int, int]:
    """OWNER's uid and the group's gid."""
    return pwd.getpwnam(owner).pw_uid, grp.getgrnam(GROUP).gr_gid


def ensure_entry(path: Path, entry: Entry, changes: list[str]) -> None:
    """Make the folder or the empty file with its owner and mode, or set those if they differ."""
    uid, gid = ids(entry.owner)
    try:
        st = path.lstat()
    except FileNotFoundError:
        if entry.is_dir:
            path.mkdir(mode=0o700)
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.fchown(fd, uid, gid)
            os.fchmod(fd, entry.mode)  # after chown, which may clear the setgid bit
            os.fsync(fd)
        finally:
            os.close(fd)
        changes.append(f"made {path}")
        return
    if stat.S_ISLNK(st.st_mode) or stat.S_ISDIR(st.st_mode) != entry.is_dir:
        kind = "folder" if entry.is_dir else "file"
        raise InstallError(
            f"{path} is not a {kind} (a symbolic link, or the other kind): move it away first."
        )
    fix_owner_mode(path, st, uid, gid, entry.mode, changes)


def fix_owner_mode(path: Path, st: os.stat_result, uid: int, gid: int, mode: int, changes: list[str]) -> None:
    """Set owner, group and mode of a path known not to be a symbolic link, if they differ."""
    if (st.st_uid, st.st_gid) != (uid, gid):
        os.chown(path, uid, gid, follow_symlinks=False)
        changes.append(f"set the owner of {path}")
        st = path.lstat()
    if stat.S_IMODE(st.st_mode) != mode:
        os.chmod(path, mode)
        changes.append(f"set the mode of {path} to {mode:04o}")


def ensure_layout(data: Path, entries: list[Entry], changes: list[str]) -> None:
    """Every entry, in order (folders before what is in them); then the public keys root:GROUP 0640,
    which `tipline keys add` (run as root, umask 0077) leaves 0600."""
    from tipline.ops.install_files import make_parents

    make_parents(data)
    for entry in entries:
        ensure_entry(data / entry.rel if entry.rel else data, entry, changes)
    uid, gid = ids("root")
    for folder in (data / "keys", data / "keys" / "retired"):
        for p in sorted(folder.glob("*.pub")):
            st = p.lstat()
            if stat.S_ISREG(st.st_mode):
                fix_owner_mode(p, st, uid, gid, 0o640, changes)


def give_private_files_to_owner(data: Path, changes: list[str]) -> None:
    """What root made in an app's private folder (a database `tipline upgrade` created) goes to the
    folder's owner, or the app could not open it."""
    for app in ("source", "journalist"):
        folder = data / app
        owner = folder.stat().st_uid
        for p in folder.iterdir():
            st = p.lstat()
            if st.st_uid == 0 and owner != 0 and not stat.S_ISLNK(st.st_mode):
                os.chown(p, owner, st.st_gid, follow_symlinks=False)
                changes.append(f"gave {p} to the {app} app's user")
