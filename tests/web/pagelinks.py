"""A page's language marks, language menu, links and form actions, parsed with html.parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class MenuLink:
    href: str
    hreflang: str | None
    lang: str | None
    dir: str | None
    current: bool
    text: str = ""


@dataclass
class PageLinks:
    lang: str | None = None
    dir: str | None = None
    menus: int = 0  # how many nav#languages the page has
    menu: list[MenuLink] = field(default_factory=list)
    links: list[str] = field(default_factory=list)  # every a[href] outside the menu
    actions: list[str] = field(default_factory=list)  # every form[action]


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = PageLinks()
        self._nav_depth = 0  # >0 inside nav#languages
        self._link: MenuLink | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.out.lang, self.out.dir = a.get("lang"), a.get("dir")
        elif tag == "nav":
            if self._nav_depth or a.get("id") == "languages":
                self._nav_depth += 1
                self.out.menus += self._nav_depth == 1
        elif tag == "a" and a.get("href") is not None:
            if self._nav_depth:
                self._link = MenuLink(
                    a["href"], a.get("hreflang"), a.get("lang"), a.get("dir"), "aria-current" in a
                )
                self.out.menu.append(self._link)
            else:
                self.out.links.append(a["href"])
        elif tag == "form" and a.get("action") is not None:
            self.out.actions.append(a["action"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav" and self._nav_depth:
            self._nav_depth -= 1
        elif tag == "a":
            self._link = None

    def handle_data(self, data: str) -> None:
        if self._link is not None:
            self._link.text += data


def page_links(html: str) -> PageLinks:
    p = _Parser()
    p.feed(html)
    p.close()
    for link in p.out.menu:
        link.text = " ".join(link.text.split())
    return p.out
