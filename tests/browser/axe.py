"""axe-core in a real page, for every test that checks a page's accessibility.

axe is put in the page through Playwright's own evaluation, which the page's
CSP does not govern, so the page keeps its real policy (no bypass_csp). It
needs the page's JavaScript engine to run (its checks wait on timers), so a
page "without JavaScript" is checked in a tab that refuses the page's own
scripts instead (`refuse_scripts`): the server's markup, as a browser with
JavaScript off gets it.
"""

from __future__ import annotations

import re

from tests.browser.conftest import AXE, Tab
from tests.conftest import unavailable

AXE_RUN = """async () => {
  const r = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa"]}});
  const show = (list) => list.map((v) => v.id + ": " + v.nodes.map((n) => n.target.join(" ")).join(", "));
  return {violations: show(r.violations), passes: r.passes.length};
}"""
LOAD = "(source) => { if (typeof axe === 'undefined') new Function(source)(); }"
SCRIPTS = re.compile(r"/static/js/[^/]+\.js$")


def need_axe() -> str:
    """axe-core's source (from `npm ci`); skips, or fails under CI, without it."""
    if not AXE.is_file():
        unavailable(f"{AXE} is missing (run `npm ci`)")
    return AXE.read_text("utf-8")


def check_axe(tab: Tab, what: str) -> None:
    """No WCAG 2 A/AA violation on the tab's current page; `what` names it in a failure."""
    tab.page.evaluate(LOAD, need_axe())
    result = tab.page.evaluate(AXE_RUN)
    assert result["violations"] == [], (what, result)
    assert result["passes"] > 5, (what, result)


def refuse_scripts(tab: Tab) -> None:
    """The tab loads none of the page's own scripts: its forms post as they do without JavaScript."""
    tab.page.route(SCRIPTS, lambda route: route.abort())
