"""The folded form of names that search, duplicate checks and name sorts compare."""

from __future__ import annotations

import re
import unicodedata

# The accents Latin, Greek and Cyrillic letters decompose into. Marks of other
# scripts (kana voicing, a virama, vowel points) make another letter or word,
# so they stay.
ACCENTS = re.compile("[\u0300-\u036f]")


def fold(text: str, length: int) -> str:
    """``text`` with case and accents folded and compatibility forms unified
    (``"Müller"`` → ``"muller"``, ``"Straße"`` → ``"strasse"``, ``"ﬁ"`` →
    ``"fi"``), cut to ``length``, the key column's size.

    Keys are compared byte by byte on every database (SQLite's binary
    collation, "C" on PostgreSQL), so that one index serves prefix search and
    the name sort alike. Folding is what makes that byte order alphabetical
    whatever the case or accents, and the same on every install; a database's
    own collation would put "adam" after "Zoe" under one locale and not
    another."""
    if text.isascii():
        return text.lower()[:length]
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    # Composed again so that what remains is as short as it was (a Hangul
    # syllable decomposes into two or three letters).
    return unicodedata.normalize("NFC", ACCENTS.sub("", decomposed))[:length]
