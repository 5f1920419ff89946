"""A minimal client for tor's control protocol over its unix ControlSocket (no Flask here).

Just what `tipline onion client-auth --install` and `tipline doctor` need:
SAFECOOKIE authentication (control-spec 3.24 AUTHCHALLENGE: tor proves it
knows the cookie before we send anything derived from it), SIGNAL RELOAD
(tor re-reads its torrc and authorized_clients/, as SIGHUP would, without
depending on /bin/kill or systemd's reload) and GETINFO. Replies follow
control-spec 2.3: "250-" mid lines, "250+" data blocks ended by a lone ".",
"250 " the end line.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import socket
from pathlib import Path

DEFAULT_SOCKET = Path("/run/tor/control")
SERVER_KEY = b"Tor safe cookie authentication server-to-controller hash"
CLIENT_KEY = b"Tor safe cookie authentication controller-to-server hash"
TIMEOUT_S = 30
MAX_REPLY = 4 * 1024 * 1024  # a descriptor is ~10-60 KB; refuse to buffer without end


class TorControlError(Exception):
    """Tor's control socket cannot be used, or tor refused a command; the message says what to do."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code  # tor's reply code when tor refused a command (e.g. "552")


class TorControl:
    """One authenticated control connection. `with TorControl(path) as tor: tor.getinfo(...)`."""

    def __init__(self, path: Path = DEFAULT_SOCKET) -> None:
        self.path = Path(path)
        self._sock: socket.socket | None = None
        self._buf = b""

    def __enter__(self) -> TorControl:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT_S)
        try:
            sock.connect(str(self.path))
        except OSError as e:
            sock.close()
            raise TorControlError(
                f"Cannot connect to tor's control socket {self.path} ({e.strerror or e}). "
                "Is tor running with deploy/torrc's ControlSocket? Run this as root."
            ) from None
        self._sock = sock
        try:
            self._authenticate()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.sendall(b"QUIT\r\n")
            self._sock.close()
            self._sock = None

    # -- protocol

    def _line(self) -> bytes:
        while b"\r\n" not in self._buf:
            if len(self._buf) > MAX_REPLY:
                raise TorControlError("tor's control socket sent an over-long reply.")
            try:
                chunk = self._sock.recv(65536)
            except OSError as e:
                raise TorControlError(f"Reading tor's control socket failed ({e}).") from None
            if not chunk:
                raise TorControlError("tor closed the control connection.")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line

    def command(self, line: str) -> list[tuple[str, str]]:
        """Send LINE; return [(keyword-or-text, data-block)] of a 250 reply, raise on any other."""
        self._sock.sendall(line.encode("ascii") + b"\r\n")
        out: list[tuple[str, str]] = []
        total = 0
        while True:
            raw = self._line()
            total += len(raw)
            if total > MAX_REPLY:
                raise TorControlError("tor's control socket sent an over-long reply.")
            text = raw.decode("utf-8", "replace")
            code, sep, rest = text[:3], text[3:4], text[4:]
            if sep == "+":
                data = []
                while (d := self._line()) != b".":
                    total += len(d)
                    if total > MAX_REPLY:
                        raise TorControlError("tor's control socket sent an over-long reply.")
                    data.append(d[1:] if d.startswith(b"..") else d)
                out.append((rest, b"\n".join(data).decode("utf-8", "replace")))
            else:
                out.append((rest, ""))
            if sep == " ":
                if code != "250":
                    raise TorControlError(f"tor refused {line.split()[0]}: {code} {rest}", code)
                return out

    def _authenticate(self) -> None:
        info = " ".join(k for k, _ in self.command("PROTOCOLINFO 1"))
        methods = re.search(r"METHODS=(\S+)", info)
        cookie_file = re.search(r'COOKIEFILE="((?:[^"\\]|\\.)*)"', info)
        if not methods or "SAFECOOKIE" not in methods.group(1).split(",") or not cookie_file:
            raise TorControlError(
                f"tor's control socket {self.path} does not offer cookie authentication. "
                "Fix: CookieAuthentication 1 in the torrc (see deploy/torrc)."
            )
        path = re.sub(r"\\(.)", r"\1", cookie_file.group(1))
        try:
            cookie = Path(path).read_bytes()
        except OSError as e:
            raise TorControlError(
                f"Cannot read tor's control cookie {path} ({e.strerror}): run as root."
            ) from None
        client_nonce = os.urandom(32)
        (reply, _), *_ = self.command(f"AUTHCHALLENGE SAFECOOKIE {client_nonce.hex()}")
        fields = dict(re.findall(r"(\w+)=([0-9A-Fa-f]+)", reply))
        try:
            server_hash, server_nonce = (
                bytes.fromhex(fields["SERVERHASH"]),
                bytes.fromhex(fields["SERVERNONCE"]),
            )
        except (KeyError, ValueError):
            raise TorControlError("tor's reply to AUTHCHALLENGE is malformed.") from None
        msg = cookie + client_nonce + server_nonce
        if not hmac.compare_digest(hmac.new(SERVER_KEY, msg, hashlib.sha256).digest(), server_hash):
            raise TorControlError(
                f"The process on {self.path} does not know tor's cookie: it is not this tor."
            )
        self.command(f"AUTHENTICATE {hmac.new(CLIENT_KEY, msg, hashlib.sha256).hexdigest()}")

    # -- commands

    def getinfo(self, key: str) -> str:
        """The value of one GETINFO key (a data block or a one-line value)."""
        for k, data in self.command(f"GETINFO {key}"):
            if k.startswith(f"{key}="):
                return data or k[len(key) + 1 :]
        raise TorControlError(f"tor gave no value for {key}.")

    def reload(self) -> None:
        """SIGNAL RELOAD: tor re-reads its configuration and each service's authorized_clients/."""
        self.command("SIGNAL RELOAD")
