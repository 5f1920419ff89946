"""`tipline doctor --torrc`: ask the running tor whether it enforces client authorization (no Flask).

A NAME.auth file proves only that someone wrote it: tor may never have
loaded it (a reload that failed, a tor not restarted). So the doctor asks
tor over the torrc's ControlSocket for the journalist service's current
descriptor and checks that its introduction points do not open without a
client key (tipline.ops.hsdesc). Tor not running, or not yet on the network,
is a warning: then it serves nothing at all.
"""

from __future__ import annotations

from pathlib import Path

from tipline.ops.doctor_findings import Finding, problem, warning
from tipline.ops.doctor_torrc import TorLine
from tipline.ops.onion import OnionError, onion_from_hs_dir
from tipline.ops.onion_live import current
from tipline.ops.torcontrol import TorControl, TorControlError

ADD_SOCKET = (
    "Add deploy/torrc's control socket lines (ControlSocket /run/tor/control RelaxDirModeCheck, "
    "CookieAuthentication 1, ...) and restart tor."
)


def control_socket(lines: list[TorLine]) -> Path | None:
    """The last ControlSocket of the torrc (tor uses every one; any will do), or None."""
    for ln in reversed(lines):
        if ln.keyword == "controlsocket" and ln.value.split()[:1] not in ([], ["0"]):
            return Path(ln.value.split()[0].strip('"').removeprefix("unix:"))
    return None


def check_running_tor(lines: list[TorLine], journalist_dirs: list[Path], torrc: Path) -> list[Finding]:
    if not journalist_dirs:
        return []
    sock = control_socket(lines)
    if sock is None:
        return [
            problem(
                f"{torrc} has no ControlSocket, so nothing can check that the running tor enforces "
                f"client authorization on the journalist onion. {ADD_SOCKET}"
            )
        ]
    if not sock.exists():
        return [
            warning(
                f"Tor is not running (no control socket at {sock}), so the journalist onion is not "
                "served at all. Start tor (systemctl start tor), then run tipline doctor again."
            )
        ]
    out: list[Finding] = []
    try:
        with TorControl(sock) as tor:
            for hs_dir in journalist_dirs:
                out += _one(tor, hs_dir)
    except TorControlError as e:
        out.append(problem(f"Cannot ask tor whether it enforces client authorization: {e}"))
    return out


def _one(tor: TorControl, hs_dir: Path) -> list[Finding]:
    label = onion_from_hs_dir(hs_dir)
    if label is None:
        return [
            warning(
                f"Cannot read {hs_dir / 'hostname'}, so cannot ask tor about the journalist onion: "
                "run tipline doctor as root."
            )
        ]
    try:
        served = current(tor, label)
    except OnionError as e:
        return [problem(str(e))]
    if served.descriptor is None:
        return [
            warning(
                f"Tor has no descriptor for the journalist onion {label}.onion yet (it is still "
                "connecting to the Tor network, or cannot): run tipline doctor again in a minute."
            )
        ]
    if served.public:
        return [
            problem(
                f"The running tor serves the journalist onion {label}.onion WITHOUT client "
                "authorization: anyone with its address can reach the login page. Tor has not loaded "
                f"the keys in {hs_dir / 'authorized_clients'} (a reload that failed, or none there). "
                f"Fix: tipline onion reload --hs-dir {hs_dir} (it says whether tor then enforces it), or "
                "tipline onion client-auth NAME --install."
            )
        ]
    return []
