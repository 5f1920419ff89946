"""A bad [newsroom] setting: `tipline serve` stops with one line, `tipline doctor` names every one.

The real commands, in subprocesses, on real files: what an admin runs and sees.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from tests.conftest import run_tipline
from tests.newsroom_images import IMAGES
from tests.web.server import free_port
from tipline.newsroom import LOGO_MAX_BYTES

PNG = (IMAGES / "logo.png").read_bytes()
JPEG = (IMAGES / "logo.jpg").read_bytes()

# name: (the [newsroom] table's lines, files to write beside tipline.toml, what the line says)
CASES = {
    "logo of the wrong type": ('logo = "logo.gif"', {"logo.gif": b"GIF89a" + PNG[6:]}, "only PNG, JPEG"),
    "logo too big": ('logo = "logo.png"', {"logo.png": PNG + bytes(LOGO_MAX_BYTES)}, "larger than 256 KiB"),
    "logo unreadable": ('logo = "missing.png"', {}, "cannot read"),
    "logo bytes do not match its name": ('logo = "logo.png"', {"logo.png": JPEG}, "its bytes are a JPEG"),
    "logo cut short": ('logo = "logo.png"', {"logo.png": PNG[:30]}, "damaged or cut short"),
    "oversized intro": (f'intro = "{"x" * 2001}"', {}, "intro is 2,001 characters long; the most is 2,000"),
    "html in the intro": ('intro = "<p>Send us tips</p>"', {}, "intro holds '<p', which looks like HTML"),
    "html in other ways": ('other_ways = "<a href=x>Signal</a>"', {}, "other_ways holds '<a'"),
    "an entity in verify": ('verify = "Check &lt;this&gt;"', {}, "verify holds '&lt;'"),
    "unknown key": ('motto = "All the news"', {}, "unknown setting 'motto'"),
    "unknown language": ('name = "X"\n[newsroom.xx]\nname = "Y"', {}, "[newsroom.xx]: this tip line has no"),
}


def data_folder(tmp_path: Path, lines: str, files: dict[str, bytes], keydir: Path) -> Path:
    data = tmp_path / "data"
    run_tipline("keys", "add", "--data-dir", str(data), str(keydir / "journalist.pub"))
    for name, content in files.items():
        (data / name).write_bytes(content)
    (data / "tipline.toml").write_text(f"[newsroom]\n{lines}\n", "utf-8")
    return data


@pytest.mark.parametrize("case", sorted(CASES))
def test_serve_stops_with_one_line(tmp_path, keydir, case):
    lines, files, message = CASES[case]
    data = data_folder(tmp_path, lines, files, keydir)
    port = free_port()
    r = run_tipline("serve", "--data-dir", str(data), "--bind", f"127.0.0.1:{port}", check=False)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("tipline: [newsroom") and r.stderr.count("\n") == 1, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr + r.stdout
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass  # nothing was served
    assert not (data / "source").exists()  # stopped before preparing anything


@pytest.mark.parametrize("case", sorted(CASES))
def test_doctor_names_the_problem(tmp_path, keydir, case):
    lines, files, message = CASES[case]
    r = run_tipline("doctor", "--data-dir", str(data_folder(tmp_path, lines, files, keydir)), check=False)
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr
    (ours,) = [ln for ln in r.stdout.splitlines() if "[newsroom" in ln]
    assert ours.startswith("problem: [newsroom") and message in ours, ours


def test_doctor_names_every_problem_at_once_and_goes_on(tmp_path, keydir):
    lines = 'logo = "logo.png"\n[newsroom.es]\nintro = "<b>hola</b>"\n[newsroom.xx]\nname = "Y"'
    r = run_tipline(
        "doctor", "--data-dir", str(data_folder(tmp_path, lines, {"logo.png": JPEG}, keydir)), check=False
    )
    ours = [ln for ln in r.stdout.splitlines() if "[newsroom" in ln]
    assert [ln.split(" ", 2)[1] for ln in ours] == ["[newsroom]", "[newsroom.es]", "[newsroom.xx]:"], ours
    assert "journalist account" in r.stdout  # the other checks still ran


def test_doctor_is_quiet_about_good_settings(tmp_path, keydir):
    data = tmp_path / "data"
    run_tipline("keys", "add", "--data-dir", str(data), str(keydir / "journalist.pub"))
    shutil.copy(IMAGES / "logo.jpg", data / "logo.jpg")
    (data / "tipline.toml").write_text(
        '[newsroom]\nname = "The Daily Example"\nlogo = "logo.jpg"\nintro = "Hello."\n'
        '[newsroom.ar]\nname = "المثال اليومي"\n',
        "utf-8",
    )
    r = run_tipline("doctor", "--data-dir", str(data), check=False)
    assert "[newsroom" not in r.stdout and "Traceback" not in r.stdout + r.stderr, r.stdout
