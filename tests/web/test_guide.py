"""The guide for sources (/guide) over real HTTP: every language, its contents, its links, no script."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

import pytest

from tests.web import test_source_http as source_http

LANGS = [("", "en", "ltr"), ("/es", "es", "ltr"), ("/ar", "ar", "rtl")]
SECTIONS = ["tor-browser", "device", "files", "what-we-see", "codename"]


class Page(HTMLParser):
    """What the tests need of a page: every element's id and attributes, and the contents' links."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: dict[str, dict[str, str]] = {}
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.contents: list[str] = []
        self._in_contents = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        a["_tag"] = tag
        self.tags.append((tag, a))
        if "id" in a:
            assert a["id"] not in self.ids, f"duplicate id {a['id']}"
            self.ids[a["id"]] = a
        if tag == "nav" and a.get("id") == "contents":
            self._in_contents = 1
        elif tag == "nav" and self._in_contents:
            self._in_contents += 1
        if self._in_contents and tag == "a":
            self.contents.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav" and self._in_contents:
            self._in_contents -= 1

    def links(self) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == "a"]


def guide(server, prefix: str) -> tuple[str, Page]:
    r = server.get(f"{prefix}/guide")
    assert r.status == 200
    html = r.body.decode()
    return html, Page(html)


@pytest.mark.parametrize(("prefix", "code", "direction"), LANGS)
def test_guide_answers_in_each_language_with_its_menu(server, prefix, code, direction):
    r = server.get(f"{prefix}/guide")
    assert r.status == 200 and r.header("Content-Language") == code
    html = r.body.decode()
    assert f'<html lang="{code}" dir="{direction}">' in html
    page = Page(html)
    assert "languages" in page.ids and page.ids["languages"]["_tag"] == "nav"
    menu = {a["hreflang"]: a["href"] for a in page.links() if "hreflang" in a}
    # Each language's link leads to the guide in that language, not to the form.
    assert menu == {"en": "/en/guide", "es": "/es/guide", "ar": "/ar/guide"}
    assert len(re.findall(r"<h1>", html)) == 1


@pytest.mark.parametrize(("prefix", "code", "direction"), LANGS)
def test_every_entry_of_the_contents_leads_to_a_section(server, prefix, code, direction):
    html, page = guide(server, prefix)
    assert page.contents == [f"#{s}" for s in SECTIONS]
    for href in page.contents:
        target = page.ids.get(href[1:])
        assert target is not None, href
        assert target["_tag"] == "section"
        # The entry's words are the section's heading.
        heading = re.search(rf'<h2 id="{href[1:]}-title">(.*?)</h2>', html).group(1)
        assert f'<a href="{href}">{heading}</a>' in html
    # The links that leave the guide lead back to the form in the page's language.
    back = [a["href"] for a in page.links() if not a["href"].startswith("#") and "hreflang" not in a]
    assert back == [f"{prefix}/", f"{prefix}/"]


@pytest.mark.parametrize(("prefix", "code", "direction"), LANGS)
def test_the_form_links_to_the_guide_in_its_language(server, prefix, code, direction):
    page = Page(server.get(f"{prefix}/").body.decode())
    assert [a for a in page.links() if a["href"] == f"{prefix}/guide"]
    thanks = Page(server.get(f"{prefix}/thanks").body.decode())
    assert [a for a in thanks.links() if a["href"] == f"{prefix}/guide#files"]


@pytest.mark.parametrize("prefix", ["", "/es", "/ar"])
def test_the_codename_page_opens_the_guide_in_a_new_tab(server, prefix):
    """Leaving the page that shows the codename once would lose it: the guide opens beside it."""
    token = server.csrf_token()
    r = server.post_form(
        [("csrf_token", token), ("message", "a tip, to see the codename page")], path=f"{prefix}/submit"
    )
    assert r.status == 200 and b'id="codename"' in r.body
    link = Page(r.body.decode()).ids["guide-link-done"]
    assert link["href"] == f"{prefix}/guide#codename"
    assert link["target"] == "_blank" and link["rel"] == "noopener"


@pytest.mark.parametrize("path", ["/guide", "/es/guide", "/ar/guide"])
def test_guide_has_the_same_security_headers_as_every_page(server, path):
    source_http.test_security_headers_on_every_response(server, path)
    assert server.get(path).headers.get_all("Set-Cookie") is None  # the guide needs no CSRF cookie


@pytest.mark.parametrize("path", ["/guide", "/ar/guide"])
def test_guide_has_no_script_at_all_and_its_stylesheet_has_sri(server, path):
    html = server.get(path).body.decode()
    assert "<script" not in html and "<style" not in html and " style=" not in html
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", html) and "javascript:" not in html
    assert "<form" not in html  # nothing to send from here
    sheets = re.findall(r"<link[^>]*stylesheet[^>]*>", html)
    assert len(sheets) == 1
    href = re.search(r'href="(/static/[^"]+)"', sheets[0]).group(1)
    integrity = re.search(r'integrity="(sha384-[^"]+)"', sheets[0]).group(1)
    body = server.get(href).body
    assert integrity == "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()
