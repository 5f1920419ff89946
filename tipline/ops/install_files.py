"""`tipline install`: the torrc, the units and timers, gunicorn.conf.py, from the package's deploy/ files.

The files are deploy/'s own (shipped in the wheel as tipline/ops/deploy/, see
pyproject.toml), with one change only: the data folder's path, when it is not
/var/lib/tipline. A file is rewritten only when its content, owner or mode
differs, and then atomically (a temporary file in the same folder, synced,
renamed over it, the folder synced): a crash leaves the old file or the new one.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from tipline.ops.install_layout import InstallError

DEFAULT_DATA_DIR = Path("/var/lib/tipline")
TORRC = Path("/etc/tor/torrc")
TORRC_BEFORE = Path("/etc/tor/torrc.before-tipline")  # Debian's, kept once
GUNICORN_CONF = Path("/etc/tipline/gunicorn.conf.py")
UNIT_DIR = Path("/etc/systemd/system")
UNITS = (
    "tipline-source.service",
    "tipline-journalist.service",
    "tipline-purge.service",
    "tipline-purge.timer",
    "tipline-notify.service",
    "tipline-notify.timer",
)
DROP_IN = UNIT_DIR / "tipline-notify.service.d" / "direct.conf"  # only for [notify] route = "direct"


def deploy_dir() -> Path:
    """deploy/ as installed in the package (a wheel), or the checkout's own (an editable install)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "deploy", here.parents[1] / "deploy"):
        if (candidate / "torrc").is_file() and (candidate / "systemd").is_dir():
            return candidate
    raise InstallError(
        f"This Tipline has no deploy files (neither {here / 'deploy'} nor a checkout's deploy/): "
        "reinstall it from the .deb or the wheel."
    )


@dataclass(frozen=True)
class Planned:
    """A file to install: its path on the server, its bytes, its mode (owner root:root)."""

    path: Path
    data: bytes
    mode: int = 0o644


def planned(data_dir: Path = DEFAULT_DATA_DIR, direct: bool = False) -> list[Planned]:
    """Every file `tipline install` writes, rendered for DATA_DIR; the drop-in only when DIRECT."""
    src = deploy_dir()

    def render(path: Path) -> bytes:
        text = path.read_text("utf-8")
        if data_dir != DEFAULT_DATA_DIR:
            text = text.replace(str(DEFAULT_DATA_DIR), str(data_dir))
        return text.encode("utf-8")

    out = [
        Planned(TORRC, render(src / "torrc")),
        Planned(GUNICORN_CONF, render(src / "gunicorn.conf.py")),
        *(Planned(UNIT_DIR / name, render(src / "systemd" / name)) for name in UNITS),
    ]
    if direct:
        out.append(Planned(DROP_IN, render(src / "systemd" / "drop-in" / "tipline-notify-direct.conf")))
    return out


def at(root: Path, path: Path) -> Path:
    """PATH (absolute, on the server) under ROOT: "/" on a server, a folder in tests."""
    return root / path.relative_to("/")


def is_current(path: Path, data: bytes, mode: int) -> bool:
    """Whether PATH already is a regular file with these bytes, owned by root:root, with this mode."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode) or (st.st_uid, st.st_gid) != (0, 0) or stat.S_IMODE(st.st_mode) != mode:
        return False
    return path.read_bytes() == data


def make_parents(path: Path) -> None:
    """PATH's missing parent folders, root's and mode 0755 whatever the umask (the CLI's is 0077): the
    services' users must reach /etc/tipline/gunicorn.conf.py."""
    missing = [p for p in reversed(path.parents) if not p.exists()]
    for p in missing:
        p.mkdir()
        os.chmod(p, 0o755)  # noqa: S103 - folders like /etc/tipline, readable by the services


def write_atomically(path: Path, data: bytes, mode: int, uid: int = 0, gid: int = 0) -> None:
    """Replace PATH with DATA (UID:GID, MODE): synced before the rename, the folder synced after."""
    make_parents(path)
    tmp = path.with_name(f".{path.name}.tipline-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def install_files(root: Path, files: list[Planned], changes: list[str]) -> list[Path]:
    """Write each file that differs; returns the server paths written. Debian's torrc is kept once."""
    written = []
    for f in files:
        target = at(root, f.path)
        if is_current(target, f.data, f.mode):
            continue
        if f.path == TORRC and target.is_file() and not at(root, TORRC_BEFORE).exists():
            shutil.copy2(target, at(root, TORRC_BEFORE))
            changes.append(f"kept the torrc that was there as {TORRC_BEFORE}")
        write_atomically(target, f.data, f.mode)
        changes.append(f"wrote {f.path}")
        written.append(f.path)
    return written


def remove_drop_in(root: Path, changes: list[str]) -> bool:
    """Remove the direct-route drop-in when the route is Tor: `tipline doctor` calls it a problem then."""
    target = at(root, DROP_IN)
    if not target.exists():
        return False
    target.unlink()
    changes.append(f'removed {DROP_IN} ([notify] route is not "direct")')
    return True
