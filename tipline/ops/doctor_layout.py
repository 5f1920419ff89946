"""`tipline doctor`: the data folder's layout that keeps the source app from the journalists' secrets.

docs/install.md's layout (the agreed design of finding 9): two system users in
one group, each app with a private folder the other cannot enter:

    DATA_DIR/              root:GROUP 2770  shared: submissions database, store/
      tipline.sqlite3 (+ -journal) SOURCE-USER:GROUP 0660 (its owner sets its times to the hour)
      store/, pending/, submissions/  SOURCE-USER:GROUP 2770
      store/ ...           GROUP, group rwx (folders) / rw (files), nothing for others
      keys/ (retired/)     root:GROUP 2750, *.pub root:GROUP 0640: public keys, read only
      tipline.toml         root:GROUP 0640
      source/              SOURCE-USER 0700: the source app's csrf.secret, install.salt, session.key
      journalist/          JOURNALIST-USER 0700: accounts.db, csrf.secret, totp.key (0600)

and the accounts database is not the submissions database. The units must run
the apps as the two users (User=) and hide each app's private folder from the
other (InaccessiblePaths=). No Flask here; each check returns Findings.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

from tipline.config import Settings
from tipline.ops.doctor import Finding, problem, sqlite_path

SOURCE_USER, JOURNALIST_USER, GROUP = "tipline-source", "tipline-journalist", "tipline"
SHARED_DB_FILES = ("", "-wal", "-shm", "-journal")


@dataclass(frozen=True)
class People:
    """The two service users and their group, as uids and gids."""

    source: pwd.struct_passwd
    journalist: pwd.struct_passwd
    group: grp.struct_group

    @classmethod
    def look_up(cls, source: str, journalist: str, group: str) -> People | list[Finding]:
        out, found = [], []
        for name in (source, journalist):
            try:
                found.append(pwd.getpwnam(name))
            except KeyError:
                out.append(
                    problem(
                        f"There is no user {name!r} on this machine. Fix: tipline install (docs/install.md)."
                    )
                )
        try:
            g = grp.getgrnam(group)
        except KeyError:
            out.append(
                problem(
                    f"There is no group {group!r} on this machine. Fix: tipline install (docs/install.md)."
                )
            )
        if out:
            return out
        return cls(found[0], found[1], g)

    def groups_of(self, user: pwd.struct_passwd) -> set[int]:
        return set(os.getgrouplist(user.pw_name, user.pw_gid))


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def expect(
    path: Path, owner: int | None, group: int | None, mode: int, *, exact: bool = True
) -> list[Finding]:
    """PATH is a real file or folder with this owner and group (None: any) and MODE.

    exact: the mode must be MODE; otherwise no bit outside MODE may be set."""
    st = path.lstat()
    kind = "folder" if stat.S_ISDIR(st.st_mode) else "file"
    if stat.S_ISLNK(st.st_mode):
        return [problem(f"{path} is a symbolic link; make it a real {kind}.")]
    out = []
    if (owner is not None and st.st_uid != owner) or (group is not None and st.st_gid != group):
        want = (
            _name(st.st_uid if owner is None else owner) + ":" + _group(st.st_gid if group is None else group)
        )
        have = f"{_name(st.st_uid)}:{_group(st.st_gid)}"
        out.append(problem(f"{path} is owned by {have}, not {want}. Fix: chown {want} {path}"))
    m = stat.S_IMODE(st.st_mode)
    if (exact and m != mode) or (not exact and m & ~mode):
        # GNU chmod keeps a folder's set-group-ID bit under a 4-digit mode: a 5th digit clears it.
        fix = f"{mode:05o}" if kind == "folder" and m & ~mode & 0o7000 else f"{mode:04o}"
        out.append(problem(f"{path} is mode {m:04o}, not {mode:04o}. Fix: chmod {fix} {path}"))
    return out


def can_enter(path: Path, user: pwd.struct_passwd, gids: set[int]) -> bool:
    """Whether USER may list or enter the folder PATH, by owner, group and mode (as the kernel decides)."""
    st = path.stat()
    if user.pw_uid == 0:
        return True
    if st.st_uid == user.pw_uid:
        bits = (st.st_mode >> 6) & 0o5
    elif st.st_gid in gids:
        bits = (st.st_mode >> 3) & 0o5
    else:
        bits = st.st_mode & 0o5
    return bits != 0


def same_database(a: str, b: str) -> bool:
    """Whether two database URLs name one database: the same SQLite file, or server and database."""
    from sqlalchemy.engine import make_url

    fa, fb = sqlite_path(a), sqlite_path(b)
    if fa is not None or fb is not None:
        return fa is not None and fb is not None and os.path.realpath(fa) == os.path.realpath(fb)
    ua, ub = make_url(a), make_url(b)
    where = [(u.host or "localhost", u.port or 5432, u.query.get("host"), u.database) for u in (ua, ub)]
    return where[0] == where[1]


def check_layout(settings: Settings, people: People) -> list[Finding]:
    d = settings.data_dir
    root, gid = 0, people.group.gr_gid
    src, jour = people.source, people.journalist
    if not d.is_dir():
        return [
            problem(
                f"The data folder {d} does not exist. Fix: tipline install --data-dir {d} (docs/install.md)."
            )
        ]
    out = expect(d, root, gid, 0o2770)
    db = sqlite_path(settings.db_url)
    if db is not None:
        if not db.exists():
            fix = f"install -m 0660 -o {src.pw_name} -g {_group(gid)} /dev/null {db}"
            out.append(problem(f"No submissions database at {db}. Fix: {fix}"))
        for suffix in SHARED_DB_FILES:
            f = db.with_name(db.name + suffix)
            if f.exists():
                out += expect(f, src.pw_uid, gid, 0o660)
    store = d / "store"
    if store.exists() or store.is_symlink():
        # The source app's user: only a file's owner may set its times back to the hour.
        for folder in (store, store / "pending", store / "submissions"):
            if folder.exists() or folder.is_symlink():
                out += expect(folder, src.pw_uid, gid, 0o2770)
        out += _shared_tree(store, gid)
    for keys in (d / "keys", d / "keys" / "retired"):
        if keys.exists() or keys.is_symlink():
            out += expect(keys, root, gid, 0o2750)
            for p in sorted(keys.glob("*.pub")):
                out += expect(p, root, gid, 0o640)
    if (d / "tipline.toml").exists():
        out += expect(d / "tipline.toml", root, gid, 0o640)
    for app, user, secrets in (
        ("source", src, ("csrf.secret", "install.salt", "session.key")),
        (
            "journalist",
            jour,
            (
                "accounts.db",
                "accounts.db-journal",
                "accounts.db-wal",
                "accounts.db-shm",
                "csrf.secret",
                "totp.key",
            ),
        ),
    ):
        folder = d / app
        if not folder.is_dir():
            out.append(
                problem(
                    f"{folder} does not exist: the {app} app has no private folder. "
                    f"Fix: install -d -m 0700 -o {user.pw_name} -g {_group(gid)} {folder}"
                )
            )
            continue
        out += expect(folder, user.pw_uid, None, 0o700)
        for name in secrets:
            if (folder / name).exists():
                out += expect(folder / name, user.pw_uid, None, 0o600, exact=False)
    out += _cannot_enter(d / "journalist", src, people, "the journalists' accounts and secrets")
    out += _cannot_enter(d / "source", jour, people, "the source app's secret")
    if (d / "csrf.secret").exists():
        out.append(
            problem(
                f"{d / 'csrf.secret'} is left from before the apps were separated: each app now keeps "
                f"its own in source/ and journalist/. Fix: shred -u {d / 'csrf.secret'}"
            )
        )
    return out


def _shared_tree(top: Path, gid: int) -> list[Finding]:
    """Everything under store/: group GID, usable by the group (both apps), nothing for others."""
    out = []
    for dirpath, dirs, files in os.walk(top):
        for name in dirs + files:
            p = Path(dirpath) / name
            st = p.lstat()
            want = 0o770 if stat.S_ISDIR(st.st_mode) else 0o660
            m = stat.S_IMODE(st.st_mode)
            if st.st_gid != gid or m & 0o007 or (m & 0o070) != (want & 0o070):
                out.append(
                    problem(
                        f"{p} is {_group(st.st_gid)} mode {m:04o}: both apps (group {_group(gid)}) must "
                        f"be able to use it, others not. "
                        f"Fix: chgrp -R {_group(gid)} {top} && chmod -R g+rwX,o= {top}"
                    )
                )
                return out  # one line is enough to say what to run
    return out


def _cannot_enter(folder: Path, user: pwd.struct_passwd, people: People, what: str) -> list[Finding]:
    if folder.is_dir() and can_enter(folder, user, people.groups_of(user)):
        return [
            problem(
                f"The user {user.pw_name} can enter {folder}, which holds {what}: the apps are not "
                "separated. Fix: tipline install sets the owner and mode (docs/install.md)."
            )
        ]
    return []


def check_databases(settings: Settings) -> list[Finding]:
    if same_database(settings.db_url, settings.accounts_db_url):
        return [
            problem(
                "The accounts database is the submissions database, so the source app can read the "
                "journalists' accounts. Fix: give accounts_database_url its own database (docs/install.md)."
            )
        ]
    return []


def check_units(folder: Path, people: People, data_dir: Path) -> list[Finding]:
    """The installed units run each app as its own user and hide the other app's private folder."""
    out, users = [], {}
    for app, user, hidden in (
        ("source", people.source.pw_name, "journalist"),
        ("journalist", people.journalist.pw_name, "source"),
    ):
        path = folder / f"tipline-{app}.service"
        try:
            values = _unit_values(path)
        except OSError as e:
            out.append(
                problem(f"Cannot read the unit {path} ({e.strerror}). Fix: install deploy/systemd/ there.")
            )
            continue
        users[app] = (values.get("user") or ["root"])[-1]
        if users[app] != user:
            out.append(problem(f"{path} runs the {app} app as {users[app]!r}, not {user}. Fix: User={user}"))
        want = str(data_dir / hidden)
        if not any(want in v.split() for v in values.get("inaccessiblepaths", [])):
            out.append(
                problem(
                    f"{path} lets the {app} app see {want}. "
                    f"Fix: InaccessiblePaths={want} (as in deploy/systemd/)."
                )
            )
    if len(users) == 2 and users["source"] == users["journalist"]:
        out.append(
            problem(
                f"Both apps run as the same user {users['source']!r}: code execution in the source app would "
                "reach the journalists' secrets."
            )
        )
    return out


def _unit_values(path: Path) -> dict[str, list[str]]:
    """KEY=VALUE lines of a unit file's [Service] section (and its drop-ins in PATH.d/*.conf)."""
    texts = [path.read_text("utf-8")]
    texts += [p.read_text("utf-8") for p in sorted(path.parent.glob(f"{path.name}.d/*.conf"))]
    out: dict[str, list[str]] = {}
    for text in texts:
        section = ""
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[Service]" and "=" in line and not line.startswith(("#", ";")):
                k, _, v = line.partition("=")
                k = k.strip().lower()
                if v.strip() == "":
                    out[k] = []  # an empty assignment resets the list, as systemd does
                else:
                    out.setdefault(k, []).append(v.strip())
    return out
