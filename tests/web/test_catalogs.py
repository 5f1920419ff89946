"""Every shipped catalog is complete, the templates match the code, and the compiled catalogs are
built, not committed (docs/translating.md).

The checker (tests/web/catalogs.py) extracts the messages afresh with Babel, from the same mapping
files and keywords as `./dev catalogs`. Its own tests below feed it small catalogs with one gap
each, so a real gap provably fails the real test.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po
from babel.support import Translations

from tests.conftest import unavailable
from tests.web import catalogs
from tests.web.catalogs import Gap, app_of, catalog_gaps, extract, extract_app, read, shipped, template_gaps
from tipline.web import i18n

SHIPPED = shipped()


def fail_on_first(gaps: Iterator[Gap]) -> None:
    found = list(gaps)
    if found:
        more = f"\n({len(found) - 1} more after this one)" if len(found) > 1 else ""
        pytest.fail(f"{found[0]}{more}", pytrace=False)


@pytest.fixture(scope="module")
def code() -> dict[str, Catalog]:
    return {app: extract_app(app) for app in catalogs.EXTRA_KEYWORDS}


def test_there_are_catalogs_to_check():
    assert {f"{app_of(p)}/{p.parents[1].name}" for p in SHIPPED} >= {"source/es", "source/ar"}


def test_the_checker_extracts_as_dev_catalogs_does():
    """A tripwire: `./dev catalogs` extracts with each app's mapping file and Babel's default keywords,
    adding J_ for the journalists' app only. If it changes, catalogs.EXTRA_KEYWORDS must follow."""
    section = (catalogs.ROOT / "dev").read_text().split("\n  catalogs)", 1)[1].split(";;", 1)[0]
    assert "-F tipline/web/translations/$app.cfg" in section
    assert "--no-default-keywords" not in section
    assert re.findall(r"-k (\S+?)\)", section) == ["J_"]
    assert "[[ $app == journalist ]] && keys=(-k J_)" in section
    assert catalogs.EXTRA_KEYWORDS == {"source": (), "journalist": ("J_",)}


@pytest.mark.parametrize("app", sorted(catalogs.EXTRA_KEYWORDS))
def test_messages_pot_matches_the_code(code, app):
    """A developer who adds a sentence without running `./dev catalogs` is told to."""
    fail_on_first(template_gaps(catalogs.ROOT / catalogs.TRANSLATIONS / app / "messages.pot", code[app]))


@pytest.mark.parametrize("po", SHIPPED, ids=lambda p: f"{app_of(p)}/{p.parents[1].name}")
def test_shipped_catalog_is_complete(code, po):
    fail_on_first(catalog_gaps(po, code[app_of(po)]))


def test_compiled_catalogs_are_not_committed():
    if shutil.which("git") is None or not (catalogs.ROOT / ".git").exists():
        unavailable("not a git checkout: cannot ask git what is committed")
    listed = subprocess.run(
        ["git", "ls-files", "--", "*.mo"], cwd=catalogs.ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert listed == [], f"compiled catalogs are built at install, never committed: {listed}"


@pytest.mark.parametrize("po", SHIPPED, ids=lambda p: f"{app_of(p)}/{p.parents[1].name}")
def test_compiled_catalog_is_installed_and_loads(po):
    """The install compiled each catalog into the package the server imports, from the .po as it is
    now (after editing a .po, `./dev test` reinstalls), and the app offers its language."""
    app, lang = app_of(po), po.parents[1].name
    folder = Path(i18n.__file__).parent / "translations" / app
    mo = folder / lang / "LC_MESSAGES" / "messages.mo"
    assert mo.is_file(), f"{mo} is missing: reinstall (pip install -e '.[server,test]') to compile it"
    assert lang in i18n.available(app)
    loaded = Translations.load(str(folder), [lang])
    assert isinstance(loaded, Translations), f"{mo} did not load"
    assert loaded.info()["language"] == lang
    stale = []
    for m in read(po):
        if not m.id or not isinstance(m.id, str):
            continue
        # Fuzzy and empty entries are left out of the .mo, so the page shows English there.
        want = m.string if m.string and not m.fuzzy else m.id
        if loaded.gettext(m.id) != want:
            stale.append(m.id)
    assert stale == [], f"{mo} is older than {po.name}: reinstall to recompile it. First: {stale[0]!r}"


# -- the checker itself, on small catalogs with one gap each --------------------------------------

CODE = """
from flask_babel import gettext as _
from tipline.textmark import N_

GREETING = N_("Hello %(name)s. Your tip has arrived.")
PROGRESS = _("%(what)s: %(percent)s%%")
"""
JOURNALIST = """
from tipline.textmark import J_

ONLY = J_("Only journalists read this sentence.")
"""
TEMPLATE = """<p>{% trans %}Close this tab, then choose <strong>New Identity</strong>
from its menu.{% endtrans %}</p>
<p>{{ _("Back to the form") }}</p>
"""
NEW_IDENTITY = "Close this tab, then choose <strong>New Identity</strong> from its menu."


@pytest.fixture
def tree(tmp_path) -> Path:
    """A tiny package laid out as Tipline's, extracted with the real mapping files."""
    web = tmp_path / "tipline" / "web"
    (web / "templates").mkdir(parents=True)
    (web / "source.py").write_text(CODE)
    (web / "journalist.py").write_text(JOURNALIST)
    (web / "templates" / "page.html").write_text(TEMPLATE)
    (web / "templates" / "j_page.html").write_text('<p>{{ _("A journalist page") }}</p>\n')
    shutil.copytree(catalogs.ROOT / catalogs.TRANSLATIONS, web / "translations", ignore=_only_cfg)
    return tmp_path


def _only_cfg(_folder: str, names: list[str]) -> list[str]:
    return [n for n in names if not n.endswith(".cfg")]


def translated(code: Catalog) -> Catalog:
    """A complete "translation": each msgid marked, its placeholders and tags kept."""
    out = Catalog(locale="es", fuzzy=False)
    for m in code:
        if m.id:
            out.add(m.id, "ES " + m.id, m.locations)
    return out


def write(catalog: Catalog, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, catalog)
    return path


def gaps_after(tree: Path, change: Callable[[Catalog], None]) -> list[Gap]:
    code = extract(tree, tree / catalogs.TRANSLATIONS / "source.cfg")
    catalog = translated(code)
    change(catalog)
    return list(catalog_gaps(write(catalog, tree / "es" / "LC_MESSAGES" / "messages.po"), code))


def test_extraction_follows_the_mapping_files_and_keywords(tree):
    source = {m.id for m in extract(tree, tree / catalogs.TRANSLATIONS / "source.cfg") if m.id}
    assert source == {
        "Hello %(name)s. Your tip has arrived.",
        "%(what)s: %(percent)s%%",
        NEW_IDENTITY,  # trimmed, as the templates' {% trans %} blocks are at run time
        "Back to the form",
    }
    journalist = extract(tree, tree / catalogs.TRANSLATIONS / "journalist.cfg", ("J_",))
    assert {m.id for m in journalist if m.id} == {"Only journalists read this sentence.", "A journalist page"}


def test_checker_passes_a_complete_catalog(tree):
    assert gaps_after(tree, lambda c: None) == []


def test_checker_reports_a_message_missing_from_the_catalog(tree):
    (gap,) = gaps_after(tree, lambda c: c.delete("Back to the form"))
    assert gap.msgid == "Back to the form" and "not in the catalog" in gap.problem
    assert "./dev catalogs" in gap.problem and gap.location == "tipline/web/templates/page.html:3"
    assert gap.catalog.endswith("es/LC_MESSAGES/messages.po")


def test_checker_reports_an_empty_translation(tree):
    def empty(c: Catalog) -> None:
        c["Back to the form"].string = ""

    (gap,) = gaps_after(tree, empty)
    assert gap.msgid == "Back to the form" and "empty" in gap.problem
    assert gap.location.startswith("messages.po:") and "page.html" in gap.location


def test_checker_reports_a_fuzzy_entry(tree):
    def fuzzy(c: Catalog) -> None:
        c["Back to the form"].flags.add("fuzzy")

    (gap,) = gaps_after(tree, fuzzy)
    assert gap.msgid == "Back to the form" and "fuzzy" in gap.problem


@pytest.mark.parametrize(
    ("msgid", "msgstr", "shown"),
    [
        ("Hello %(name)s. Your tip has arrived.", "Hola %(nombre)s. Ha llegado.", "%(nombre)s"),
        ("Hello %(name)s. Your tip has arrived.", "Hola. Ha llegado.", "none"),
        ("%(what)s: %(percent)s%%", "%(what)s: %(percent)s", "%(percent)s, %(what)s"),
        ("%(what)s: %(percent)s%%", "%(what)s: %(percent)s%% %%", "%%, %%"),
    ],
)
def test_checker_reports_placeholders_that_differ(tree, msgid, msgstr, shown):
    def change(c: Catalog) -> None:
        c[msgid].string = msgstr

    (gap,) = gaps_after(tree, change)
    assert gap.msgid == msgid and "placeholders differ" in gap.problem and shown in gap.problem


@pytest.mark.parametrize(
    "msgstr",
    [
        "Cierre la pestaña y elija Nueva identidad en su menú.",
        "Cierre la pestaña y elija <b>Nueva identidad</b> en su menú.",
        "Cierre la pestaña y elija <strong>Nueva identidad en su menú.",
    ],
)
def test_checker_reports_inline_tags_that_differ(tree, msgstr):
    def change(c: Catalog) -> None:
        c[NEW_IDENTITY].string = msgstr

    (gap,) = gaps_after(tree, change)
    assert gap.msgid == NEW_IDENTITY and "tags differ" in gap.problem


def test_checker_reports_a_plain_double_quote_in_a_translation(tree):
    def change(c: Catalog) -> None:
        c["Back to the form"].string = 'Volver al "formulario"'

    (gap,) = gaps_after(tree, change)
    assert gap.msgid == "Back to the form" and "plain double quote" in gap.problem


def test_checker_accepts_tags_with_other_attributes_and_in_another_order(tree):
    def change(c: Catalog) -> None:
        c[NEW_IDENTITY].string = "<strong>Nueva identidad</strong>: elíjala tras cerrar la pestaña."

    assert gaps_after(tree, change) == []


def test_checker_reports_a_message_the_code_no_longer_has(tree):
    (gap,) = gaps_after(tree, lambda c: c.add("A sentence nobody shows any more.", "Una frase."))
    assert gap.msgid == "A sentence nobody shows any more." and "no longer has" in gap.problem


def test_checker_reports_the_first_gap_of_many(tree):
    def several(c: Catalog) -> None:
        c.delete("Back to the form")
        c[NEW_IDENTITY].flags.add("fuzzy")

    gaps = gaps_after(tree, several)
    assert [g.msgid for g in gaps] == ["Back to the form", NEW_IDENTITY]
    with pytest.raises(pytest.fail.Exception, match=r"(?s)not in the catalog.*1 more after this one"):
        fail_on_first(iter(gaps))


def test_checker_reports_a_stale_template(tree):
    code = extract(tree, tree / catalogs.TRANSLATIONS / "source.cfg")
    pot = tree / "messages.pot"
    assert list(template_gaps(write(code, pot), code)) == []
    (tree / "tipline" / "web" / "source.py").write_text(CODE + 'NEW = N_("A sentence added just now.")\n')
    (gap,) = template_gaps(pot, extract(tree, tree / catalogs.TRANSLATIONS / "source.cfg"))
    assert gap.msgid == "A sentence added just now." and "./dev catalogs" in gap.problem
    assert gap.location == "tipline/web/source.py:7"
    (tree / "tipline" / "web" / "source.py").write_text(CODE.replace("PROGRESS", "# PROGRESS"))
    (gap,) = template_gaps(pot, extract(tree, tree / catalogs.TRANSLATIONS / "source.cfg"))
    assert gap.msgid == "%(what)s: %(percent)s%%" and "no longer has" in gap.problem
