"""`tipline doctor`: the route and sandbox of `tipline notify`, the one unit allowed to send (no Flask).

A notification sent straight from the server tells the mail provider the
server's address, which for an onion service can locate it. So with
[notify] route = "tor" (the default) the torrc must offer the SOCKS socket
that deploy/torrc opens (a unix socket, group-writable, never a TCP port:
the apps may reach loopback, and any local process a TCP port), only
tipline-notify.service may join its group, and every other Tipline unit
keeps IPAddressDeny=any. route = "direct" is a warning that names the risk.
The SMTP password file must be 0600 and the unit's user's; SMTP and the webhook never plain.
"""

from __future__ import annotations

import grp
import pwd
import stat
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

from tipline.ops.doctor_findings import Finding, problem, warning
from tipline.ops.doctor_torrc import TorLine, parse_torrc

DEFAULT_SOCKS = "/run/tor/socks"  # deploy/torrc's; the one path Debian's AppArmor lets tor create
NOTIFY_UNIT = "tipline-notify.service"
ROUTES = ("tor", "direct")
SECURE_SMTP = ("starttls", "tls")  # what tipline/notify/settings.py accepts
TORRC_LINE = f"SocksPort unix:{DEFAULT_SOCKS} GroupWritable RelaxDirModeCheck"
DIRECT_RISK = (
    'route = "direct": notifications leave from the server\'s own IP address, so the mail provider '
    "or webhook receiver (and whoever can ask them) learns where the onion service runs "
    '(docs/threat-model.md, "Notifications"). Keep it only if that address is no secret; '
    'otherwise remove the line (route = "tor" is the default).'
)


def _flags(value: str) -> tuple[str, set[str]]:
    """A SocksPort value as (address, lower-case flags): 'unix:/p GroupWritable' -> ('unix:/p', {...})."""
    parts = value.split()
    return (parts[0].strip('"') if parts else ""), {p.lower() for p in parts[1:]}


def check_socks_lines(lines: list[TorLine], path: Path) -> list[Finding]:
    """Called by check_torrc: no TCP SOCKS port at all; a unix one never world-writable."""
    socks = [ln for ln in lines if ln.keyword == "socksport"]
    if not socks:
        return [
            problem(
                f"{path} does not set SocksPort, so Tor opens its default SOCKS port 9050. "
                f"Fix: {TORRC_LINE} (as deploy/torrc), or SocksPort 0 without notifications."
            )
        ]
    out = []
    for ln in socks:
        address, flags = _flags(ln.value)
        if address == "0" and ln.prefix != "+":
            continue
        if not address.startswith("unix:"):
            out.append(
                problem(
                    f"{ln.where}: SocksPort {ln.value} opens a SOCKS proxy on a TCP port, which any "
                    "process on the server can use (the apps may reach loopback). "
                    f"Fix: SocksPort 0, or for notifications {TORRC_LINE}"
                )
            )
        elif "worldwritable" in flags:
            out.append(
                problem(
                    f"{ln.where}: SocksPort {ln.value} lets every user on the server reach the network "
                    f"through Tor. Fix: {TORRC_LINE}"
                )
            )
    return out


def notify_table(settings_file: Path) -> dict | None:
    """[notify] of tipline.toml, or None when the file has none (notifications are not set up)."""
    try:
        doc = tomllib.loads(settings_file.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None  # check_settings already says the settings do not load
    table = doc.get("notify")
    return table if isinstance(table, dict) else None


def check_notify(
    settings_file: Path, torrc: Path | None, units: Path | None, user: str = "tipline-journalist"
) -> list[Finding]:
    table = notify_table(settings_file)
    if table is None:
        return []
    route = table.get("route", "tor")
    if route not in ROUTES:
        return [
            problem(f'{settings_file}: [notify] route = {route!r}: write "tor" (the default) or "direct".')
        ]
    out = [warning(f"{settings_file}: {DIRECT_RISK}")] if route == "direct" else []
    socks = str(table.get("tor_socks", DEFAULT_SOCKS))
    if route == "tor":
        out += _tor_route(socks, torrc, settings_file)
    if units is not None:
        out += check_notify_units(units, route)
    out += _smtp(table.get("smtp"), settings_file, user)
    out += _webhook(table.get("webhook"), settings_file)
    return out


def _webhook(hook: object, settings_file: Path) -> list[Finding]:
    """HTTPS, or plain HTTP only to an onion address (Tor encrypts that end to end)."""
    if not isinstance(hook, dict) or not hook.get("url"):
        return []
    url = urlsplit(str(hook["url"]))
    if url.scheme == "https" or (url.scheme == "http" and (url.hostname or "").endswith(".onion")):
        return []
    return [
        problem(
            f"{settings_file}: [notify.webhook] url {url.scheme}://{url.hostname}/... is not HTTPS: "
            "a Tor exit or the network on the way reads the notification and the URL (often the "
            "receiver's only secret). Fix: an https:// URL, or http:// to an .onion address."
        )
    ]


def _tor_route(socks: str, torrc: Path | None, settings_file: Path) -> list[Finding]:
    if not socks.startswith("/"):
        return [
            problem(
                f"{settings_file}: [notify] tor_socks = {socks!r} is a TCP address, which any process on "
                f'the server can use, the apps included. Fix: tor_socks = "{DEFAULT_SOCKS}" with '
                f"deploy/torrc's {TORRC_LINE}"
            )
        ]
    out = []
    if torrc is not None:
        try:
            lines = parse_torrc(torrc)
        except (OSError, UnicodeDecodeError):
            lines = []  # check_torrc reports the unreadable torrc
        ports = [_flags(ln.value) for ln in lines if ln.keyword == "socksport"]
        flags = next((f for a, f in ports if a == f"unix:{socks}"), None)
        if flags is None:
            out.append(
                problem(
                    f'[notify] route = "tor" sends through {socks}, but {torrc} opens no SocksPort there: '
                    f"every notification would fail. Fix: add {TORRC_LINE} (as deploy/torrc; "
                    f"SocksPort unix:{socks} if tor_socks differs) and restart tor."
                )
            )
        elif "groupwritable" not in flags:
            out.append(
                problem(
                    f"{torrc}: SocksPort unix:{socks} is not GroupWritable, so tipline-notify (group "
                    f"debian-tor) cannot connect. Fix: {TORRC_LINE}"
                )
            )
    out += _socket_now(Path(socks))
    return out


def _socket_now(sock: Path) -> list[Finding]:
    """The running tor's socket: only its group may connect, and no Tipline user is in that group."""
    try:
        st = sock.stat()
    except FileNotFoundError:
        return [
            warning(
                f"There is no SOCKS socket at {sock} (tor is not running, or its torrc lacks "
                "the notify SocksPort): notifications cannot be sent until there is."
            )
        ]
    except PermissionError:
        return [warning(f"Cannot look at {sock}: run tipline doctor as root.")]
    if not stat.S_ISSOCK(st.st_mode):
        return [problem(f"{sock} is not a socket: tor did not make it. Remove it and restart tor.")]
    out = []
    if st.st_mode & 0o002:
        out.append(
            problem(
                f"{sock} is world-writable: every user on the server can reach the network through "
                f"Tor. Fix: {TORRC_LINE} in the torrc, then restart tor."
            )
        )
    try:
        group = grp.getgrgid(st.st_gid)
    except KeyError:
        return out
    members = {m for m in group.gr_mem if m.startswith("tipline")}
    members |= {p.pw_name for p in pwd.getpwall() if p.pw_gid == st.st_gid}
    members = {m for m in members if m.startswith("tipline")}
    if members:
        out.append(
            problem(
                f"{', '.join(sorted(members))} in the group {group.gr_name}, which may use Tor's "
                f"SOCKS socket {sock}: so every process of that user, the apps included, can send "
                f"through it. Only tipline-notify.service may (SupplementaryGroups={group.gr_name}). "
                f"Fix: gpasswd -d USER {group.gr_name}"
            )
        )
    return out


def check_notify_units(folder: Path, route: str) -> list[Finding]:
    """tipline-notify.service is the only Tipline unit that may send; the others keep IPAddressDeny=any."""
    from tipline.ops.doctor_layout import _unit_values

    out = []
    for path in sorted(folder.glob("tipline-*.service")):
        if path.name == NOTIFY_UNIT:
            continue
        values = _unit_values(path)
        if "any" not in values.get("ipaddressdeny", []) or _opens_ip(values):
            out.append(
                problem(
                    f"{path} lets its app reach the network: only {NOTIFY_UNIT} may. "
                    "Fix: IPAddressDeny=any and IPAddressAllow=localhost (as deploy/systemd/)."
                )
            )
        if "debian-tor" in " ".join(values.get("supplementarygroups", [])).split():
            out.append(
                problem(
                    f"{path} joins the group debian-tor, so its app can send through Tor's SOCKS socket: "
                    f"only {NOTIFY_UNIT} may. Fix: remove SupplementaryGroups=debian-tor."
                )
            )
    path = folder / NOTIFY_UNIT
    if not path.exists():
        out.append(
            problem(f"There is no {path}: nothing sends notifications. Fix: install deploy/systemd/ there.")
        )
        return out
    values = _unit_values(path)
    if "any" not in values.get("ipaddressdeny", []):
        out.append(problem(f"{path} has no IPAddressDeny=any. Fix: as deploy/systemd/{NOTIFY_UNIT}."))
    opens = _opens_ip(values) and (values.get("privatenetwork") or ["no"])[-1] not in ("yes", "true", "1")
    if route == "tor" and opens:
        out.append(
            problem(
                f'{path} (or a drop-in in {path.name}.d/) allows IP egress, but route = "tor" needs '
                "none: a bug could then send straight from the server's address. "
                f"Fix: remove {path.name}.d/direct.conf and systemctl daemon-reload."
            )
        )
    if route == "tor" and "debian-tor" not in " ".join(values.get("supplementarygroups", [])).split():
        out.append(
            problem(
                f"{path} is not in the group debian-tor, so it cannot use Tor's SOCKS socket. "
                "Fix: SupplementaryGroups=debian-tor (as deploy/systemd/)."
            )
        )
    if route == "direct" and not opens:
        out.append(
            problem(
                f'[notify] route = "direct", but {path} allows no IP egress, so it cannot send. Fix: '
                f"install deploy/systemd/drop-in/tipline-notify-direct.conf as {path}.d/direct.conf."
            )
        )
    return out


def _opens_ip(values: dict[str, list[str]]) -> bool:
    """Whether IPAddressAllow= lets the unit reach any address beyond loopback."""
    allowed = " ".join(values.get("ipaddressallow", [])).split()
    return any(a not in ("localhost", "127.0.0.0/8", "::1/128", "127.0.0.1", "::1") for a in allowed)


def _smtp(smtp: object, settings_file: Path, user: str) -> list[Finding]:
    if not isinstance(smtp, dict):
        return []
    out = []
    security = str(smtp.get("security", "starttls")).lower()
    if security not in SECURE_SMTP:
        out.append(
            problem(
                f"{settings_file}: [notify.smtp] security = {smtp.get('security')!r} sends the password "
                'and the message in clear. Fix: security = "starttls" or "tls".'
            )
        )
    creds = smtp.get("credentials_file")
    if creds:
        out += _credentials(Path(str(creds)), user)
    return out


def _credentials(path: Path, user: str) -> list[Finding]:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return [problem(f"The SMTP credentials file {path} does not exist: email cannot be sent.")]
    except PermissionError:
        return [warning(f"Cannot look at {path}: run tipline doctor as root.")]
    out = []
    if not stat.S_ISREG(st.st_mode):
        return [problem(f"{path} is not a plain file. Fix: make it one, mode 0600, owned by {user}.")]
    if stat.S_IMODE(st.st_mode) != 0o600:
        out.append(
            problem(
                f"{path} is mode {stat.S_IMODE(st.st_mode):04o}: the SMTP password must be its owner's "
                f"alone. Fix: chmod 0600 {path}"
            )
        )
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    if owner != user:
        out.append(
            problem(
                f"{path} is owned by {owner}, but tipline notify runs as {user}. Fix: chown {user} {path}"
            )
        )
    return out
