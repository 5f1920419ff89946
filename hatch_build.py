"""Hatchling build hook: make tipline/web/static/js/sodium.js (and sodium-sumo.js) from pinned npm packages.

The browser seals envelopes with libsodium.js. The two UMD builds that work
without WebAssembly (Tor Browser's "Safer" level disables it) are
libsodium's dist/modules/libsodium.js, which carries a wasm2js fallback, and
libsodium-wrappers' dist/modules/libsodium-wrappers.js. They must be ONE
script: loaded as two <script> tags, the fallback runs between them, removes
the `ready` promise the wrappers wait on, and the page breaks ("Cannot read
properties of undefined (reading 'then')"). The ESM builds have no fallback.

sodium-sumo.js is the same pair from the "sumo" packages, which add what the
standard build leaves out: crypto_pwhash (Argon2id), which deriving a
codename needs (docs/conversations.md). It is a superset, about a third
larger, so only the pages that take a codename load it; the submission form
keeps the smaller sodium.js.

The versions come from package-lock.json (with integrity hashes); the output
is checked against the sha256 pinned in BUNDLES below, so a build never ships code that
nobody reviewed. Runs for the wheel, the editable wheel and the sdist; the
sdist carries the file (an `artifacts` entry in pyproject.toml), so a wheel
built from it needs no npm.

To upgrade: change the exact versions in package.json, run `npm install`,
build once, review the diff of the libraries, and paste the new hashes that
the error messages print into BUNDLES.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, NamedTuple

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class Bundle(NamedTuple):
    """One generated script: where it goes, what it is made of, and its reviewed sha256.

    A NamedTuple, not a dataclass: hatchling loads this file without registering it
    in sys.modules, where @dataclass looks its module up.
    """

    output: str
    sources: tuple[tuple[str, str], ...]
    sha256: str


BUNDLES = (
    Bundle(
        "tipline/web/static/js/sodium.js",
        (
            ("libsodium", "dist/modules/libsodium.js"),
            ("libsodium-wrappers", "dist/modules/libsodium-wrappers.js"),
        ),
        # libsodium 0.8.4 + libsodium-wrappers 0.8.4.
        "d2304b18bbd23476955823b52ac5d0696415f9a6b532c276c780434d357bde27",
    ),
    Bundle(
        "tipline/web/static/js/sodium-sumo.js",
        (
            ("libsodium-sumo", "dist/modules-sumo/libsodium-sumo.js"),
            ("libsodium-wrappers-sumo", "dist/modules-sumo/libsodium-wrappers.js"),
        ),
        # libsodium-sumo 0.8.4 + libsodium-wrappers-sumo 0.8.4.
        "73aa3cd92c84a9052398bab726bf12e88e07d7fd1f06ad7837a1eb3eb28bbe0f",
    ),
)
OUTPUT = BUNDLES[0].output  # the submission form's script (kept for callers and messages)
OUTPUTS = tuple(b.output for b in BUNDLES)


class BuildError(Exception):
    """A build step failed; the message says what to do."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def node_modules_stale(root: Path) -> bool:
    """True if node_modules lacks a package of package-lock.json or has another version of one."""
    try:
        lock = json.loads((root / "package-lock.json").read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise BuildError(f"Cannot read package-lock.json in {root}: {e}") from None
    for path, entry in lock.get("packages", {}).items():
        if not path.startswith("node_modules/") or entry.get("link"):
            continue
        try:
            installed = json.loads((root / path / "package.json").read_text("utf-8"))
        except (OSError, ValueError):
            return True
        if installed.get("version") != entry.get("version"):
            return True
    return False


def npm_ci(root: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError(
            "Building Tipline needs npm (Node.js) to fetch libsodium.js for the browser, "
            "and npm is not on PATH. Install Node.js with npm "
            "(Debian: apt-get install nodejs npm), or install Tipline from a wheel or sdist, "
            f"which already contain {' and '.join(OUTPUTS)}."
        )
    cmd = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
    try:
        r = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BuildError(f"`npm ci` could not run in {root}: {e}") from None
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-20:])
        raise BuildError(f"`npm ci` failed in {root} (exit {r.returncode}):\n{tail}")


def bundle(root: Path, spec: Bundle = BUNDLES[0]) -> bytes:
    """The concatenated script, with a banner that names the versions and carries the license."""
    nm = root / "node_modules"
    versions = []
    for name, _ in spec.sources:
        meta = json.loads((nm / name / "package.json").read_text("utf-8"))
        versions.append(f"{name} {meta['version']}")
    license_text = (nm / spec.sources[0][0] / "LICENSE").read_text("utf-8").strip().replace("*/", "* /")
    banner = (
        f"/*! Tipline {Path(spec.output).name}: generated by hatch_build.py; do not edit.\n"
        f" * {' + '.join(versions)} (npm), concatenated:\n"
        + "".join(f" *   node_modules/{name}/{path}\n" for name, path in spec.sources)
        + " * One file on purpose: it keeps the no-WebAssembly fallback working.\n *\n"
        + "".join(f" * {line}".rstrip() + "\n" for line in license_text.splitlines())
        + " */\n"
    )
    parts = [banner.encode("utf-8")]
    for name, path in spec.sources:
        parts.append((nm / name / path).read_bytes().rstrip(b"\n"))
        parts.append(b"\n;\n")
    return b"".join(parts)


def build_sodium(root: Path, spec: Bundle = BUNDLES[0]) -> Path:
    """Make spec.output if it is missing or not the pinned file. Returns its path."""
    out = root / spec.output
    expected = spec.sha256
    if out.is_file() and _sha256(out.read_bytes()) == expected:
        return out
    if not (root / "package-lock.json").is_file():
        raise BuildError(f"{root} has neither a valid {spec.output} nor package-lock.json to make it from.")
    if node_modules_stale(root):
        npm_ci(root)
    try:
        data = bundle(root, spec)
    except (OSError, ValueError, KeyError) as e:
        raise BuildError(f"Cannot read libsodium.js from node_modules ({e}); run `npm ci`.") from None
    got = _sha256(data)
    if got != expected:
        raise BuildError(
            f"{spec.output} made from node_modules has sha256 {got}, but hatch_build.py pins {expected}. "
            "node_modules does not hold the reviewed libsodium.js: run `npm ci` and build again. "
            "If you upgraded libsodium-wrappers on purpose, review the new code and then set "
            "its sha256 in BUNDLES in hatch_build.py to the hash above."
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out)
    return out


CATALOGS = "tipline/web/translations"


def compile_catalogs(root: Path) -> list[str]:
    """Compile every translations/<app>/<lang>/LC_MESSAGES/messages.po to .mo; returns the .mo paths.

    Built here, never committed (docs/translating.md). A fuzzy entry is left out, as msgfmt does,
    so the page shows English there rather than a guess; tests/web/test_catalogs.py fails first.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    made = []
    for po in sorted((root / CATALOGS).glob("*/*/LC_MESSAGES/messages.po")):
        try:
            with po.open("rb") as f:
                catalog = read_po(f)
        except Exception as e:  # babel raises several kinds for a damaged file
            raise BuildError(f"Cannot read the catalog {po.relative_to(root)}: {e}") from None
        mo = po.with_suffix(".mo")
        tmp = mo.with_name(".messages.mo.tmp")
        with tmp.open("wb") as f:
            write_mo(f, catalog, use_fuzzy=False)
        os.replace(tmp, mo)
        made.append(mo.relative_to(root).as_posix())
    return made


class CustomBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        for spec in BUNDLES:
            try:
                build_sodium(Path(self.root), spec)
            except BuildError as e:
                # One clear line at the end of pip's output, not only a traceback.
                self.app.display_error(f"tipline build: {e}")
                raise
            build_data.setdefault("artifacts", []).append(f"/{spec.output}")
        try:
            catalogs = compile_catalogs(Path(self.root))
        except BuildError as e:
            self.app.display_error(f"tipline build: {e}")
            raise
        build_data.setdefault("artifacts", []).extend(f"/{mo}" for mo in catalogs)

    def clean(self, versions: list[str]) -> None:
        for spec in BUNDLES:
            (Path(self.root) / spec.output).unlink(missing_ok=True)
        for mo in (Path(self.root) / CATALOGS).glob("*/*/LC_MESSAGES/messages.mo"):
            mo.unlink()
