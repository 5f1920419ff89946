"""A notification's route: smtplib through deploy/torrc's SOCKS unix socket and a real tor (harness.py).

The mail server, an SMTP receiver on loopback, is reached both ways a
deployment can reach one: through an exit (harness.py's network plus one
relay whose exit policy accepts only that port, as a public mail
server is reached through a public exit), and as an onion service of the
network (a provider with an onion address). The sending tor is configured with
deploy/torrc's own SocksPort line (only its folder changed), so the socket's
flags are the ones a server gets. A message sent with smtplib through that
socket must arrive byte for byte; STARTTLS inside that stream must verify the
receiver's certificate against its name (accepted when trusted, refused
otherwise); a user outside the socket's group must be refused by the kernel
before tor sees anything.

The SOCKS5 client is tipline notify's own (tipline.notify.route): the name goes
to tor unresolved.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import pwd
import shutil
import smtplib
import socket
import socketserver
import ssl
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.deploy.common import DEPLOY, TORRC_RUN_DIR
from tipline.notify.route import Route

from .harness import TorNetwork, Unavailable, find_tools, free_port

SMTP_VIRTUAL_PORT = 25
LOOPBACK = ipaddress.ip_address("127.0.0.1")


def deploy_socks_line() -> str:
    """deploy/torrc's one SocksPort line, exactly as shipped."""
    (line,) = [ln for ln in (DEPLOY / "torrc").read_text().splitlines() if ln.startswith("SocksPort ")]
    return line


def connect(route_spec: str, host: str, port: int, timeout: float) -> socket.socket:
    """A stream to HOST:PORT through the SOCKS5 proxy at ROUTE_SPEC: tipline notify's own client."""
    return Route("tor", route_spec).connect(host, port, timeout)


class SMTPOverSocks(smtplib.SMTP):
    """smtplib.SMTP whose connection goes through the SOCKS socket (the way tipline notify sends)."""

    def __init__(self, route_spec: str, **kw) -> None:
        self.route_spec = route_spec
        super().__init__(**kw)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return connect(self.route_spec, host, port, timeout)


# -- a minimal SMTP receiver on loopback ------------------------------------------------------------


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    peer: str


@dataclass
class Inbox:
    messages: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    tls_sessions: int = 0


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the receiver's address through the exit), and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-mx")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "mx.crt", folder / "mx.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class _SMTPHandler(socketserver.StreamRequestHandler):
    """RFC 5321's commands that smtplib's send_message uses, and nothing more."""

    def handle(self) -> None:
        # A probe that only opened the stream, or a client that refused our certificate, just goes.
        with contextlib.suppress(ConnectionError):
            self._session()

    def _session(self) -> None:
        inbox: Inbox = self.server.inbox  # type: ignore[attr-defined]

        def say(text: str) -> None:
            self.wfile.write(text.encode() + b"\r\n")

        say("220 test-mx ESMTP")
        sender, recipients = "", []
        while line := self.rfile.readline():
            cmd = line.decode("ascii", "replace").rstrip("\r\n")
            verb = cmd[:4].upper()
            if verb == "EHLO":
                say("250-test-mx")
                say("250-STARTTLS")
                say("250 8BITMIME")
            elif verb == "STAR":  # STARTTLS: the rest of the session inside TLS (RFC 3207)
                say("220 Ready to start TLS")
                try:
                    tls = self.server.tls.wrap_socket(self.request, server_side=True)  # type: ignore[attr-defined]
                except (ssl.SSLError, OSError):
                    return  # the client refused our certificate
                self.rfile, self.wfile = tls.makefile("rb"), tls.makefile("wb", buffering=0)
                inbox.tls_sessions += 1
                sender, recipients = "", []
            elif verb == "MAIL":
                sender, recipients = cmd.split(":", 1)[1].strip(), []
                say("250 OK")
            elif verb == "RCPT":
                recipients.append(cmd.split(":", 1)[1].strip())
                say("250 OK")
            elif verb == "DATA":
                say("354 End data with <CR><LF>.<CR><LF>")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                inbox.messages.append(Received(sender, recipients, data, self.client_address[0]))
                inbox.arrived.set()
                say("250 OK queued")
            elif verb == "QUIT":
                say("221 Bye")
                return
            else:
                say("502 Command not implemented")


class ExitNetwork(TorNetwork):
    """harness.py's network with one more relay, an exit to EXIT_PORT only (the SMTP receiver's)."""

    RELAYS = TorNetwork.RELAYS + 1

    def __init__(self, base: Path, exit_port: int) -> None:
        super().__init__(base)
        self.exit_port = exit_port

    def _relay_lines(self, node) -> list[str]:
        lines = super()._relay_lines(node)
        exit_relay = self.relays[-1]
        if node is exit_relay:
            lines.remove("ExitRelay 0")
            lines.remove("ExitPolicy reject *:*")
            # Loopback is a private address, which exits refuse unless told otherwise. The policy names
            # any address (the namespace has only loopback): clients judge an exit by a summary that
            # leaves private addresses out, and would see "accept 127.0.0.1:PORT" as "reject all".
            lines += ["ExitRelay 1", "ExitPolicyRejectPrivate 0", f"ExitPolicy accept *:{self.exit_port}"]
            lines += ["ExitPolicy reject *:*"]
        if node.dir_port:
            lines.append(f"TestingDirAuthVoteExit ${exit_relay.fingerprint}")
        return lines


@dataclass
class NotifyRoute:
    net: TorNetwork
    onion: str  # the mail server's address in the private network
    mx: tuple[str, int]  # the mail server's own address, reached through the exit
    socks: Path  # the sending tor's SOCKS socket, deploy/torrc's line
    sender_log: Path
    cert: Path  # the receiver's certificate, to trust it
    inbox: Inbox
    consensus_s: float
    first_stream_s: float


@pytest.fixture(scope="module")
def route(netns, tmp_path_factory) -> Iterator[NotifyRoute]:
    try:
        find_tools()
    except Unavailable as e:
        unavailable(str(e))
    base = tmp_path_factory.mktemp("notify")
    server = socketserver.ThreadingTCPServer(("127.0.0.1", free_port()), _SMTPHandler)
    net = ExitNetwork(base / "net", server.server_address[1])
    server.daemon_threads = True
    server.inbox = Inbox()  # type: ignore[attr-defined]
    cert, key = make_certificate(base)
    server.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)  # type: ignore[attr-defined]
    server.tls.load_cert_chain(cert, key)  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    run: Path | None = None
    try:
        net.start()
        hs = base / "hs-smtp"
        hs.mkdir(mode=0o700)
        mx = net.add_tor("mx", [f"HiddenServiceDir {hs}", f"HiddenServicePort 25 {server.server_address[1]}"])
        # The sending tor: deploy/torrc's SocksPort line, its folder rendered as render_torrc does, and
        # that folder like Debian's /run/tor (2755), which RelaxDirModeCheck is there for.
        # Outside pytest's tmp folder (0700, root's), so that another user can reach the socket at all.
        run = Path(tempfile.mkdtemp(prefix="tipline-notify-run-"))
        run.chmod(0o2755)
        sender = net.add_tor("sender", [deploy_socks_line().replace(TORRC_RUN_DIR, str(run))])
        consensus_s = net.wait_for_consensus(90)
        for t in (mx, sender):
            t.start(net.tor, net.empty)
        onion = _wait_for(lambda: (hs / "hostname").read_text().strip(), 30, net)
        socks = run / "socks"
        # The descriptor takes a few seconds to publish: retry the stream until it opens.
        _wait_for(lambda: connect(str(socks), onion, SMTP_VIRTUAL_PORT, 30).close() or True, 120, net)
        first_stream_s = time.monotonic() - net.launched_at
        print(
            f"\nprivate Tor network for notify: consensus after {consensus_s:.1f} s, "
            f"first SMTP stream through the SOCKS socket after {first_stream_s:.1f} s"
        )
        inbox: Inbox = server.inbox  # type: ignore[attr-defined]
        yield NotifyRoute(
            net=net,
            onion=onion,
            mx=server.server_address,
            socks=socks,
            sender_log=sender.log,
            cert=cert,
            inbox=inbox,
            consensus_s=consensus_s,
            first_stream_s=first_stream_s,
        )
    finally:
        net.stop()
        if run is not None:
            shutil.rmtree(run, ignore_errors=True)
        server.shutdown()
        server.server_close()


def _wait_for(fn, timeout: float, net: TorNetwork):
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        for t in net.all_tors():
            t.check_running()
        try:
            return fn()
        except OSError as e:
            last = e
            time.sleep(0.5)
    raise RuntimeError(f"not ready after {timeout} s: {last}")


def test_socket_is_deploy_torrcs_and_group_only(route):
    line = deploy_socks_line()
    assert line == "SocksPort unix:/run/tor/socks GroupWritable RelaxDirModeCheck"
    st = route.socks.stat()
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
    assert "Opened Socks listener connection (ready) on " + str(route.socks) in route.sender_log.read_text()


@pytest.mark.parametrize("way", ["exit", "onion"])
def test_smtp_through_the_socks_socket_arrives_exactly(route, way):
    host, port = route.mx if way == "exit" else (route.onion, SMTP_VIRTUAL_PORT)
    msg = EmailMessage()
    msg["From"] = "tipline@example.org"
    msg["To"] = "desk@example.org"
    msg["Subject"] = "Tipline"
    msg.set_content("There is new activity on the tip line.\n")
    before = len(route.inbox.messages)
    route.inbox.arrived.clear()
    # local_hostname: EHLO must not name the server (smtplib's default is its FQDN).
    kw = {"host": host, "port": port, "local_hostname": "localhost", "timeout": 120}
    if way == "exit":  # the exit's descriptor may still be on its way: retry the first stream
        _wait_for(lambda: connect(str(route.socks), host, port, 30).close() or True, 60, route.net)
    with SMTPOverSocks(str(route.socks), **kw) as smtp:
        refused = smtp.send_message(msg)
    assert refused == {}
    assert route.inbox.arrived.wait(30)
    (got,) = route.inbox.messages[before:]
    assert (got.sender, got.recipients) == ("<tipline@example.org>", ["<desk@example.org>"])
    assert got.data == msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    # The mail server saw a tor (the exit, or its own onion service's), never the sender's own socket.
    assert got.peer == "127.0.0.1"


def test_user_outside_the_group_is_refused(route):
    """The kernel refuses a connect() by a user without write on the socket; its group gets through."""
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        unavailable("no user 'nobody' on this machine")
    st = route.socks.stat()
    # The socket's folder must be enterable by others for the group test to mean anything (Debian's is).
    assert route.socks.parent.stat().st_mode & 0o005 == 0o005
    assert _connect_as(nobody.pw_uid, nobody.pw_gid, [], route.socks) == "refused"
    assert _connect_as(nobody.pw_uid, nobody.pw_gid, [st.st_gid], route.socks) == "socks5"


def _connect_as(uid: int, gid: int, groups: list[int], sock: Path) -> str:
    """In a forked child with these ids (no interpreter to start, which that user may not read):
    "refused" if the kernel refuses connect(), "socks5" if tor answers the SOCKS5 greeting."""
    pid = os.fork()
    if pid == 0:  # the child: system calls only, then _exit
        code = 1
        try:
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(30)
            try:
                s.connect(str(sock))
            except PermissionError:
                code = 13
            else:
                s.sendall(b"\x05\x01\x00")
                code = 0 if s.recv(2) == b"\x05\x00" else 1
        finally:
            os._exit(code)
    _pid, status = os.waitpid(pid, 0)
    return {0: "socks5", 13: "refused"}.get(os.waitstatus_to_exitcode(status), f"status {status}")


def test_starttls_through_the_exit_verifies_the_certificate(route):
    """STARTTLS inside the SOCKS stream checks the certificate against the mail server's name, not the
    socket's: the receiver's own certificate is accepted, and refused when it is not trusted."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "tipline@example.org", "desk@example.org", "Tipline"
    msg.set_content("There is new activity on the tip line.\n")
    host, port = route.mx
    kw = {"host": host, "port": port, "local_hostname": "localhost", "timeout": 120}
    _wait_for(lambda: connect(str(route.socks), host, port, 30).close() or True, 60, route.net)
    sessions, before = route.inbox.tls_sessions, len(route.inbox.messages)
    with SMTPOverSocks(str(route.socks), **kw) as smtp:
        smtp.starttls(context=ssl.create_default_context(cafile=route.cert))
        smtp.send_message(msg)
    assert route.inbox.tls_sessions == sessions + 1
    assert route.inbox.messages[before].data == msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    with SMTPOverSocks(str(route.socks), **kw) as smtp, pytest.raises(ssl.SSLCertVerificationError):
        smtp.starttls(context=ssl.create_default_context())  # the system's CAs: not ours
    assert len(route.inbox.messages) == before + 1  # nothing more arrived
