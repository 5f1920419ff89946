"""Build dist/tipline_VERSION_ARCH.deb: Tipline and every Python package it needs, as wheels (`./dev deb`).

Why a .deb (docs/install.md, "Why a Debian package"): the admin gets it with apt,
which brings tor, python3-venv and procps from Debian; its postinst makes
/opt/tipline/venv from the wheels inside it, so the server needs neither PyPI
nor npm. The wheels are compiled for this machine's Python and architecture:
build on the Debian release you install on (Debian 12: Python 3.11, amd64).

Prints the .deb's path and its sha256, which it also writes beside it
(tipline_VERSION_ARCH.deb.sha256, in sha256sum's format) for the release notes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXTRAS = "server,postgres"


def version() -> str:
    ns: dict[str, str] = {}
    exec((REPO / "tipline" / "__init__.py").read_text("utf-8"), ns)  # noqa: S102 - our own file
    return ns["__version__"]


def run(*cmd: str, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-15:])
        raise SystemExit(f"./dev deb: `{' '.join(cmd[:4])} ...` failed:\n{tail}")
    return r


def render(name: str, values: dict[str, str]) -> str:
    text = (HERE / name).read_text("utf-8")
    for k, v in values.items():
        text = text.replace(f"@{k}@", v)
    return text


def build(out_dir: Path) -> Path:
    if not shutil.which("dpkg-deb"):
        raise SystemExit("./dev deb needs dpkg-deb (Debian's dpkg): build on Debian or Ubuntu.")
    ver = version()
    arch = run("dpkg", "--print-architecture").stdout.strip()
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    py_next = f"{sys.version_info.major}.{sys.version_info.minor + 1}"
    with tempfile.TemporaryDirectory(prefix="tipline-deb-") as tmp:
        pkg = Path(tmp) / "pkg"
        wheels = pkg / "usr/share/tipline/wheels"
        wheels.mkdir(parents=True)
        # Tipline's wheel (deploy/ inside it: pyproject.toml's force-include) and its dependencies'.
        run(sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheels), f"{REPO}[{EXTRAS}]")
        doc = pkg / "usr/share/doc/tipline"
        doc.mkdir(parents=True)
        shutil.copy(HERE / "copyright", doc / "copyright")
        shutil.copy(REPO / "docs" / "install.md", doc / "install.md")
        (pkg / "usr/bin").mkdir(parents=True)
        os.symlink("/opt/tipline/venv/bin/tipline", pkg / "usr/bin/tipline")
        size = sum(p.stat().st_size for p in pkg.rglob("*") if p.is_file()) // 1024 + 1
        values = {"VERSION": ver, "ARCH": arch, "PY": py, "PY_NEXT": py_next, "SIZE": str(size)}
        debian = pkg / "DEBIAN"
        debian.mkdir()
        (debian / "control").write_text(render("control.in", values))
        for script in ("postinst", "postrm"):
            (debian / script).write_text(render(script, values))
            (debian / script).chmod(0o755)
        for p in pkg.rglob("*"):
            if not p.is_symlink():
                p.chmod(0o755 if p.is_dir() or (p.parent == debian and p.name != "control") else 0o644)
        out_dir.mkdir(parents=True, exist_ok=True)
        deb = out_dir / f"tipline_{ver}_{arch}.deb"
        # gzip, not dpkg's default xz: the package is almost all wheels, which are zip files
        # already; xz made it 0.8 % smaller and the build 2.6 times slower (25 s against 9.7 s).
        run("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(pkg), str(deb))
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    deb.with_name(deb.name + ".sha256").write_text(f"{digest}  {deb.name}\n")
    return deb


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "dist"
    deb = build(out)
    digest = deb.with_name(deb.name + ".sha256").read_text().split()[0]
    print(f"{deb}\nsha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
