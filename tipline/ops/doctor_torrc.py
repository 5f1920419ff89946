"""`tipline doctor --torrc`: the onion services' configuration, read with tor's own syntax.

Loopback-only targets, the proof-of-work defence, client authorization on the journalist
service, SafeLogging, no single-hop mode; the running tor (doctor_tor) and the SOCKS socket
for notifications (doctor_notify) are checked from the same parsed lines.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

from tipline.config import is_loopback_host
from tipline.ops.doctor_findings import Finding, problem, warning
from tipline.ops.onion import AUTH_LINE


@dataclass
class TorLine:
    keyword: str  # lower case, without a +/ prefix
    value: str
    where: str  # FILE:LINE
    prefix: str = ""


def parse_torrc(path: Path, _depth: int = 0) -> list[TorLine]:
    """Tor's config syntax, enough for checking: comments, continuations, %include, +/ prefixes."""
    lines: list[TorLine] = []
    text = path.read_text("utf-8")
    pending, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].rstrip()
        if not pending:
            start = n
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = (pending + line).strip(), ""
        if not line:
            continue
        keyword, _, value = line.partition(" ")
        value = value.strip()
        if keyword.lower() == "%include" and _depth < 8:
            for target in sorted(glob.glob(value)):
                t = Path(target)
                files = (
                    sorted(p for p in t.iterdir() if p.is_file() and not p.name.startswith("."))
                    if t.is_dir()
                    else [t]
                )
                for f in files:
                    lines += parse_torrc(f, _depth + 1)
            continue
        prefix = keyword[0] if keyword[0] in "+/" else ""
        lines.append(TorLine(keyword[len(prefix) :].lower(), value, f"{path}:{start}", prefix))
    return lines


@dataclass
class OnionService:
    directory: str
    where: str
    options: dict[str, str]
    ports: list[TorLine]


def _port_target_ok(value: str) -> bool:
    parts = value.split()
    if len(parts) < 2:
        return True  # "HiddenServicePort 80": 127.0.0.1:80
    target = parts[1]
    if target.startswith("unix:") or target.isdigit():
        return True  # a bare port means 127.0.0.1:PORT
    host, sep, port = target.rpartition(":")
    return bool(sep) and port.isdigit() and is_loopback_host(host)


def _services(lines: list[TorLine]) -> tuple[list[OnionService], list[Finding]]:
    services: list[OnionService] = []
    out = []
    for ln in lines:
        if ln.keyword == "hiddenservicedir":
            services.append(OnionService(ln.value, ln.where, {}, []))
        elif ln.keyword.startswith("hiddenservice") and ln.keyword not in (
            "hiddenservicesinglehopmode",
            "hiddenservicenonanonymousmode",
        ):
            if not services:
                out.append(problem(f"{ln.where}: {ln.keyword} comes before any HiddenServiceDir."))
            elif ln.keyword == "hiddenserviceport":
                services[-1].ports.append(ln)
            else:
                services[-1].options[ln.keyword] = ln.value
    return services, out


def _client_auth(service: OnionService) -> list[Finding]:
    folder = Path(service.directory) / "authorized_clients"
    add = "Add one per journalist: tipline onion client-auth NAME --install (see docs/install.md)."
    try:
        names = sorted(p for p in folder.iterdir() if p.name.endswith(".auth"))
    except FileNotFoundError:
        return [
            problem(
                f"The journalist onion service has no client authorization: {folder} does not exist. {add}"
            )
        ]
    except PermissionError:
        return [
            warning(
                f"Cannot read {folder} to check the journalist service's client authorization: "
                "run tipline doctor as root, or check that it holds NAME.auth files."
            )
        ]
    if not names:
        return [
            problem(
                f"The journalist onion service has no client authorization ({folder} has no .auth file): "
                f"anyone who learns its address can reach the login page. {add}"
            )
        ]
    out = []
    for p in names:
        try:
            ok = AUTH_LINE.match(p.read_text("ascii").strip())
        except (OSError, UnicodeDecodeError) as e:
            out.append(warning(f"Cannot read {p} ({e})."))
            continue
        if not ok:
            out.append(
                problem(f"{p} is not a client authorization line (descriptor:x25519:KEY); Tor ignores it.")
            )
    return out


def check_torrc(path: Path) -> list[Finding]:
    try:
        lines = parse_torrc(path)
    except (OSError, UnicodeDecodeError) as e:
        return [problem(f"Cannot read the torrc {path} ({e}).")]
    services, out = _services(lines)
    if not services:
        out.append(problem(f"{path} defines no onion service (HiddenServiceDir). See deploy/torrc."))
    for s in services:
        if not s.ports:
            out.append(problem(f"{s.where}: the onion service {s.directory} has no HiddenServicePort."))
        for p in s.ports:
            if not _port_target_ok(p.value):
                out.append(
                    problem(
                        f"{p.where}: HiddenServicePort {p.value} forwards to a non-loopback address. "
                        "Fix: forward to 127.0.0.1:PORT (or unix:/path) only."
                    )
                )
        if s.options.get("hiddenservicepowdefensesenabled") != "1":
            out.append(
                problem(
                    f"{s.where}: the onion service {s.directory} has no proof-of-work defence against "
                    "floods. Fix: add HiddenServicePoWDefensesEnabled 1 after its HiddenServiceDir "
                    "(Tor 0.4.8+)."
                )
            )
    journalist = [s for s in services if "journalist" in Path(s.directory).name]
    if services and not journalist:
        out.append(
            problem(
                f"{path} has no journalist onion service (a HiddenServiceDir whose name contains "
                "'journalist', with client authorization). See deploy/torrc."
            )
        )
    for s in journalist:
        out += _client_auth(s)
    from tipline.ops.doctor_tor import check_running_tor  # it imports this module

    out += check_running_tor(lines, [Path(s.directory) for s in journalist], path)
    from tipline.ops.doctor_notify import check_socks_lines

    out += check_socks_lines(lines, path)
    safe = [ln for ln in lines if ln.keyword == "safelogging"]
    if safe and safe[-1].value != "1":
        out.append(
            problem(
                f"{safe[-1].where}: SafeLogging {safe[-1].value} lets Tor log addresses. Fix: SafeLogging 1"
            )
        )
    for ln in lines:
        if ln.keyword in ("hiddenservicesinglehopmode", "hiddenservicenonanonymousmode") and ln.value == "1":
            out.append(
                problem(f"{ln.where}: {ln.keyword} 1 makes the server's location public. Fix: remove it.")
            )
    return out
