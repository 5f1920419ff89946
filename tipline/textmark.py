"""N_: marks a sentence for the translation catalogs without translating it.

The store and the crypto core know nothing of Flask; they raise errors whose
message is an English msgid with %(name)s placeholders, which the web layer
translates (tipline/web/i18n.py) and `str()` fills in English.
"""

from __future__ import annotations


def N_(message: str) -> str:
    return message


def J_(message: str) -> str:
    """Marks a sentence only journalists see: it goes to the journalist app's catalog."""
    return message
