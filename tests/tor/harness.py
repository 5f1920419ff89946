"""A private Tor network on loopback, in a network namespace of its own, with Tipline behind it.

Used by tests/tor (pytest) and bench/tor.py. Nothing here can reach the public
network: `NetNamespace` moves the calling thread into a new network namespace
that holds only the loopback interface, and every process the harness starts
(tor, `tipline serve`, Chromium) inherits it. Only the thread that enters
moves (in tests, pytest's main thread for the module's duration); it leaves
again at the end, so the rest of a test session is untouched.

The network (`TorNetwork`): 3 directory authorities (also relays) and 2
relays, all `TestingTorNetwork 1`, all on 127.0.0.1 ports, voting every 10 s.
Authority keys come from `tor-gencert`, relay keys from `tor --list-fingerprint`.

The deployment (`TiplineOnTor`): deploy/torrc rendered by its own substitution
rule (folders and ports changed, nothing else; tests/deploy/common.py's
render_torrc), run by a tor that also reads the testing-network lines from its
--defaults-torrc; the source app and the journalist app as real `tipline
serve` processes on the loopback ports the rendered torrc points at; a
journalist client-authorization key made by `tipline onion client-auth`; and
two client tors with SOCKS ports, one holding that key and one without it
(`add_client` starts more). The service tor's control socket is deploy/torrc's
ControlSocket, rendered into the service folder (`control_socket`), as
`tipline onion` and `tipline doctor` use it on a server.

Logs: every tor writes DATA/notice.log (and DATA/stdout.log); `log_paths()`
lists them with the apps' logs. Each tor is started with
--__OwningControllerProcess <this pid>, so it exits if the test run dies.
"""

from __future__ import annotations

import ctypes
import fcntl
import http.client
import math
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.deploy.common import TORRC_JOURNALIST_TARGET, TORRC_SOURCE_TARGET, control_socket, render_torrc
from tests.packages import AS_ROOT, not_installed
from tests.web.server import Server, free_port, make_server

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
VOTING_INTERVAL = 10  # seconds; see the authorities' torrc


class Unavailable(Exception):
    """The harness cannot run on this machine (not root, no namespaces, no tor); says why."""


# -- the network namespace ---------------------------------------------------------------------


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def interfaces() -> list[str]:
    """The network interfaces the calling thread's namespace has."""
    lines = Path("/proc/thread-self/net/dev").read_text().splitlines()[2:]
    return sorted(line.split(":", 1)[0].strip() for line in lines)


def listening_addresses() -> list[str]:
    """Every listening TCP socket in the calling thread's namespace, as 'address:port'."""
    out = []
    for name, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/thread-self/net/{name}").read_text().splitlines()[1:]:
            local, _remote, state = line.split()[1:4]
            if state == "0A":  # LISTEN
                out.append(_hex_address(local, width))
    return out


def tcp_peers(local_port: int) -> list[str]:
    """The remote addresses of the TCP connections to LOCAL_PORT (established or closing)."""
    peers = []
    for name, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/thread-self/net/{name}").read_text().splitlines()[1:]:
            local, remote, state = line.split()[1:4]
            if state != "0A" and int(local.rsplit(":", 1)[1], 16) == local_port:
                peers.append(_hex_address(remote, width).rsplit(":", 1)[0])
    return peers


def _hex_address(text: str, width: int) -> str:
    addr, port = text.split(":")
    raw = bytes.fromhex(addr)
    # /proc/net/tcp* writes each 32-bit word in host (little-endian) order.
    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if width == 8 else socket.AF_INET6
    return f"{socket.inet_ntop(family, raw)}:{int(port, 16)}"


class NetNamespace:
    """`with NetNamespace():` the calling thread is in a new network namespace with only loopback, up.

    Threads and processes started by that thread meanwhile are in it too (and stay
    there). On exit the thread returns to the namespace it came from."""

    def __init__(self) -> None:
        self._home: int | None = None
        self.ident = ""

    def __enter__(self) -> NetNamespace:
        if os.geteuid() != 0:
            raise Unavailable(f"a private network namespace needs root (unshare(CLONE_NEWNET)): {AS_ROOT}")
        libc = _libc()
        self._home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        if libc.unshare(CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            os.close(self._home)
            self._home = None
            raise Unavailable(f"unshare(CLONE_NEWNET) refused: {os.strerror(err)}")
        try:
            # `ip link set lo up`, without needing iproute2.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sh", b"lo", 0)))[1]
                try:
                    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))
                except PermissionError as e:  # root without CAP_NET_ADMIN: a container that withholds it
                    raise Unavailable(f"bringing up loopback needs CAP_NET_ADMIN, not given here: {e}") from e
            if interfaces() != ["lo"]:
                raise RuntimeError(f"the new namespace has interfaces {interfaces()}, not just lo")
        except BaseException:
            self.__exit__()
            raise
        self.ident = os.readlink("/proc/thread-self/ns/net")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._home is None:
            return
        if _libc().setns(self._home, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back to the original network namespace failed")
        os.close(self._home)
        self._home = None

    def check_inside(self) -> None:
        """Raise unless the calling thread is in this namespace."""
        here = os.readlink("/proc/thread-self/ns/net")
        if here != self.ident:
            raise RuntimeError(f"this thread is in {here}, not in the private namespace {self.ident}")


# -- SOCKS5 (socks5h: the onion name goes to the proxy) and HTTP over it -----------------------

SOCKS_REPLIES = {
    1: "general failure",
    2: "not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
    # Tor's extended errors (SocksPort ... ExtendedErrors), for onion services:
    0xF0: "onion service descriptor cannot be found",
    0xF1: "onion service descriptor is invalid",
    0xF2: "onion service introduction failed",
    0xF3: "onion service rendezvous failed",
    0xF4: "onion service needs client authorization",
    0xF5: "onion service client authorization is wrong",
    0xF6: "onion address is invalid",
    0xF7: "onion service introduction timed out",
}
MISSING_CLIENT_AUTH = 0xF4


class SocksError(OSError):
    def __init__(self, code: int) -> None:
        super().__init__(f"SOCKS5 reply {code:#x}: {SOCKS_REPLIES.get(code, 'unknown')}")
        self.code = code


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("the SOCKS proxy closed the connection")
        buf += chunk
    return buf


def socks_connect(
    proxy_port: int, host: str, port: int, timeout: float = 120, isolation: str | None = None
) -> socket.socket:
    """A TCP stream to HOST:PORT through the SOCKS5 proxy on 127.0.0.1:PROXY_PORT (RFC 1928).

    The name is sent to the proxy unresolved (socks5h). With ISOLATION, it is sent as
    the username/password, so Tor builds a circuit of its own (IsolateSOCKSAuth)."""
    sock = socket.create_connection(("127.0.0.1", proxy_port), timeout=timeout)
    try:
        sock.sendall(b"\x05\x01" + (b"\x02" if isolation else b"\x00"))
        version, method = _recv_exact(sock, 2)
        if version != 5 or method == 0xFF:
            raise ConnectionError(f"SOCKS5 proxy refused the method (version {version}, method {method})")
        if method == 2:
            cred = (isolation or "x").encode()[:255]
            sock.sendall(b"\x01" + bytes([len(cred)]) + cred + bytes([len(cred)]) + cred)
            if _recv_exact(sock, 2)[1] != 0:
                raise ConnectionError("SOCKS5 username/password refused")
        name = host.encode("ascii")
        sock.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + port.to_bytes(2, "big"))
        _version, reply, _rsv, atyp = _recv_exact(sock, 4)
        if reply != 0:
            raise SocksError(reply)
        size = {1: 4, 4: 16}.get(atyp) or _recv_exact(sock, 1)[0]
        _recv_exact(sock, size + 2)  # the bound address and port: nothing we need
        return sock
    except BaseException:
        sock.close()
        raise


class OnionHTTPConnection(http.client.HTTPConnection):
    """http.client over a SOCKS5 proxy; Host is the onion name, as a browser sends it."""

    def __init__(self, host: str, socks_port: int, timeout: float = 300, isolation: str | None = None):
        super().__init__(host, 80, timeout=timeout)
        self.socks_port = socks_port
        self.isolation = isolation

    def connect(self) -> None:
        self.sock = socks_connect(self.socks_port, self.host, self.port, self.timeout, self.isolation)


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def onion_request(
    socks_port: int,
    host: str,
    method: str = "GET",
    path: str = "/",
    body: bytes | None = None,
    headers: dict | None = None,
    isolation: str | None = None,
) -> Reply:
    conn = OnionHTTPConnection(host, socks_port, isolation=isolation)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return Reply(r.status, r.headers, r.read())
    finally:
        conn.close()


# -- tor processes -------------------------------------------------------------------------------


@dataclass
class Tor:
    """One tor process: its data folder, config and log."""

    name: str
    data: Path
    torrc: Path
    or_port: int | None = None
    dir_port: int | None = None
    socks_port: int | None = None
    control: Path | None = None  # the ControlSocket of a client tor (circuits.py closes circuits with it)
    fingerprint: str = ""  # RSA identity (relays and authorities)
    v3ident: str = ""  # authority v3 identity
    proc: subprocess.Popen | None = None
    extra: list[str] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.data / "notice.log"

    def start(self, tor: str, defaults: Path) -> None:
        cmd = [
            tor,
            "--defaults-torrc",
            str(defaults),
            "-f",
            str(self.torrc),
            "--DataDirectory",
            str(self.data),
            # Replaces any Log line of the torrc (deploy/torrc logs to syslog).
            "--Log",
            f"notice file {self.log}",
            "--__OwningControllerProcess",
            str(os.getpid()),
            *self.extra,
        ]
        with open(self.data / "stdout.log", "ab") as out:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )

    def check_running(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(
                f"tor {self.name} exited with {self.proc.returncode}:\n"
                f"{_tail(self.data / 'stdout.log')}\n{_tail(self.log)}"
            )

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path}: no log)"


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, timeout=120, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({r.returncode}): {r.stdout!r} {r.stderr!r}")
    return r


def _wait_all(procs: Iterable[tuple[str, subprocess.Popen]]) -> None:
    for name, p in procs:
        out, _ = p.communicate(timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"{name} failed ({p.returncode}): {out!r}")


def find_tools() -> tuple[str, str]:
    tor, gencert = shutil.which("tor"), shutil.which("tor-gencert")
    if not tor or not gencert:
        raise Unavailable(not_installed("tor" if not tor else "tor-gencert"))
    return tor, gencert


class TorNetwork:
    """3 directory authorities and 2 relays on 127.0.0.1, in BASE; clients and services join later."""

    AUTHORITIES = 3
    RELAYS = 2

    def __init__(self, base: Path) -> None:
        self.base = base
        self.tor, self.gencert = find_tools()
        self.authorities: list[Tor] = []
        self.relays: list[Tor] = []
        self.others: list[Tor] = []
        self.empty = base / "empty"  # `-f /dev/null` is refused; an empty file is fine
        self.launched_at = 0.0

    @property
    def nodes(self) -> list[Tor]:
        return self.authorities + self.relays

    def all_tors(self) -> list[Tor]:
        return self.nodes + self.others

    # -- keys and configs

    def _make_keys(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.empty.write_text("")
        for i in range(self.AUTHORITIES):
            self.authorities.append(Tor(f"auth{i}", self.base / f"auth{i}", self.base / f"auth{i}.torrc"))
        for i in range(self.RELAYS):
            self.relays.append(Tor(f"relay{i}", self.base / f"relay{i}", self.base / f"relay{i}.torrc"))
        for node in self.nodes:
            (node.data / "keys").mkdir(mode=0o700, parents=True)
            node.or_port = free_port()
        for node in self.authorities:
            node.dir_port = free_port()
        # Authority identity, signing key and certificate (empty passphrase on stdin), in parallel.
        gens = []
        for a in self.authorities:
            k = a.data / "keys"
            cmd = [self.gencert, "--create-identity-key", "-m", "12", "-a", f"127.0.0.1:{a.dir_port}"]
            cmd += ["-i", str(k / "authority_identity_key"), "-s", str(k / "authority_signing_key")]
            cmd += ["-c", str(k / "authority_certificate"), "--passphrase-fd", "0"]
            p = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            gens.append((f"tor-gencert for {a.name}", p))
        # Relay identity keys (authorities are relays too): tor makes them and prints the fingerprint.
        prints = []
        for node in self.nodes:
            cmd = [self.tor, "--defaults-torrc", str(self.empty), "-f", str(self.empty), "--list-fingerprint"]
            cmd += ["--DataDirectory", str(node.data), "--Nickname", node.name]
            cmd += ["--ORPort", f"127.0.0.1:{node.or_port}", "--Log", "warn stderr"]
            p = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
            prints.append((f"tor --list-fingerprint for {node.name}", p))
        _wait_all(gens + prints)
        for node in self.nodes:
            node.fingerprint = (node.data / "fingerprint").read_text().split()[1]
        for a in self.authorities:
            cert = (a.data / "keys" / "authority_certificate").read_text()
            a.v3ident = re.search(r"^fingerprint ([0-9A-F]{40})$", cert, re.M).group(1)

    def common_lines(self) -> list[str]:
        """What every tor of this network needs, relays and clients alike."""
        lines = ["TestingTorNetwork 1"]
        for a in self.authorities:
            lines.append(
                f"DirAuthority {a.name} orport={a.or_port} no-v2 v3ident={a.v3ident} "
                f"127.0.0.1:{a.dir_port} {a.fingerprint}"
            )
        # Empty GeoIP files: no country lookups to load (saves CPU and memory).
        lines += [f"GeoIPFile {self.empty}", f"GeoIPv6File {self.empty}", "ShutdownWaitLength 0"]
        return lines

    def _relay_lines(self, node: Tor) -> list[str]:
        lines = [
            f"Nickname {node.name}",
            "Address 127.0.0.1",
            f"ORPort 127.0.0.1:{node.or_port}",
            "OutboundBindAddress 127.0.0.1",
            "AssumeReachable 1",
            "SocksPort 0",
            "ExitRelay 0",
            "ExitPolicy reject *:*",  # onion services need no exits
            "SafeLogging 0",  # loopback addresses only: logs are more useful with them
        ]
        if node.dir_port:
            guards = ",".join(f"${a.fingerprint}" for a in self.authorities)
            lines += [
                f"DirPort 127.0.0.1:{node.dir_port}",
                "AuthoritativeDirectory 1",
                "V3AuthoritativeDirectory 1",
                "ContactInfo tipline-tests@example.invalid",
                f"TestingV3AuthInitialVotingInterval {VOTING_INTERVAL}",
                f"V3AuthVotingInterval {VOTING_INTERVAL}",
                "TestingV3AuthInitialVoteDelay 2",
                "TestingV3AuthInitialDistDelay 2",
                "V3AuthVoteDelay 2",
                "V3AuthDistDelay 2",
                "V3AuthNIntervalsValid 2",
                "TestingDirAuthVoteHSDir *",
                f"TestingDirAuthVoteGuard {guards}",  # only the authorities are guards
                "TestingDirAuthVoteGuardIsStrict 1",
                "AuthDirVoteStableGuaranteeMinUptime 0",
                "AuthDirVoteStableGuaranteeMTBF 0",
                f"V3BandwidthsFile {self.base / 'bandwidths'}",
            ]
        return lines

    def start(self) -> None:
        """Make the keys and start the authorities and relays (does not wait for a consensus)."""
        self._make_keys()
        bw = [str(int(time.time()))] + [f"node_id=${n.fingerprint} bw=1000" for n in self.nodes]
        (self.base / "bandwidths").write_text("\n".join(bw) + "\n")  # every relay the same weight
        for node in self.nodes:
            node.torrc.write_text("\n".join(self.common_lines() + self._relay_lines(node)) + "\n")
        # Votes fall on multiples of the interval plus the offset: put the first one
        # VOTING_INTERVAL seconds after launch (votes are due 4 s before it).
        launch = math.ceil(time.time())
        offset = launch % VOTING_INTERVAL
        for node in self.nodes:
            if node.dir_port:
                node.extra = ["--TestingV3AuthVotingStartOffset", str(offset)]
            node.start(self.tor, self.empty)
        self.launched_at = time.monotonic()

    def consensus(self) -> str:
        a = self.authorities[0]
        conn = http.client.HTTPConnection("127.0.0.1", a.dir_port, timeout=5)
        try:
            conn.request("GET", "/tor/status-vote/current/consensus")
            r = conn.getresponse()
            body = r.read().decode(errors="replace")
            return body if r.status == 200 else ""
        finally:
            conn.close()

    def wait_for_consensus(self, timeout: float = 60) -> float:
        """Wait until a consensus lists every relay as Running, Valid and HSDir; returns when (s)."""
        want = {n.name for n in self.nodes}
        deadline = time.monotonic() + timeout
        listed: set[str] = set()
        while time.monotonic() < deadline:
            for node in self.nodes:
                node.check_running()
            try:
                text = self.consensus()
            except OSError:
                text = ""
            listed = set()
            for m in re.finditer(r"^r (\S+) .*\n(?:[a-z].*\n)*?s (.*)$", text, re.M):
                if {"Running", "Valid", "HSDir"} <= set(m.group(2).split()):
                    listed.add(m.group(1))
            if listed >= want:
                return time.monotonic() - self.launched_at
            time.sleep(0.5)
        raise RuntimeError(
            f"no consensus listing {sorted(want)} after {timeout} s (listed: {sorted(listed)})"
        )

    def add_tor(self, name: str, torrc_lines: list[str], socks: bool = False) -> Tor:
        """A tor that is not a relay (client or service), configured by TORRC_LINES plus the network."""
        node = Tor(name, self.base / name, self.base / f"{name}.torrc")
        node.data.mkdir(mode=0o700, parents=True, exist_ok=True)
        lines = self.common_lines()
        if socks:
            node.socks_port = free_port()
            # ExtendedErrors: onion failures get their own SOCKS5 replies (0xF0-0xF7).
            lines.append(f"SocksPort 127.0.0.1:{node.socks_port} ExtendedErrors")
            # A control socket, as deploy/torrc gives the service's, so a test can cut this client's
            # circuits (circuits.py); cookie authentication, as tipline/ops/torcontrol.py speaks it.
            node.control = node.data / "control"
            lines += [f"ControlSocket {node.control}", "CookieAuthentication 1"]
        node.torrc.write_text("\n".join(lines + torrc_lines) + "\n")
        self.others.append(node)
        return node

    def stop(self) -> None:
        for node in reversed(self.all_tors()):
            node.stop()


# -- Tipline behind the network ----------------------------------------------------------------


def _tipline(*args: str) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "tipline.cli", *args], text=True)


@dataclass
class Timings:
    consensus_s: float = 0.0  # launch -> a consensus listing every relay
    source_s: float = 0.0  # launch -> the source page fetched through its onion
    journalist_s: float = 0.0  # launch -> the journalist login page through its onion (with the key)


class TiplineOnTor:
    """deploy/torrc's two onion services, the two apps behind them, and two client tors."""

    JOURNALIST = "journalist"  # the client-auth name

    def __init__(self, base: Path, pubfile: Path) -> None:
        self.base = base
        self.pubfile = pubfile
        self.net = TorNetwork(base / "net")
        self.timings = Timings()
        self.source: Server | None = None
        self.journalist: Server | None = None
        self.service: Tor | None = None
        self.client: Tor | None = None  # no client-auth key
        self.auth_client: Tor | None = None  # holds the journalist's key
        self.source_onion = self.journalist_onion = ""
        self.client_auth_output = ""
        self.service_defaults = Path()
        self.journalist_dir = Path()  # the journalist service's HiddenServiceDir
        self.control_socket = control_socket(base / "service")  # the service tor's, from deploy/torrc

    # -- set-up

    def _render(self, source_port: int, journalist_port: int) -> tuple[Path, Path, Path]:
        torrc, src_dir, jour_dir = render_torrc(self.base / "service", source_port, journalist_port)
        text = torrc.read_text()
        options = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        left = [ln for ln in options if "/var/lib/tor" in ln or "/run/tor" in ln or TORRC_SOURCE_TARGET in ln]
        left += [ln for ln in options if TORRC_JOURNALIST_TARGET in ln]
        if left:
            raise RuntimeError(f"deploy/torrc rendering left deployment values: {left}")
        return torrc, src_dir, jour_dir

    def _service_addresses(self, src_dir: Path, jour_dir: Path) -> None:
        """Run the service's tor once with its network off (it contacts nobody) to make its keys."""
        svc = self.service
        svc.extra = ["--DisableNetwork", "1"]
        svc.start(self.net.tor, self.service_defaults)
        try:
            deadline = time.monotonic() + 30
            while not ((src_dir / "hostname").exists() and (jour_dir / "hostname").exists()):
                svc.check_running()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the onion services made no hostname in 30 s:\n{_tail(svc.log)}")
                time.sleep(0.1)
        finally:
            svc.stop()
            svc.extra = []
        self.source_onion = (src_dir / "hostname").read_text().strip()
        self.journalist_onion = (jour_dir / "hostname").read_text().strip()

    def _client_auth(self, jour_dir: Path) -> Path:
        """`tipline onion client-auth`: the .auth file to the service, the .auth_private to a client dir."""
        keys = self.base / "client-auth-keys"
        r = _tipline(
            "onion",
            "client-auth",
            self.JOURNALIST,
            "--onion-address",
            self.journalist_onion,
            "--out",
            str(keys),
        )
        self.client_auth_output = r.stdout
        auth_dir = jour_dir / "authorized_clients"
        auth_dir.mkdir(mode=0o700, exist_ok=True)
        shutil.copyfile(keys / f"{self.JOURNALIST}.auth", auth_dir / f"{self.JOURNALIST}.auth")
        client_dir = self.base / "client-onion-auth"
        client_dir.mkdir(mode=0o700, exist_ok=True)
        name = f"{self.JOURNALIST}.auth_private"
        shutil.copyfile(keys / name, client_dir / name)
        return client_dir

    def start(self, timeout: float = 90) -> TiplineOnTor:
        self.base.mkdir(parents=True, exist_ok=True)
        self.net.start()  # the authorities vote while the rest is set up

        self.source = make_server(self.base / "source", self.pubfile)
        self.journalist = Server(
            self.source.data_dir, self.base / "journalist-tmp", self.base / "journalist.log", free_port()
        )
        self.journalist.tmp_dir.mkdir()
        torrc, src_dir, jour_dir = self._render(self.source.port, self.journalist.port)
        self.journalist_dir = jour_dir
        # The testing-network lines go in the service tor's --defaults-torrc; its -f is the rendering.
        self.service = Tor("service", self.base / "service" / "tor-data", torrc)
        self.service.data.mkdir(mode=0o700)
        self.net.others.append(self.service)
        self.service_defaults = self.base / "service" / "testing-network.torrc"
        self.service_defaults.write_text("\n".join(self.net.common_lines()) + "\n")
        self._service_addresses(src_dir, jour_dir)
        client_auth_dir = self._client_auth(jour_dir)

        self.source.start("--onion-address", self.source_onion)
        self.journalist.start("--app", "journalist")
        self.client = self.net.add_tor("client", [], socks=True)
        self.auth_client = self.net.add_tor(
            "auth-client", [f"ClientOnionAuthDir {client_auth_dir}"], socks=True
        )

        self.timings.consensus_s = self.net.wait_for_consensus(timeout)
        self.service.start(self.net.tor, self.service_defaults)
        for c in (self.client, self.auth_client):
            c.start(self.net.tor, self.net.empty)

        deadline = self.net.launched_at + timeout
        self._wait_for_page(self.client, self.source_onion, "/", deadline)
        self.timings.source_s = time.monotonic() - self.net.launched_at
        self._wait_for_page(self.auth_client, self.journalist_onion, "/login", deadline)
        self.timings.journalist_s = time.monotonic() - self.net.launched_at
        return self

    def add_client(self, name: str, auth_dir: Path | None = None) -> Tor:
        """One more client tor with a SOCKS port (and a ClientOnionAuthDir), started."""
        lines = [f"ClientOnionAuthDir {auth_dir}"] if auth_dir else []
        c = self.net.add_tor(name, lines, socks=True)
        c.start(self.net.tor, self.net.empty)
        return c

    def wait_for_page(self, client: Tor, onion: str, path: str, timeout: float = 90) -> None:
        self._wait_for_page(client, onion, path, time.monotonic() + timeout)

    def _wait_for_page(self, client: Tor, onion: str, path: str, deadline: float) -> None:
        """Retry GET PATH through CLIENT until 200: the descriptor takes a few seconds to publish."""
        last: Exception | str = "not tried"
        while time.monotonic() < deadline:
            for t in self.net.all_tors():
                t.check_running()
            try:
                r = onion_request(client.socks_port, onion, "GET", path)
                if r.status == 200:
                    return
                last = f"HTTP {r.status}"
            except OSError as e:
                last = e
            time.sleep(0.5)
        raise RuntimeError(f"http://{onion}{path} not reachable through {client.name}: {last}")

    # -- tear-down and diagnostics

    def stop(self) -> None:
        for srv in (self.source, self.journalist):
            if srv is not None and srv.proc is not None:
                srv.stop()
        self.net.stop()

    def log_paths(self) -> list[Path]:
        paths = [t.log for t in self.net.all_tors()] + [t.data / "stdout.log" for t in self.net.all_tors()]
        paths += [s.log_path for s in (self.source, self.journalist) if s is not None]
        return [p for p in paths if p.exists()]

    def log_report(self, lines: int = 15) -> str:
        """The tail of each tor's log (and its stdout if it exited) and of each app's log."""
        paths = [t.log for t in self.net.all_tors()]
        paths += [t.data / "stdout.log" for t in self.net.all_tors() if t.proc and t.proc.poll() is not None]
        paths += [s.log_path for s in (self.source, self.journalist) if s is not None]
        return "\n\n".join(f"== {p} (last {lines} lines)\n{_tail(p, lines)}" for p in paths if p.exists())
