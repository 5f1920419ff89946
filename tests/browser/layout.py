"""What a page's layout and addresses look like from inside Chromium, for the language tests.

Each helper is one evaluation in the page that returns plain data (boxes in
CSS pixels, paths), so the tests assert on positions and attributes, never on
pictures and never on words that translations change.
"""

from __future__ import annotations

from tests.browser.conftest import Tab

PHONE, DESKTOP = 360, 1280

# The page's language, and where each of its own links and forms leads (the menu's links
# apart: they lead to the other languages), as same-origin paths.
ADDRESSES = """() => {
  const nav = document.getElementById("languages");
  const path = (u) => {
    const x = new URL(u, location.href);
    return x.origin === location.origin ? x.pathname : x.href;
  };
  const links = [...document.querySelectorAll("a[href]")].filter((a) => !(nav && nav.contains(a)));
  return {
    lang: document.documentElement.lang,
    dir: document.documentElement.dir,
    path: location.pathname,
    targets: [...links.map((a) => path(a.getAttribute("href"))),
              ...[...document.forms].map((f) => path(f.getAttribute("action")))],
    menu: nav && [...nav.querySelectorAll("a")].map((a) => ({
      hreflang: a.hreflang, lang: a.lang, path: path(a.getAttribute("href")),
      current: a.getAttribute("aria-current")})),
  };
}"""

# Layout faults at the current viewport width: a page wider than the window, any box that
# sticks out of it on either side (to the left is not counted in scrollWidth in a
# right-to-left page), and anything drawn over the language menu or its links over each other.
FAULTS = """() => {
  const width = document.documentElement.clientWidth;
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.className && typeof el.className === "string" ? "." + el.className.split(" ").join(".") : "");
  const meets = (a, b) =>
    a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
  const faults = [];
  const scrolled = document.documentElement.scrollWidth;
  if (scrolled > width) faults.push("scrollWidth " + scrolled + " > " + width);
  const shown = [...document.body.querySelectorAll("*")].filter((el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  });
  for (const el of shown) {
    const r = el.getBoundingClientRect();
    if (r.left < -0.5 || r.right > width + 0.5) faults.push(name(el) + " spans " + r.left + ".." + r.right);
  }
  const nav = document.getElementById("languages");
  if (nav) {
    const menu = nav.getBoundingClientRect();
    for (const el of shown) {
      if (nav.contains(el) || el.contains(nav)) continue;
      if (meets(el.getBoundingClientRect(), menu)) faults.push(name(el) + " over the menu");
    }
    const items = [...nav.querySelectorAll("a")].map((a) => a.getBoundingClientRect());
    items.forEach((a, i) => items.slice(i + 1).forEach((b) => {
      if (meets(a, b)) faults.push("menu links overlap");
    }));
  }
  return faults;
}"""

# Boxes for the mirroring checks: each element's border box, and where its text starts and
# ends (a Range over its contents), and main's content box (inside its padding).
BOXES = """(selectors) => {
  const box = (r) => ({left: r.left, right: r.right, top: r.top, width: r.width});
  const out = {};
  for (const sel of selectors) {
    const el = document.querySelector(sel);
    if (!el) { out[sel] = null; continue; }
    const range = document.createRange();
    range.selectNodeContents(el);
    const s = getComputedStyle(el);
    out[sel] = {box: box(el.getBoundingClientRect()), text: box(range.getBoundingClientRect()),
                direction: s.direction, textAlign: s.textAlign,
                paddingLeft: parseFloat(s.paddingLeft), paddingRight: parseFloat(s.paddingRight),
                borderLeftPx: parseFloat(s.borderLeftWidth), borderRightPx: parseFloat(s.borderRightWidth)};
  }
  const main = document.querySelector("main");
  const m = main.getBoundingClientRect(), ms = getComputedStyle(main);
  out.main = {left: m.left + parseFloat(ms.paddingLeft), right: m.right - parseFloat(ms.paddingRight)};
  return out;
}"""


def addresses(tab: Tab) -> dict:
    return tab.page.evaluate(ADDRESSES)


def faults(tab: Tab) -> dict[int, list[str]]:
    """Layout faults of the current page at a phone's width and a desktop's (then back to desktop)."""
    found = {}
    for width in (PHONE, DESKTOP):
        tab.page.set_viewport_size({"width": width, "height": 800})
        found[width] = tab.page.evaluate(FAULTS)
    return found


def boxes(tab: Tab, *selectors: str) -> dict:
    return tab.page.evaluate(BOXES, list(selectors))
