"""tipline/newsroom.py: the [newsroom] settings, read from real TOML files and real image files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.newsroom_images import IMAGES, SIZES
from tipline.config import ConfigError, load_settings
from tipline.newsroom import LOGO_MAX_BYTES, NewsroomError, load, problems

OFFERED = ("en", "ar", "es")


def newsroom_of(tmp_path: Path, toml: str, environ: dict | None = None):
    (tmp_path / "tipline.toml").write_text(toml, "utf-8")
    return load(load_settings(tmp_path, environ=environ or {}).newsroom, OFFERED)


def test_nothing_set_is_the_neutral_page(tmp_path):
    newsroom = newsroom_of(tmp_path, "max_files = 3\n")
    for code in OFFERED:
        v = newsroom.voice(code)
        assert (v.name, v.logo, v.intro, v.other_ways, v.verify) == ("", None, (), (), ())


def test_texts_are_paragraphs_split_on_blank_lines(tmp_path):
    newsroom = newsroom_of(
        tmp_path,
        '[newsroom]\nname = "  The Daily Example "\n'
        + 'intro = """\nFirst paragraph,\n  on two lines.  \n\n   \nSecond: 5 < 6 & R&D.\n"""\n'
        + 'other_ways = "Signal: example.01\\r\\nPost: PO Box 12"\n',
    )
    v = newsroom.voice("en")
    assert v.name == "The Daily Example"
    assert v.intro == ("First paragraph,\non two lines.", "Second: 5 < 6 & R&D.")
    assert v.other_ways == ("Signal: example.01\nPost: PO Box 12",)


def test_a_language_overrides_what_it_sets_and_falls_back_for_the_rest(tmp_path):
    shutil.copy(IMAGES / "logo.png", tmp_path / "logo.png")
    shutil.copy(IMAGES / "logo.webp", tmp_path / "logo-es.webp")
    newsroom = newsroom_of(
        tmp_path,
        '[newsroom]\nname = "The Daily Example"\nlogo = "logo.png"\nintro = "We investigate."\n'
        'verify = "Check our site."\n'
        '[newsroom.es]\nname = "El Diario de Ejemplo"\nlogo = "logo-es.webp"\nverify = ""\n',
    )
    en, es, ar = (newsroom.voice(c) for c in ("en", "es", "ar"))
    assert es.name == "El Diario de Ejemplo" and es.logo.kind == "webp" and es.intro == ("We investigate.",)
    assert es.verify == ()  # set to nothing for this language: nothing, not the default
    assert ar == en and en.name == "The Daily Example" and en.logo.kind == "png"


def test_logo_paths_are_from_the_settings_file_and_env_sets_the_default_table(tmp_path):
    conf = tmp_path / "etc"
    conf.mkdir()
    shutil.copy(IMAGES / "logo.jpg", conf / "logo.jpg")
    (conf / "tipline.toml").write_text('[newsroom]\nlogo = "logo.jpg"\nname = "From the file"\n')
    settings = load_settings(
        tmp_path / "data",
        config_file=conf / "tipline.toml",
        environ={"TIPLINE_NEWSROOM_NAME": "From the environment"},
    )
    assert settings.newsroom["logo"] == str(conf / "logo.jpg")
    v = load(settings.newsroom, OFFERED).voice("en")
    assert v.name == "From the environment" and (v.logo.width, v.logo.height) == (96, 48)


@pytest.mark.parametrize("name", sorted(SIZES))
def test_each_kind_of_logo_gives_its_size_and_sri(tmp_path, name):
    import base64
    import hashlib

    kind, width, height = SIZES[name]
    shutil.copy(IMAGES / name, tmp_path / name)
    logo = newsroom_of(tmp_path, f'[newsroom]\nlogo = "{name}"\n').voice("es").logo
    data = (IMAGES / name).read_bytes()
    assert (logo.kind, logo.width, logo.height, logo.data) == (kind, width, height, data)
    assert logo.sri == "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
    assert logo.mime == f"image/{kind}"


def bad_logo(tmp_path: Path, name: str, data: bytes | None) -> str:
    if data is not None:
        (tmp_path / name).write_bytes(data)
    return f'[newsroom]\nlogo = "{name}"\n'


PNG = (IMAGES / "logo.png").read_bytes()
JPEG = (IMAGES / "logo.jpg").read_bytes()
WEBP = (IMAGES / "logo.webp").read_bytes()
BAD_LOGOS = {
    "gif": ("logo.gif", b"GIF89a" + PNG[6:], "only PNG, JPEG and WebP files are used"),
    "svg": ("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "only PNG, JPEG and WebP"),
    "too big": ("logo.png", PNG + b"\0" * LOGO_MAX_BYTES, "is larger than 256 KiB"),
    "missing": ("gone.png", None, "cannot read"),
    "not an image": ("logo.png", b"hello, this is text", "its first bytes are neither"),
    "jpeg named png": ("logo.png", JPEG, "is named .png but its bytes are a JPEG image; rename it to .jpg"),
    "png named webp": ("logo.webp", PNG, "is named .webp but its bytes are a PNG image"),
    "cut png": ("logo.png", PNG[:24], "damaged or cut short"),
    "png bad crc": ("logo.png", PNG[:20] + b"\xff" + PNG[21:], "damaged or cut short"),
    "cut jpeg": ("logo.jpg", JPEG[:150], "damaged or cut short"),
    "cut webp": ("logo.webp", WEBP[:-10], "damaged or cut short"),
    "webp with trailing bytes": ("logo.webp", WEBP + b"\0\0", "damaged or cut short"),
    "empty": ("logo.png", b"", "its first bytes are neither"),
}


@pytest.mark.parametrize("case", sorted(BAD_LOGOS))
def test_bad_logos_are_refused_with_what_to_do(tmp_path, case):
    name, data, message = BAD_LOGOS[case]
    with pytest.raises(NewsroomError, match=r"^\[newsroom\] logo") as e:
        newsroom_of(tmp_path, bad_logo(tmp_path, name, data))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_logo_that_is_not_a_regular_file(tmp_path):
    (tmp_path / "dir.png").mkdir()
    os.mkfifo(tmp_path / "fifo.png")  # opening it for reading must not wait for a writer
    for name in ("dir.png", "fifo.png"):
        with pytest.raises(NewsroomError, match="is not a regular file"):
            newsroom_of(tmp_path, f'[newsroom]\nlogo = "{name}"\n')


def test_a_logo_too_large_in_pixels(tmp_path):
    big = bytearray(PNG)
    big[16:24] = (5000).to_bytes(4, "big") + (40).to_bytes(4, "big")
    import zlib

    big[29:33] = zlib.crc32(bytes(big[12:29])).to_bytes(4, "big")
    (tmp_path / "big.png").write_bytes(bytes(big))
    with pytest.raises(NewsroomError, match="is 5000×40 pixels; each side must be 1 to 4096"):
        newsroom_of(tmp_path, '[newsroom]\nlogo = "big.png"\n')


BAD_TEXTS = {
    "html tag": ('intro = "<b>Tips</b> welcome"', "[newsroom] intro holds '<b', which looks like HTML"),
    "closing tag": ('intro = "Tips welcome</p>"', "holds '</', which looks like HTML"),
    "comment": ('verify = "<!-- x -->"', "[newsroom] verify holds '<!'"),
    "entity": ('other_ways = "Signal &amp; email"', "[newsroom] other_ways holds '&amp;'"),
    "numeric entity": ('name = "A&#60;B"', "[newsroom] name holds '&#60;'"),
    "html in a name": ('name = "<script>x"', "[newsroom] name holds '<s'"),
    "oversized intro": (f'intro = "{"x" * 2001}"', "intro is 2,001 characters long; the most is 2,000"),
    "oversized name": (f'name = "{"n" * 101}"', "name is 101 characters long; the most is 100"),
    "oversized verify": (f'verify = "{"v" * 1001}"', "verify is 1,001 characters long; the most is 1,000"),
    "name on two lines": (
        'name = "The Daily\\nExample"',
        "[newsroom] name should be on one line.",
    ),
    "control character": ('intro = "bell\\u0007"', "intro holds a control character (U+0007)"),
    "not text": ("intro = 3", "[newsroom] intro should be text in quotes, not int"),
    "unknown key": ('colour = "red"', "[newsroom]: unknown setting 'colour'"),
}


@pytest.mark.parametrize("case", sorted(BAD_TEXTS))
def test_bad_texts_are_refused_not_escaped(tmp_path, case):
    line, message = BAD_TEXTS[case]
    with pytest.raises(NewsroomError) as e:
        newsroom_of(tmp_path, f"[newsroom]\n{line}\n")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_plain_text_that_only_resembles_markup_is_kept(tmp_path):
    v = newsroom_of(tmp_path, '[newsroom]\nintro = "5 < 6, a <3 b, R&D & more; x&y"\n').voice("en")
    assert v.intro == ("5 < 6, a <3 b, R&D & more; x&y",)


def test_language_tables(tmp_path):
    toml = '[newsroom.fr]\nname = "Le Quotidien"\n[newsroom.es]\nname = "<i>"\ncolour = "red"\n'
    (tmp_path / "tipline.toml").write_text(toml)
    found = problems(load_settings(tmp_path, environ={}).newsroom, OFFERED)
    assert found == [
        "[newsroom.fr]: this tip line has no pages in 'fr' (it offers en, ar, es). Remove the table, "
        "or add the language first (docs/translating.md).",
        "[newsroom.es] name holds '<i', which looks like HTML. Write plain text: it is shown exactly as "
        "written, never as HTML (a blank line starts a new paragraph).",
        "[newsroom.es]: unknown setting 'colour'; the settings are name, logo, intro, other_ways and "
        "verify (docs/newsroom.md).",
    ]


def test_newsroom_must_be_a_table(tmp_path):
    (tmp_path / "tipline.toml").write_text('newsroom = "The Daily Example"\n')
    with pytest.raises(ConfigError, match=r"newsroom should be a table \(\[newsroom\]\)"):
        load_settings(tmp_path, environ={})


def test_the_docs_example_loads_as_documented(tmp_path):
    """docs/newsroom.md's example tipline.toml, with a real logo where it names one."""
    import re

    doc = (Path(__file__).parents[1] / "docs" / "newsroom.md").read_text("utf-8")
    (example,) = re.findall(r"```toml\n(.*?)```", doc, re.S)
    shutil.copy(IMAGES / "logo.png", tmp_path / "logo.png")
    newsroom = newsroom_of(tmp_path, example)
    en, es, ar = (newsroom.voice(c) for c in ("en", "es", "ar"))
    assert en.name == "The Daily Example" and len(en.intro) == 2 and en.logo.kind == "png"
    assert en.other_ways == ("Signal: dailyexample.01\nPost: The Daily Example, PO Box 12, Springfield",)
    assert es.name == "El Diario de Ejemplo" and es.other_ways == en.other_ways and es.verify != en.verify
    assert ar.name == "المثال اليومي" and ar.intro == en.intro
