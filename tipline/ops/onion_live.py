"""What the running tor does with the journalist onion: install a client key, reload, and confirm.

A file in authorized_clients/ proves nothing by itself: tor reads those files
only at start and on reload, and a reload can fail silently (on a minimal
image without procps, tor@default's `ExecReload=/bin/kill` fails while
`systemctl reload tor` exits 0). So everything here asks tor itself, over its
control socket: SIGNAL RELOAD instead of a signal from systemd, and the
service's own current descriptor (GETINFO hs/service/desc/id/ADDR, read with
tipline.ops.hsdesc) as the proof of what tor serves.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from tipline.ops.hsdesc import Descriptor, DescriptorError
from tipline.ops.onion import ClientAuth, OnionError, onion_from_hs_dir
from tipline.ops.tor_network import Sample, Stall, sample
from tipline.ops.torcontrol import TorControl, TorControlError

CONFIRM_TIMEOUT_S = 60.0
POLL_S = 0.5
RELOAD_SETTLE_S = 3.0


@dataclass(frozen=True)
class Served:
    """How tor serves one onion service right now; descriptor is None if tor has built none yet."""

    label: str
    descriptor: Descriptor | None

    @property
    def public(self) -> bool:
        return self.descriptor is not None and not self.descriptor.needs_client_auth


def not_built(e: TorControlError) -> bool:
    """Tor has no descriptor for the address (yet): 552, or 551 "Not found in cache", tor's reply for a
    service of its own that has built none, as on a tor not (yet) on the network."""
    return e.code == "552" or (e.code == "551" and str(e).endswith("Not found in cache"))


def current(tor: TorControl, label: str) -> Served:
    """The descriptor tor built for the service LABEL (an address without .onion)."""
    try:
        text = tor.getinfo(f"hs/service/desc/id/{label}")
    except TorControlError as e:
        if not_built(e):
            return Served(label, None)
        raise
    try:
        return Served(label, Descriptor.parse(text, label))
    except DescriptorError as e:
        raise OnionError(f"tor's descriptor for {label}.onion cannot be read ({e}).") from None


def _label(hs_dir: Path) -> str:
    label = onion_from_hs_dir(hs_dir)
    if label is None:
        raise OnionError(
            f"Cannot read the service's address from {hs_dir / 'hostname'}: run this as root, "
            "after tor has started once with deploy/torrc."
        )
    return label


def _write_auth(hs_dir: Path, auth: ClientAuth) -> Path:
    """HS_DIR/authorized_clients/NAME.auth, owned like HS_DIR (tor's user), mode 0600, never overwriting."""
    st = hs_dir.stat()
    folder = hs_dir / "authorized_clients"
    if not folder.is_dir():
        folder.mkdir(mode=0o700)
        os.chown(folder, st.st_uid, st.st_gid)
    path = folder / f"{auth.name}.auth"
    tmp = folder / f".{auth.name}.auth.part"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise OnionError(f"{tmp} exists: another client-auth is running, or remove it.") from None
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(auth.server_line + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.chown(tmp, st.st_uid, st.st_gid)
        os.link(tmp, path)  # fails if NAME.auth exists: never replace a journalist's key by accident
    except FileExistsError:
        raise OnionError(
            f"{path} already exists. To replace {auth.name}'s key, delete it first "
            f"(then run tipline onion reload), or choose another name."
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    dfd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return path


class Unconfirmed(OnionError):
    """Tor holds the key's public half but has not confirmed serving it: the private half must
    still reach the journalist, or the key tor now trusts is one nobody holds."""

    def __init__(self, message: str, auth: ClientAuth, path: Path) -> None:
        super().__init__(message)
        self.auth, self.path = auth, path


def install(
    name: str, hs_dir: Path, control_socket: Path, timeout: float = CONFIRM_TIMEOUT_S
) -> tuple[ClientAuth, Path]:
    """Make a key pair for NAME, give tor its public half, reload tor, and wait until tor serves it.

    Nothing is written unless tor's control socket answers first. If tor does not confirm in
    time, or is clearly off the Tor network and getting nowhere (tipline.ops.tor_network), the key
    file stays (tor may load it later) and Unconfirmed says so, carrying the key pair for the caller
    to hand out."""
    label = _label(hs_dir)
    auth = ClientAuth.generate(name, label)
    with TorControl(control_socket) as tor:
        current(tor, label)  # the service is tor's, and tor answers, before anything is written
        path = _write_auth(hs_dir, auth)
        tor.reload()
        deadline = time.monotonic() + timeout
        stall = Stall()
        while True:
            served = current(tor, label)
            if served.descriptor is not None and served.descriptor.opens_with(auth.private):
                return auth, path
            now = time.monotonic()
            network = sample(tor) if served.descriptor is None else None
            if stall.stalled(network, now):
                raise Unconfirmed(offline_message(path, network, stall.window), auth, path)
            if now > deadline:
                state = (
                    "has built no descriptor for it (is it connected to the Tor network?)"
                    if served.descriptor is None
                    else "still serves a descriptor this key cannot open"
                )
                raise Unconfirmed(
                    f"Wrote {path}, but after {timeout:.0f} s tor {state}. Check tor's log "
                    "(journalctl -u tor@default), then run tipline onion reload.",
                    auth,
                    path,
                )
            time.sleep(POLL_S)


def offline_message(path: Path, network: Sample, window: float) -> str:
    """Why install() stopped early: tor is off the network, so no descriptor can prove the key yet."""
    return (
        f"Wrote {path}, but tor is not connected to the Tor network (bootstrap at {network.progress} %, "
        f"no circuit, no live connection, no progress for {window:.0f} s), so it cannot confirm the key "
        "yet: tor builds the journalist service's descriptor only once it is on the network. Tor was "
        'reloaded and holds the key. Once journalctl -u tor@default says "Bootstrapped 100%", run '
        "tipline onion reload to confirm it serves the journalist onion only to authorized clients."
    )


def reload(hs_dir: Path, control_socket: Path) -> Served:
    """SIGNAL RELOAD, then the journalist service as tor serves it after the reload."""
    label = _label(hs_dir)
    with TorControl(control_socket) as tor:
        before = current(tor, label).descriptor
        tor.reload()
        # A reload that changes the authorized clients rebuilds the descriptor (with a new
        # ephemeral key) at once; one that changes nothing keeps it: wait a moment for either.
        settle = time.monotonic() + RELOAD_SETTLE_S
        while True:
            served = current(tor, label)
            rebuilt = served.descriptor is not None and (
                before is None or served.descriptor.ephemeral_key != before.ephemeral_key
            )
            if rebuilt or time.monotonic() > settle:
                return served
            time.sleep(POLL_S)
