"""Real receivers on loopback for the notification tests: a test CA, SMTP (aiosmtpd), HTTPS, SOCKS5.

Nothing here reaches a network: every server binds to 127.0.0.1 or a unix socket.
"""

from __future__ import annotations

import contextlib
import datetime
import http.server
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.web.server import free_port

USER, PASSWORD = "tipline", "correct horse battery staple"


# -- a test certificate authority -------------------------------------------------------------


@dataclass
class CA:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def new(cls, name: str) -> CA:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def write(self, path: Path) -> Path:
        path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        return path

    def server_context(self, folder: Path, *names: str) -> ssl.SSLContext:
        """A server TLS context with a certificate for these DNS names (and 127.0.0.1) signed by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        stem = folder / f"server-{names[0]}-{x509.random_serial_number() % 10**6}"
        crt, pem = stem.with_suffix(".crt"), stem.with_suffix(".key")
        crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pem.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, pem)
        return ctx


# -- SMTP ------------------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes  # the message exactly as it arrived after DATA
    tls: bool
    login: str | None


@dataclass
class Mailbox:
    """aiosmtpd's handler: keeps each accepted message as it arrived."""

    messages: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        login = session.auth_data if session.authenticated else None
        self.messages.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content,
                _tls(server, session),
                login,
            )
        )
        return "250 Message accepted for delivery"


def _tls(server, session) -> bool:
    """After STARTTLS aiosmtpd sets session.ssl; under implicit TLS the transport itself is TLS."""
    return bool(session.ssl) or server.transport.get_extra_info("ssl_object") is not None


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, auth_data=USER if ok else None)


class SmtpServer:
    """A real SMTP server on 127.0.0.1: STARTTLS (required, with AUTH), implicit TLS, or none (tls None)."""

    def __init__(self, tls: ssl.SSLContext | None, implicit: bool, port: int | None = None) -> None:
        self.mailbox = Mailbox()
        self.port = port or free_port()
        kw: dict = (
            {"ssl_context": tls}
            if implicit
            else {
                "tls_context": tls,
                "require_starttls": tls is not None,
                "authenticator": _authenticator,
                "auth_required": tls is not None,
            }
        )
        self.controller = Controller(
            self.mailbox, hostname="127.0.0.1", port=self.port, server_hostname="localhost", **kw
        )

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[Received]:
        return self.mailbox.messages


# -- HTTPS -----------------------------------------------------------------------------------------


@dataclass
class Request:
    line: bytes  # the request line exactly as sent
    headers: list[tuple[str, str]]  # every header, in order, as sent
    body: bytes


class HttpsReceiver:
    """A real HTTPS server on 127.0.0.1 that keeps each POST and answers with `status`."""

    def __init__(self, tls: ssl.SSLContext, status: int = 200) -> None:
        self.requests: list[Request] = []
        self.status = status
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(Request(self.raw_requestline, list(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> HttpsReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- SOCKS5 ----------------------------------------------------------------------------------------


def _exactly(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def _pipe(a: socket.socket, b: socket.socket) -> None:
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


class Socks5Server:
    """A small SOCKS5 server on a unix socket: no auth, CONNECT only, forwarding to 127.0.0.1.

    It records each request's address type, host and port, so a test sees that the
    client sent the name (ATYP 3) and resolved nothing itself. `reply` other than 0
    refuses every request with that RFC 1928 code.
    """

    def __init__(self, path: Path, reply: int = 0) -> None:
        self.path = path
        self.reply = reply
        self.requests: list[tuple[int, str, int]] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> Socks5Server:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.sock.close()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(client,), daemon=True).start()

    def _one(self, client: socket.socket) -> None:
        try:
            ver, n = _exactly(client, 2)
            methods = _exactly(client, n)
            if ver != 5 or 0 not in methods:
                client.sendall(b"\x05\xff")
                return client.close()
            client.sendall(b"\x05\x00")
            ver, cmd, _rsv, atyp = _exactly(client, 4)
            if atyp == 3:
                host = _exactly(client, _exactly(client, 1)[0]).decode("ascii")
            elif atyp == 1:
                host = str(ipaddress.ip_address(_exactly(client, 4)))
            else:
                host = str(ipaddress.ip_address(_exactly(client, 16)))
            port = int.from_bytes(_exactly(client, 2), "big")
            self.requests.append((atyp, host, port))
            if self.reply or cmd != 1 or host not in ("localhost", "127.0.0.1"):
                client.sendall(bytes([5, self.reply or 2, 0, 1, 0, 0, 0, 0, 0, 0]))
                return client.close()
            upstream = socket.create_connection(("127.0.0.1", port), 10)
            client.sendall(b"\x05\x00\x00\x01\x7f\x00\x00\x01" + upstream.getsockname()[1].to_bytes(2, "big"))
            threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
            _pipe(client, upstream)
        except (OSError, ConnectionError, ValueError):
            client.close()
