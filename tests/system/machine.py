"""A booted Debian 12 in a container, for tests: debootstrap, systemd-nspawn, commands through nsenter.

The container never reaches a network: it boots with --private-network from its first boot (a
network namespace with only a loopback), and apt inside it reads only a local file repository
that build_image() fills on the host; pip reads only a local wheelhouse, npm only a local cache.

    image = build_image(CACHE, ["tor", "procps"], pip=["flask"], npm=REPO)   # cached by its inputs
    with Machine(image, work / "root") as m:                                 # a copy: the cache stays clean
        m.boot()
        m.run("apt-get update && apt-get install -y tor")
        m.reboot()                                                           # same root, booted again

Reusable for any test that needs a real systemd (docs/system-tests.md).
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.conftest import missing, unavailable
from tests.packages import AS_ROOT

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# What the root has before anything is installed: a minimal Debian that boots systemd.
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus")
CACHE = Path("/var/tmp/tipline-system-cache")
LAYOUT = 1  # bump when the cache's layout or how it is made changes
REPO_IN = "/srv/repo"  # where the local apt repository appears in the container
WHEELS_IN = "/srv/wheels"
NPM_CACHE_IN = "/var/cache/tipline-npm"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
T = TypeVar("T")


class MachineError(RuntimeError):
    """A step of building or running the machine failed; the message holds its output."""


def require_tools() -> None:
    """Skip off CI (fail under CI) unless this is root with debootstrap, systemd-nspawn, dpkg-dev and ip."""
    if os.geteuid() != 0:
        unavailable(f"tests/system boots a container: {AS_ROOT}")
    for tool in ("debootstrap", "systemd-nspawn", "dpkg-scanpackages", "nsenter", "ip"):
        if shutil.which(tool) is None:
            missing(tool)


def sh(cmd: list[str], timeout: float = 900, **kw: Any) -> subprocess.CompletedProcess:
    """Run a host command; raise MachineError with its output if it fails."""
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kw)
    if r.returncode != 0:
        raise MachineError(f"{shlex.join(cmd)} exited {r.returncode}:\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
    return r


@dataclass(frozen=True)
class Image:
    """A cached root file system and what the container reads instead of a network."""

    root: Path  # debootstrap minbase + BASE_PACKAGES, apt pointed at REPO_IN only
    repo: Path  # .deb files of the requested packages and their dependencies, with Packages
    wheels: Path | None  # wheels for pip (no index)
    npm_cache: Path | None  # npm's cache for the lock file (offline)


def _key(**inputs: Any) -> str:
    return hashlib.sha256(json.dumps({"layout": LAYOUT, **inputs}, sort_keys=True).encode()).hexdigest()[:16]


def build_image(
    cache: Path,
    apt: list[str],
    pip: list[str] = (),  # type: ignore[assignment]
    npm_lock_dir: Path | None = None,
) -> Image:
    """The image for these packages, built once and kept under CACHE/KEY (reused while the inputs match).

    apt: the Debian packages the container will install (downloaded with their dependencies);
    pip: requirements to put in the wheelhouse; npm_lock_dir: a folder with package-lock.json
    whose packages npm's offline cache must hold."""
    lock = (npm_lock_dir / "package-lock.json").read_text() if npm_lock_dir else ""
    key = _key(suite=SUITE, base=BASE_PACKAGES, apt=sorted(apt), pip=sorted(pip), npm=lock)
    cache.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(cache, 0o700)  # root's alone: what boots as the container's root comes from here
    with open(cache / ".lock", "w") as held:  # one build at a time: two runs must not share a .partial
        fcntl.flock(held, fcntl.LOCK_EX)
        return _build_image(cache, key, apt, pip, npm_lock_dir)


def _build_image(cache: Path, key: str, apt: list[str], pip: list[str], npm_lock_dir: Path | None) -> Image:
    entry = cache / key
    image = Image(
        entry / "root",
        entry / "repo",
        entry / "wheels" if pip else None,
        entry / "npm" if npm_lock_dir else None,
    )
    if (entry / "complete").exists():
        return image
    if entry.exists():
        shutil.rmtree(entry)  # a build that stopped half-way
    partial = cache / f".{key}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(mode=0o700)
    sh(["cp", "-a", "--reflink=auto", str(base_root(cache)), str(partial / "root")], timeout=600)
    _download_debs(partial / "root", partial / "repo", apt)
    if pip:
        wheels = partial / "wheels"
        sh(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--only-binary=:all:",
                "-d",
                str(wheels),
                *pip,
            ]
        )
    if npm_lock_dir:
        _fill_npm_cache(npm_lock_dir, partial / "npm")
    (partial / "complete").write_text(json.dumps({"apt": apt, "pip": list(pip)}) + "\n")
    partial.rename(entry)
    return image


def base_root(cache: Path) -> Path:
    """debootstrap's minimal Debian with BASE_PACKAGES, made once and shared by every image
    (the slow part: about 3 minutes, mostly downloads)."""
    root = cache / f"base-{_key(suite=SUITE, base=BASE_PACKAGES, mirror=MIRROR)}"
    done = root.with_name(root.name + ".complete")
    if done.exists():
        return root
    partial = root.with_name(root.name + ".partial")
    for d in (root, partial):
        if d.exists():
            shutil.rmtree(d)
    _debootstrap(partial)
    partial.rename(root)
    done.write_text("")
    return root


def _debootstrap(root: Path) -> None:
    sh(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            SUITE,
            str(root),
            MIRROR,
        ],
        timeout=1800,
    )


def _download_debs(root: Path, repo: Path, packages: list[str]) -> None:
    """Fetch PACKAGES and what they need, as the root's own apt resolves them (chroot, never booted),
    into REPO; then point the root's apt at that repository alone and forget the mirror."""
    chroot = ["chroot", str(root), "/usr/bin/env", "-i", f"PATH={PATH}", "DEBIAN_FRONTEND=noninteractive"]
    sh([*chroot, "apt-get", "-qq", "update"])
    sh([*chroot, "apt-get", "-qq", "install", "--download-only", "-y", "--no-install-recommends", *packages])
    repo.mkdir()
    archives = root / "var/cache/apt/archives"
    for deb in archives.glob("*.deb"):
        shutil.move(deb, repo / deb.name)
    packages_file = sh(["dpkg-scanpackages", "--multiversion", "."], cwd=repo).stdout
    (repo / "Packages").write_text(packages_file)
    # A Release file, so apt treats it as a plain flat repository ([trusted=yes]: no signature).
    (repo / "Release").write_text(f"Origin: tipline-tests\nLabel: tipline-tests\nSuite: {SUITE}\n")
    for f in (root / "etc/apt/sources.list.d").glob("*"):
        f.unlink()
    (root / "etc/apt/sources.list").write_text(f"deb [trusted=yes] file:{REPO_IN} ./\n")
    for f in (root / "var/lib/apt/lists").glob("*"):
        if f.is_file():
            f.unlink()
    (root / "etc/hostname").write_text("tipline-system\n")


def _fill_npm_cache(lock_dir: Path, cache: Path) -> None:
    with tempfile.TemporaryDirectory() as d:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(lock_dir / name, d)
        sh(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--cache", str(cache)], cwd=d)


class Machine:
    """One container on a writable copy of an image's root; boot(), run(), reboot(), stop()."""

    def __init__(self, image: Image, root: Path, name: str = "tipline-system") -> None:
        self.image, self.root, self.name = image, root, name
        self.proc: subprocess.Popen | None = None
        self.log_path = root.parent / f"{root.name}.console.log"
        self.leader = 0  # the host's PID of the container's PID 1
        if not root.exists():
            sh(["cp", "-a", "--reflink=auto", str(image.root), str(root)], timeout=600)
            self._offline_config()

    def _offline_config(self) -> None:
        """pip and npm read only what build_image() made (no index, no registry)."""
        if self.image.wheels:
            (self.root / "etc/pip.conf").write_text(
                f"[global]\nno-index = true\nfind-links = {WHEELS_IN}\ndisable-pip-version-check = true\n"
            )
        if self.image.npm_cache:
            shutil.copytree(self.image.npm_cache, self.root / NPM_CACHE_IN.lstrip("/"), symlinks=True)
            (self.root / "root/.npmrc").write_text(
                f"cache={NPM_CACHE_IN}\noffline=true\naudit=false\nfund=false\nupdate-notifier=false\n"
            )

    def __enter__(self) -> Machine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- life ---------------------------------------------------------------------------------

    def boot(self, timeout: float = 180) -> str:
        """Boot systemd as PID 1 and wait until it has started everything; returns its state
        (running, or degraded with the failed units listed in the state string)."""
        binds = [f"--bind-ro={self.image.repo}:{REPO_IN}"]
        if self.image.wheels:
            binds.append(f"--bind-ro={self.image.wheels}:{WHEELS_IN}")
        cmd = [
            "systemd-nspawn",
            "--quiet",
            "--boot",
            "--register=no",
            "--keep-unit",
            "--private-network",
            # systemd's own BPF programs (IPAddressDeny=) need bpf(): nspawn's default seccomp
            # filter refuses it, and systemd then silently runs the units without their firewall.
            "--system-call-filter=bpf",
            f"--machine={self.name}",
            "--console=pipe",
            *binds,
            "-D",
            str(self.root),
        ]
        env = {**os.environ, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"}
        log = open(self.log_path, "ab")  # noqa: SIM115 (the container's console, for its life)
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_term_with_parent,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not self.leader:
            if self.proc.poll() is not None:
                raise MachineError(f"systemd-nspawn exited {self.proc.returncode}:\n{self.console()}")
            if time.monotonic() > deadline:
                raise MachineError(f"no container init after {timeout} s:\n{self.console()}")
            leader = _init_below(self.proc.pid)
            if leader and Path(f"/proc/{leader}/comm").read_text().strip() == "systemd":
                self.leader = leader  # exec'd: its namespaces are the container's from now on
            time.sleep(0.2)
        while True:  # until systemd answers on its socket, then until it has started everything
            r = self.run("systemctl is-system-running --wait", check=False, timeout=timeout)
            state = r.stdout.strip()
            if state in ("running", "degraded", "maintenance", "stopping"):
                break
            if time.monotonic() > deadline:
                raise MachineError(f"systemd in the container never answered: {r.stderr}\n{self.console()}")
            time.sleep(0.5)
        failed = self.run("systemctl --failed --no-legend --plain", check=False).stdout.strip()
        return f"{state}\n{failed}".strip()

    def stop(self, timeout: float = 90) -> None:
        """An orderly poweroff (nspawn turns SIGTERM into one); SIGKILL if it hangs. Always leaves
        no container behind."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        self.proc, self.leader = None, 0

    def reboot(self) -> str:
        """Power off, then boot the same root again."""
        self.stop()
        return self.boot()

    def console(self) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    # -- inside -------------------------------------------------------------------------------

    def enter(self) -> list[str]:
        """The argv prefix that runs a program inside the container (all its namespaces, its root)."""
        if not self.leader:
            raise MachineError("the machine is not booted")
        return [
            "nsenter",
            f"--target={self.leader}",
            "--mount",
            "--uts",
            "--ipc",
            "--net",
            "--pid",
            "--cgroup",
            # No --root: joining the mount namespace already sets the root and the working folder
            # to the container's (--root would chroot through a path of the host's namespace,
            # which the container cannot resolve: getcwd() fails, and git with it).
            "--",
            "/usr/bin/env",
            "-i",
            f"PATH={PATH}",
            "HOME=/root",
            "LANG=C.UTF-8",
            "DEBIAN_FRONTEND=noninteractive",
        ]

    def run(
        self, script: str, check: bool = True, timeout: float = 600, input: str | None = None
    ) -> subprocess.CompletedProcess:
        """Run a shell script as root inside the container, in /root (as an admin's login shell)."""
        r = subprocess.run(
            [*self.enter(), "/bin/sh", "-c", f"cd /root && {script}"],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
        )
        if check and r.returncode != 0:
            raise MachineError(
                f"in the container, `{script}` exited {r.returncode}:\n{r.stdout[-4000:]}{r.stderr[-4000:]}"
            )
        return r

    def run_bytes(self, script: str, timeout: float = 300) -> bytes:
        """A script's standard output as bytes (for output that need not be text, e.g. the journal)."""
        r = subprocess.run(
            [*self.enter(), "/bin/sh", "-c", script], capture_output=True, timeout=timeout, check=False
        )
        if r.returncode != 0:
            raise MachineError(f"in the container, `{script}` exited {r.returncode}: {r.stderr[-2000:]!r}")
        return r.stdout

    def write(self, path: str, data: bytes, mode: int = 0o600) -> None:
        """Put a file into the container's root (from the host: the same file system)."""
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        os.chmod(target, mode)

    def read(self, path: str) -> bytes:
        return (self.root / path.lstrip("/")).read_bytes()

    def in_netns(self, fn: Callable[[], T], timeout: float = 300) -> T:
        """Call FN in a thread of this process that has joined the container's network namespace:
        its sockets reach the container's loopback, and nothing else."""
        result: list[Any] = []

        def body() -> None:
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                fd = os.open(f"/proc/{self.leader}/ns/net", os.O_RDONLY)
                try:
                    if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET, this thread only
                        raise OSError(ctypes.get_errno(), "setns into the container's network failed")
                finally:
                    os.close(fd)
                result.append((True, fn()))
            except BaseException as e:
                result.append((False, e))

        t = threading.Thread(target=body, daemon=True)
        t.start()
        t.join(timeout)
        if not result:
            raise MachineError(f"no answer inside the container's network after {timeout} s")
        ok, value = result[0]
        if not ok:
            raise value
        return value


def _term_with_parent() -> None:
    """In nspawn's process, before exec: SIGTERM (an orderly poweroff) if the test process dies,
    even by SIGKILL, so that no container outlives the run."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _init_below(pid: int) -> int:
    """The host PID of the container's init: a descendant of nspawn that is PID 1 in its own namespace."""
    children: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(p.name))
    todo = list(children.get(pid, []))
    while todo:
        c = todo.pop()
        try:
            nspid = next(
                line.split()[1:]
                for line in Path(f"/proc/{c}/status").read_text().splitlines()
                if line.startswith("NSpid:")
            )
        except (OSError, StopIteration):
            continue
        if len(nspid) >= 2 and nspid[-1] == "1":
            return c
        todo.extend(children.get(c, []))
    return 0
