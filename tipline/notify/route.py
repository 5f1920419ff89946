"""How a notification leaves the server: straight out, or through tor's SOCKS5 listener.

A minimal SOCKS5 CONNECT client (RFC 1928, "no authentication" only) of our
own, because no SOCKS library supports a proxy on a unix socket well, and a
unix socket with group permissions is how only the notify unit may use tor
(docs/notifications.md "The route"). The hostname goes to the proxy as a
domain name (ATYP 3), so the name is resolved inside tor and no DNS query
leaves this machine. Every reply byte is checked; any deviation is an error.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

VERSION = 5
NO_AUTH = 0
CONNECT = 1
ATYP_IPV4, ATYP_DOMAIN, ATYP_IPV6 = 1, 3, 4
# RFC 1928 section 6; tor adds nothing of its own to these.
REPLIES = {
    1: "general SOCKS server failure",
    2: "connection not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}


class RouteError(OSError):
    """The proxy could not be used, or refused the connection; the message says which."""


@dataclass(frozen=True)
class Route:
    """`direct`, or through the SOCKS5 proxy `socks` (a unix socket path or host:port)."""

    kind: str  # "tor" or "direct"
    socks: str = ""

    def describe(self) -> str:
        return f"through tor ({self.socks})" if self.kind == "tor" else "directly (not through tor)"

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        """A TCP connection to host:port, made directly or by the proxy; the caller owns it."""
        if self.kind == "direct":
            return socket.create_connection((host, port), timeout)
        return socks5_connect(self.socks, host, port, timeout)


def _proxy_socket(proxy: str, timeout: float) -> socket.socket:
    if proxy.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(proxy)
        except BaseException:
            s.close()
            raise
        return s
    host, _, port = proxy.rpartition(":")
    return socket.create_connection((host.strip("[]"), int(port)), timeout)


def _exactly(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise RouteError("the SOCKS proxy closed the connection in the middle of its reply")
        buf += chunk
    return buf


def _destination(host: str) -> bytes:
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        name = host.encode("idna")
        if not 0 < len(name) < 256:
            raise RouteError(f"the host name {host!r} is too long for SOCKS5") from None
        return bytes([ATYP_DOMAIN, len(name)]) + name
    return bytes([ATYP_IPV4 if ip.version == 4 else ATYP_IPV6]) + ip.packed


def socks5_connect(proxy: str, host: str, port: int, timeout: float) -> socket.socket:
    """Ask the SOCKS5 proxy for a connection to host:port; the socket then carries it (RFC 1928)."""
    s = _proxy_socket(proxy, timeout)
    try:
        s.sendall(bytes([VERSION, 1, NO_AUTH]))
        ver, method = _exactly(s, 2)
        if ver != VERSION or method != NO_AUTH:
            raise RouteError("the SOCKS proxy does not offer SOCKS5 without authentication")
        s.sendall(bytes([VERSION, CONNECT, 0]) + _destination(host) + port.to_bytes(2, "big"))
        ver, rep, rsv, atyp = _exactly(s, 4)
        if ver != VERSION or rsv != 0:
            raise RouteError("the SOCKS proxy's reply is not SOCKS5")
        if rep != 0:
            raise RouteError(f"the SOCKS proxy could not connect: {REPLIES.get(rep, f'reply {rep}')}")
        # The bound address, which we do not use, must still be read whole and well formed.
        if atyp == ATYP_IPV4:
            _exactly(s, 4 + 2)
        elif atyp == ATYP_IPV6:
            _exactly(s, 16 + 2)
        elif atyp == ATYP_DOMAIN:
            _exactly(s, _exactly(s, 1)[0] + 2)
        else:
            raise RouteError("the SOCKS proxy's reply has an unknown address type")
        return s
    except BaseException:
        s.close()
        raise
