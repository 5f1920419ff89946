"""The words a reader sees on a page, as sentences, to find English left in a translated page.

What is not the page's own translatable text is left out, each for a reason (EXCLUDED). The
scripts' sentences, in the JSON data block, are compared key by key instead (untranslated_strings).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser

# Left out of the comparison, and why. Add to it with care: whatever matches is never checked.
EXCLUDED: tuple[tuple[str, str, str | None, str], ...] = (
    # (tag or "*", attribute, value or None for any, why)
    ("script", "", None, "code; the JSON sentences block is compared key by key instead"),
    ("style", "", None, "code"),
    ("nav", "id", "languages", "the language menu names each language in itself, on every page"),
    ("*", "lang", "en", "English on purpose: the codename's words, the keys' fingerprints (not <html>)"),
    # The newsroom's own settings, shown as the newsroom wrote them (docs/newsroom.md): its
    # paragraphs are p.newsroom-text; mark anything else a setting fills with data-newsroom.
    ("*", "class", "newsroom-text", "the newsroom's own words"),
    ("*", "data-newsroom", None, "the newsroom's own words"),
    ("*", "class", "reply-text", "a reply, in the words a journalist wrote"),
)
# Attributes whose text a reader meets too (a screen reader reads aria-label; title is a tooltip).
TEXT_ATTRIBUTES = ("aria-label", "alt", "title", "placeholder")
# Elements that do not end a block of text: their words belong to the sentence around them.
INLINE = {"a", "abbr", "b", "bdi", "bdo", "code", "em", "i", "kbd", "mark", "q", "s", "small", "span"}
INLINE |= {"strong", "sub", "sup", "time", "u"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
WORD = re.compile(r"[^\W\d_][\w'’-]*")
MIN_SENTENCE_WORDS = 4  # a sentence longer than 3 words is checked wherever it appears
MIN_BLOCK_WORDS = 2  # a whole heading, button or label of 2 words or more is checked too
PRODUCT_NAMES = {"Tipline", "Tor Browser", "Tor"}


def _excluded(tag: str, attrs: dict[str, str | None]) -> bool:
    if tag == "html":
        return False  # its lang is the page's own
    for want_tag, attr, value, _why in EXCLUDED:
        if want_tag not in ("*", tag):
            continue
        if not attr:
            return True
        if attr not in attrs:
            continue
        have = attrs[attr] or ""
        if value is None or (value in have.split() if attr == "class" else have == value):
            return True
    return False


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.strings: dict[str, str] | None = None
        self._stack: list[tuple[str, bool]] = []  # (tag, excluded from here down)
        self._text: list[str] = []
        self._json: list[str] | None = None

    @property
    def _skipping(self) -> bool:
        return any(excluded for _tag, excluded in self._stack)

    def _flush(self) -> None:
        text = " ".join("".join(self._text).split())
        if text:
            self.blocks.append(text)
        self._text = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag not in INLINE:
            self._flush()
        if tag == "script" and a.get("id") == "tipline-strings":
            self._json = []
        excluded = _excluded(tag, a)
        if not self._skipping and not excluded:
            for name in TEXT_ATTRIBUTES:
                if a.get(name):
                    self.blocks.append(" ".join(a[name].split()))
        if tag == "br":
            self._text.append(" ")
        if tag not in VOID:
            self._stack.append((tag, excluded))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag not in INLINE:
            self._flush()
        if tag == "script" and self._json is not None:
            self.strings = json.loads("".join(self._json))
            self._json = None
        # Close up to the matching open tag; a stray end tag closes nothing.
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break

    def handle_data(self, data: str) -> None:
        if self._json is not None:
            self._json.append(data)
        elif not self._skipping:
            self._text.append(data)


@dataclass(frozen=True)
class PageText:
    blocks: list[str]  # each element's own text, whitespace collapsed
    strings: dict[str, str] | None  # the scripts' sentences, if the page has them

    @property
    def sentences(self) -> list[str]:
        return [s for b in self.blocks for s in SENTENCE_END.split(b) if s]

    def checked(self) -> list[str]:
        """What must not stay English: long sentences, and whole short blocks (a button, a heading).

        A sentence with numbers in it is checked between them too: a date filled into an English
        sentence is written in the page's language ("1 de diciembre de 2026"), so the sentence as a
        whole would not be found even where its words were left in English."""
        out = []
        for s in self.sentences:
            if words(s) >= MIN_SENTENCE_WORDS:
                out.append(s)
                out += [p for p in _between_numbers(s) if words(p) >= MIN_SENTENCE_WORDS]
        out += [b for b in self.blocks if MIN_BLOCK_WORDS <= words(b) < MIN_SENTENCE_WORDS]
        return list(dict.fromkeys(out))


def _between_numbers(sentence: str) -> list[str]:
    """The stretches of a sentence between its numbers (words with a digit), trimmed of punctuation."""
    parts = re.split(r"\S*\d\S*", sentence)
    if len(parts) == 1:
        return []
    return [p.strip(" ,.;:!?()") for p in parts if p.strip(" ,.;:!?()")]


def words(text: str) -> int:
    return len(WORD.findall(text))


def page_text(html: str) -> PageText:
    p = _Parser()
    p.feed(html)
    p.close()
    p._flush()
    return PageText(p.blocks, p.strings)


def untranslated(english: PageText, other: PageText) -> list[str]:
    """English sentences (and whole short blocks) that appear verbatim in the other page."""
    text = " ¶ ".join(other.blocks)
    blocks = set(other.blocks)
    return [s for s in english.checked() if (s in text if words(s) >= MIN_SENTENCE_WORDS else s in blocks)]


def _only_placeholders(value: str) -> bool:
    rest = re.sub(r"%\(\w+\)[a-z]|%%", "", value)
    return not WORD.search(rest)


def untranslated_strings(english: dict[str, str], other: dict[str, str]) -> list[str]:
    """The scripts' sentences left as in English (a missing key counts), but for ones made only
    of placeholders, or only a product's name, which stay the same in every language."""
    return [
        key
        for key, value in english.items()
        if other.get(key) in (None, value) and not _only_placeholders(value) and value not in PRODUCT_NAMES
    ]
