"""The folded forms of names that search, duplicate checks and name sorts compare."""

from __future__ import annotations

import re
import unicodedata

# The accents Latin, Greek and Cyrillic letters decompose into. Marks of other
# scripts (kana voicing, a virama, vowel points) make another letter or word,
# so they stay.
ACCENTS = re.compile("[\u0300-\u036f]")


def fold(text: str, length: int | None = None) -> str:
    """``text`` with case and accents folded and compatibility forms unified
    (``"Müller"`` → ``"muller"``, ``"Straße"`` → ``"strasse"``, ``"ﬁ"`` →
    ``"fi"``), cut to ``length``, the key column's size (if given).

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


# Legal forms a company's name may end with or leave out ("Acme" is "Acme,
# Inc."), written without dots: "G.m.b.H." and "S.A." lose theirs first.
LEGAL_FORMS = frozenset({
    "ab", "ag", "aps", "as", "bv", "co", "company", "corp", "corporation", "gmbh", "inc",
    "incorporated", "kg", "kk", "limited", "llc", "llp", "lp", "ltd", "nv", "oy", "plc",
    "pte", "pty", "sa", "sarl", "sas", "se", "spa", "srl", "ug"})
_WORDS = re.compile(r"\w+")


def company_key(company: str) -> str:
    """A company's name as the duplicate check compares it: folded, its words
    only, without "and", a leading "the" or trailing legal forms. "ACME, Inc."
    and "Acme" compare equal, as do "Smith & Sons Ltd." and "Smith and Sons";
    "Acme Rockets" and "Acme" do not. A name that is only a legal form keeps
    it."""
    words = [w for w in _WORDS.findall(fold(company).replace(".", "")) if w != "and"]
    if len(words) > 1 and words[0] == "the":
        del words[0]
    while len(words) > 1 and words[-1] in LEGAL_FORMS:
        words.pop()
    return " ".join(words)
