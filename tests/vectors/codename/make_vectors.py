"""Make the committed codename vectors (docs/conversations.md), and codename-words.js.

Run from the repository root: python tests/vectors/codename/make_vectors.py
Each case is one JSON file: an installation salt and what a source typed,
and either the canonical codename with what is derived from it ("expect":
"ok") or "expect": "BadCodename". Derivation is deterministic, so a re-run
writes the same bytes; a change in any file is a change of the format.

It also writes tipline/web/static/js/codename-words.js, the browser's copy of
the word list; tests/format/test_codename.py checks that it is current.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tipline.format.codename import derive, normalise, words

HERE = Path(__file__).parent
WORDS_JS = HERE.parents[2] / "tipline" / "web" / "static" / "js" / "codename-words.js"


def words_js() -> str:
    """The browser's word list: the same words as tipline.format.codename.words(), in order."""
    return (
        "/* Tipline codename words: made by tests/vectors/codename/make_vectors.py; do not edit.\n"
        " * The EFF large wordlist (CC BY 3.0 US, https://www.eff.org/dice) less its four\n"
        " * hyphenated words, as tipline.format.codename.words(). */\n"
        f'globalThis.TiplineCodenameWords = "{" ".join(words())}";\n'
    )


def fixed_salt(n: int) -> bytes:
    return hashlib.blake2b(b"tipline test installation %d" % n, digest_size=16).digest()


def fixed_codename(n: int) -> str:
    """Seven words picked by a hash, so the vectors are reproducible."""
    alphabet = words()
    digest = hashlib.blake2b(b"tipline test codename %d" % n, digest_size=64).digest()
    picks = (int.from_bytes(digest[i * 4 : i * 4 + 4], "big") % len(alphabet) for i in range(7))
    return " ".join(alphabet[i] for i in picks)


def main() -> None:
    cases: dict[str, dict] = {}
    one, two = fixed_codename(1), fixed_codename(2)
    w = one.split()
    salt, other_salt = fixed_salt(1), fixed_salt(2)

    def ok(name: str, desc: str, typed: str, install_salt: bytes = salt) -> None:
        d = derive(typed, install_salt)
        cases[name] = {
            "description": desc,
            "install_salt": install_salt.hex(),
            "input": typed,
            "expect": "ok",
            "canonical": normalise(typed),
            "verifier": d.verifier.hex(),
            "verifier_hash": d.verifier_hash.hex(),
            "public_key": d.public_key.hex(),
        }

    def bad(name: str, desc: str, typed: str) -> None:
        cases[name] = {
            "description": desc,
            "install_salt": salt.hex(),
            "input": typed,
            "expect": "BadCodename",
        }

    def last(word: str) -> str:
        """The first six words, then WORD."""
        return " ".join([*w[:6], word])

    ok("canonical", "the canonical form, as new_codename() writes it", one)
    ok("second_codename", "another codename on the same installation", two)
    ok("other_installation", "the same codename on another installation: other keys", one, other_salt)
    ok("upper_case", "all capitals", one.upper())
    ok("mixed_case", "capitalised words", " ".join(x.capitalize() for x in w))
    ok("line_breaks", "one word a line, with CR LF and a final line break", "\r\n".join(w) + "\n")
    ok("tabs", "tabs between words", "\t".join(w))
    ok("hyphens", "hyphens between words", "-".join(w))
    dashed = "\u2013".join(w[:4]) + "\u2014" + "\u2014".join(w[4:])
    ok("dashes", "en and em dashes, as a phone's keyboard makes of hyphens", dashed)
    ok("extra_spaces", "leading, trailing and repeated spaces", "   " + "    ".join(w) + "  ")
    ok("mixed_separators", "a mix of spaces, hyphens, tabs and line breaks in one run", " - \t\n ".join(w))
    ok(
        "fullwidth",
        "fullwidth letters and ideographic spaces (NFKC folds them)",
        "\u3000".join("".join(chr(ord(c) - 0x61 + 0xFF41) for c in x) for x in w),
    )
    ok("no_break_spaces", "no-break spaces between words", "\u00a0".join(w))
    bad("empty", "the empty string", "")
    bad("only_spaces", "white space and hyphens only", " \t\n - ")
    bad("six_words", "six words", " ".join(w[:6]))
    bad("eight_words", "eight words", one + " " + w[0])
    bad("unknown_word", "seven words, one of them not in the list", last("tipline"))
    bad("misspelt_word", "a word with a letter missing", last(w[6][:-1]))
    bad("hyphenated_list_word", "t-shirt, an EFF word left out of the list: 't' and 'shirt'", last("t-shirt"))
    bad("lookalike_letter", "a Cyrillic a in place of a Latin a", last("\u0430" + w[6][1:]))
    bad("zero_width_space", "a zero-width space inside a word", last(w[6][:2] + "\u200b" + w[6][2:]))
    bad("too_long", "the codename, then 1000 spaces: over the 1000-character limit", one + " " * 1000)

    for old in HERE.glob("*.json"):
        old.unlink()
    for name, case in cases.items():
        (HERE / f"{name}.json").write_text(json.dumps(case, indent=1, ensure_ascii=True) + "\n", "utf-8")
    WORDS_JS.write_text(words_js(), "utf-8")
    print(f"wrote {len(cases)} cases to {HERE} and {WORDS_JS}")


if __name__ == "__main__":
    main()
