"""The newsroom's own page over real HTTP (gunicorn): its name, logo, texts and keys, per language."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator

import pytest

from tests.newsroom_images import IMAGES
from tests.web.newsroom_page import (
    INTRO,
    INTRO_ES,
    NAME,
    NAME_ES,
    OTHER_WAYS,
    VERIFY,
    element,
    h1,
    start_newsroom_site,
    texts,
    title,
)
from tests.web.server import Server
from tipline.format.keys import SecretKey
from tipline.store.keyring import Keyring

LOGO = re.compile(r"<img [^>]*\bid=\"newsroom-logo\"[^>]*>", re.S)


@pytest.fixture(scope="module")
def newsroom_site(tmp_path_factory, keydir) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("newsroom")
    second = base / "second.pub"
    second.write_text(SecretKey.generate().public_key.to_text())
    srv = start_newsroom_site(base, keydir / "journalist.pub", extra_key=second)
    yield srv
    srv.stop()


def attrs(tag: str) -> dict[str, str]:
    return dict(re.findall(r'([a-z-]+)="([^"]*)"', tag))


@pytest.mark.parametrize(("path", "name"), [("/", NAME), ("/es/", NAME_ES), ("/ar/", NAME)])
def test_the_name_is_in_the_title_and_the_heading(newsroom_site, path, name):
    r = newsroom_site.get(path)
    page = r.body.decode()
    assert r.status == 200
    # One sentence with the name in it, in the page's language where the catalog has it.
    assert name in title(page) and title(page) != name
    assert name in h1(page) and h1(page) != name
    assert f"<bdi>{name}</bdi>" in page  # its own direction inside the sentence
    if path == "/":
        assert title(page) == h1(page) == f"Send a tip securely to {NAME}"


def test_the_intro_and_sections_are_plain_text_paragraphs(newsroom_site):
    page = newsroom_site.get("/").body.decode()
    intro = element(page, "newsroom-intro")
    assert texts(intro) == INTRO
    assert "5 &lt; 6 &amp; R&amp;D." in intro  # shown as written: escaped in the HTML, never markup
    assert texts(element(page, "other-ways")) == OTHER_WAYS
    assert texts(element(page, "verify-address")) == VERIFY
    order = [page.index(f'id="{i}"') for i in ("newsroom-intro", "tip-form", "other-ways", "verify-address")]
    assert order == sorted(order)


def test_a_language_table_overrides_and_the_rest_falls_back(newsroom_site):
    es = newsroom_site.get("/es/").body.decode()
    assert texts(element(es, "newsroom-intro")) == INTRO_ES
    assert texts(element(es, "other-ways")) == OTHER_WAYS  # not set for Spanish: the [newsroom] text
    ar = newsroom_site.get("/ar/").body.decode()
    assert texts(element(ar, "newsroom-intro")) == INTRO and '<html lang="ar" dir="rtl">' in ar


@pytest.mark.parametrize(
    ("path", "src", "image", "mime"),
    [
        ("/", "/newsroom/logo.png", "logo.png", "image/png"),
        ("/es/", "/es/newsroom/logo.webp", "logo.webp", "image/webp"),
        ("/ar/", "/ar/newsroom/logo.png", "logo.png", "image/png"),
    ],
)
def test_the_logo_is_served_same_origin_with_sri_and_its_size(newsroom_site, path, src, image, mime):
    page = newsroom_site.get(path).body.decode()
    (tag,) = LOGO.findall(page)
    a = attrs(tag)
    assert a["src"] == src  # a path on this origin: no scheme, no host
    data = (IMAGES / image).read_bytes()
    assert a["integrity"] == "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
    width, height = {"logo.png": (120, 40), "logo.webp": (80, 30)}[image]
    assert (a["width"], a["height"]) == (str(width), str(height))
    assert a["alt"] and (NAME_ES if path == "/es/" else NAME) in a["alt"]
    r = newsroom_site.get(src)
    assert r.status == 200 and r.body == data
    assert r.header("Content-Type") == mime and r.header("X-Content-Type-Options") == "nosniff"
    assert r.header("Cross-Origin-Resource-Policy") == "same-origin"


def test_only_the_logo_itself_is_served(newsroom_site):
    for path in ("/newsroom/logo.webp", "/newsroom/logo.jpg", "/es/newsroom/logo.png", "/newsroom/logo"):
        assert newsroom_site.get(path).status == 404, path


def test_the_fingerprints_are_the_keyrings(newsroom_site):
    page = newsroom_site.get("/es/").body.decode()
    section = element(page, "key-fingerprints")
    shown = texts(section, r'<code class="fingerprint" lang="en" dir="ltr">(.*?)</code>')
    active = [k.fingerprint for k in Keyring(newsroom_site.data_dir / "keys").active()]
    assert len(active) == 2 and sorted(shown) == sorted(active)
    assert re.search(r"<h2[^>]*>[^<]+</h2>\s*<p>[^<]+</p>", section)  # a heading, then what they are for


def test_nothing_set_is_todays_neutral_page(server):
    page = server.get("/").body.decode()
    assert title(page) == "Send a tip securely" and h1(page) == "Send us a tip securely"
    for ident in ("newsroom-logo", "newsroom-intro", "other-ways", "verify-address"):
        assert element(page, ident) is None, ident
    assert server.get("/newsroom/logo.png").status == 404
    # The keys' fingerprints are shown whatever the settings: they are not the newsroom's text.
    (key,) = Keyring(server.data_dir / "keys").active()
    assert key.fingerprint in element(page, "key-fingerprints")
