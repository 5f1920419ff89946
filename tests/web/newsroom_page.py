"""A tip line with every [newsroom] setting, for the HTTP and browser tests of the newsroom's own page."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

from tests.conftest import run_tipline
from tests.newsroom_images import IMAGES
from tests.web.server import Server, make_server

NAME, NAME_ES = "The Daily Example", "El Diario de Ejemplo"
INTRO = ("We investigate how the city spends its money.", "If you know something, tell us.\n5 < 6 & R&D.")
INTRO_ES = ("Investigamos cómo gasta la ciudad su dinero.",)
OTHER_WAYS = ("Signal: dailyexample.01\nPost: PO Box 12, Springfield",)
VERIFY = ("Our onion address is on https://example.org/tips: check that it is the one in your address bar.",)
SETTINGS = f'''
[newsroom]
name = "{NAME}"
logo = "logo.png"
intro = """
{INTRO[0]}

{INTRO[1]}
"""
other_ways = """{OTHER_WAYS[0]}"""
verify = "{VERIFY[0]}"

[newsroom.es]
name = "{NAME_ES}"
logo = "logo-es.webp"
intro = "{INTRO_ES[0]}"
'''


def start_newsroom_site(base: Path, pubfile: Path, extra_key: Path | None = None) -> Server:
    """A real `tipline serve` whose tipline.toml sets everything (Arabic has no table: it falls back)."""
    srv = make_server(base, pubfile)
    if extra_key is not None:
        run_tipline("keys", "add", "--data-dir", str(srv.data_dir), str(extra_key))
    shutil.copy(IMAGES / "logo.png", srv.data_dir / "logo.png")
    shutil.copy(IMAGES / "logo.webp", srv.data_dir / "logo-es.webp")
    (srv.data_dir / "tipline.toml").write_text(SETTINGS, "utf-8")
    return srv.start()


def element(page: str, ident: str) -> str | None:
    """The HTML of the element with this id (the first close tag of its kind ends it), or None."""
    m = re.search(rf'<(\w+)[^>]*\bid="{ident}"[^>]*>', page)
    if m is None:
        return None
    end = page.index(f"</{m.group(1)}>", m.end())
    return page[m.start() : end]


def texts(fragment: str, selector: str = r'<p class="newsroom-text" dir="auto">(.*?)</p>') -> tuple[str, ...]:
    """The plain text of each match, HTML entities decoded (what a reader sees)."""
    return tuple(html.unescape(t) for t in re.findall(selector, fragment, re.S))


def title(page: str) -> str:
    return html.unescape(re.search(r"<title>(.*?)</title>", page, re.S).group(1).strip())


def h1(page: str) -> str:
    """The first heading's text: the form's (the thanks section's comes after it)."""
    inner = re.search(r"<h1>(.*?)</h1>", page, re.S).group(1)
    return html.unescape(re.sub(r"</?bdi>", "", inner).strip())
