"""The catalog checker: what the code asks to translate, and where a shipped catalog falls short.

Messages are extracted afresh with Babel's own API, from the same mapping files
(tipline/web/translations/<app>.cfg) and the same keywords as `./dev catalogs`,
so this check and the command that writes the catalogs cannot drift apart.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = Path("tipline/web/translations")
# As `./dev catalogs`: Babel's default keywords, and J_ for the sentences only journalists see.
EXTRA_KEYWORDS = {"source": (), "journalist": ("J_",)}
RUN = "run `./dev catalogs`"

# %(name)s (any conversion), a literal %%, and a bare %s/%d, which would be a bug of its own.
PLACEHOLDER = re.compile(r"%\(\w+\)[#0\- +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]|%%|%[sd]")
TAG = re.compile(r"<\s*(/?)\s*([a-zA-Z][\w-]*)[^>]*>")


@dataclass(frozen=True)
class Gap:
    """One way a catalog falls short, said so that whoever reads it knows what to do."""

    catalog: str
    msgid: str
    location: str
    problem: str

    def __str__(self) -> str:
        return f"{self.catalog}: {self.problem}\n  msgid: {self.msgid!r}\n  at: {self.location}"


def extract(root: Path, cfg: Path, extra_keywords: tuple[str, ...] = ()) -> Catalog:
    """Every message the code under `root` marks, as `pybabel extract -F cfg` would collect it."""
    with cfg.open() as f:
        method_map, options_map = parse_mapping_cfg(f, filename=str(cfg))
    keywords = {**DEFAULT_KEYWORDS, **dict.fromkeys(extra_keywords)}
    catalog = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root), method_map, options_map, keywords=keywords, directory_filter=_only_the_package(root)
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def _only_the_package(root: Path):
    """As Babel's default filter (no hidden or _private folders), and only under tipline/: pybabel
    walks the whole tree, node_modules included, but nothing outside the package matches a pattern."""

    def keep(path: str) -> bool:
        rel = Path(path).relative_to(root)
        return rel.parts[0] == "tipline" and not rel.name.startswith((".", "_"))

    return keep


def extract_app(app: str, root: Path = ROOT) -> Catalog:
    return extract(root, root / TRANSLATIONS / f"{app}.cfg", EXTRA_KEYWORDS[app])


def shipped(root: Path = ROOT) -> list[Path]:
    """Every catalog a newsroom gets: translations/<app>/<lang>/LC_MESSAGES/messages.po."""
    return sorted((root / TRANSLATIONS).glob("*/*/LC_MESSAGES/messages.po"))


def app_of(po: Path) -> str:
    return po.parents[2].name


def read(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def _strings(value: str | tuple | list) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _msgid(m: Message) -> str:
    return m.id if isinstance(m.id, str) else m.id[0]  # a plural's key is its singular


def _key(m: Message) -> str | tuple[str, str]:
    return (_msgid(m), m.context) if m.context else _msgid(m)


def _where(m: Message) -> str:
    return ", ".join(f"{f}:{n}" if n else f for f, n in m.locations) or "(no location)"


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def placeholders(text: str) -> Counter:
    return Counter(PLACEHOLDER.findall(text))


def tags(text: str) -> Counter:
    return Counter(close + name.lower() for close, name in TAG.findall(text))


def plain_quotes(text: str) -> int:
    """ASCII double quotes outside tags. Jinja marks a translation safe, so in an attribute
    (aria-label="{{ _('Language') }}") a translator's quote would end the attribute early."""
    return re.sub(r"<[^>]*>", "", text).count('"')


def _show(c: Counter) -> str:
    return ", ".join(sorted(c.elements())) or "none"


def template_gaps(pot: Path, code: Catalog) -> Iterator[Gap]:
    """The committed messages.pot against the code: every msgid in both, none left over."""
    name = _name(pot)
    committed = read(pot)
    keys = {_key(m) for m in committed if m.id}
    for m in code:
        if m.id and _key(m) not in keys:
            yield Gap(
                name, _msgid(m), _where(m), f"this message is in the code but not in messages.pot: {RUN}"
            )
    wanted = {_key(m) for m in code if m.id}
    for m in committed:
        if m.id and _key(m) not in wanted:
            yield Gap(name, _msgid(m), _where(m), f"messages.pot has a message the code no longer has: {RUN}")


def catalog_gaps(po: Path, code: Catalog) -> Iterator[Gap]:
    """A translated catalog against the code: each message there, translated, not fuzzy, and
    with the same placeholders and inline tags as its msgid."""
    name = _name(po)
    catalog = read(po)
    if catalog.fuzzy:
        yield Gap(name, "", f"{po.name} header", "the catalog's header is marked fuzzy")
    for m in code:
        if m.id and catalog.get(_msgid(m), context=m.context) is None:
            yield Gap(name, _msgid(m), _where(m), f"this message is not in the catalog: {RUN}")
    wanted = {_key(m) for m in code if m.id}
    for m in catalog:
        if not m.id:
            continue
        where = f"{po.name}:{m.lineno} (from {_where(m)})"
        msgid = _msgid(m)
        if _key(m) not in wanted:
            yield Gap(name, msgid, where, f"the catalog has a message the code no longer has: {RUN}")
            continue
        strings = _strings(m.string)
        if not all(s.strip() for s in strings):
            yield Gap(name, msgid, where, "the translation (msgstr) is empty")
            continue
        if m.fuzzy:
            yield Gap(name, msgid, where, "the entry is marked fuzzy: check it, then remove the fuzzy flag")
        sources = _strings(m.id)
        allowed = [placeholders(x) for x in sources]
        for s in strings:
            if placeholders(s) not in allowed:
                yield Gap(
                    name,
                    msgid,
                    where,
                    f"the placeholders differ: msgid has {_show(allowed[0])}, "
                    f"msgstr has {_show(placeholders(s))} in {s!r}",
                )
            if plain_quotes(s) > max(plain_quotes(x) for x in sources):
                yield Gap(
                    name,
                    msgid,
                    where,
                    'the translation has a plain double quote ("), which would end an HTML attribute '
                    f"this sentence may be shown in: use typographic quotes (“ ” « ») in {s!r}",
                )
            if tags(s) not in [tags(x) for x in sources]:
                yield Gap(
                    name,
                    msgid,
                    where,
                    f"the inline HTML tags differ: msgid has {_show(tags(sources[0]))}, "
                    f"msgstr has {_show(tags(s))} in {s!r}",
                )


def shown(lang: str, msgid: str, app: str = "source", root: Path = ROOT) -> str:
    """What a page in `lang` shows for `msgid`, by its .po: the msgstr, or English where the entry
    is empty or fuzzy (the build leaves those out of the .mo)."""
    m = read(root / TRANSLATIONS / app / lang / "LC_MESSAGES" / "messages.po").get(msgid)
    return m.string if m is not None and m.string and not m.fuzzy else msgid
