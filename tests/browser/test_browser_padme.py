"""envelope.js's Padmé equals Python's, far beyond 32-bit sizes."""

from __future__ import annotations

import random

import pytest

from tipline.format.padding import padme

MAX_SAFE = 2**53 - 1


def sizes() -> list[int]:
    out = set(range(1, 4097))
    for e in range(1, 53):
        out.update({2**e - 1, 2**e, 2**e + 1, 2**e + 2 ** (e // 2) + 1, 3 * 2 ** (e - 1) + 1})
    out.update({2**31 - 1, 2**31 + 1, 2**32 - 1, 2**32 + 1, 2**32 + 12345, 5 * 2**30 + 7, 2**40 + 3})
    rng = random.Random(2019)
    out.update(rng.randrange(1, 2 ** rng.randrange(2, 53)) for _ in range(3000))
    return sorted(n for n in out if padme(n) <= MAX_SAFE)


def test_padme_matches_python(env_page):
    ns = sizes()
    assert max(ns) > 2**52 and any(2**31 < n < 2**32 for n in ns)
    got = env_page.evaluate("(ns) => ns.map(TiplineEnvelope.padme)", ns)
    bad = [(n, g, padme(n)) for n, g in zip(ns, got, strict=True) if g != padme(n)]
    assert bad == []


@pytest.mark.parametrize("n", ["0", "-1", "1.5", "'5'", "NaN", "2 ** 53", "Number.MAX_SAFE_INTEGER"])
def test_padme_rejects(wasm_page, n):
    # MAX_SAFE_INTEGER itself pads past 2^53, where doubles are no longer exact.
    got = wasm_page.evaluate(
        f"() => {{ try {{ return TiplineEnvelope.padme({n}); }} catch (e) {{ return e.name; }} }}"
    )
    assert got == "RangeError"
