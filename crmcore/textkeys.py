"""The folded forms of names that search, duplicate checks and name sorts compare."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Sequence
from itertools import islice, product

# The accents Latin, Greek and Cyrillic letters decompose into. Marks of other
# scripts (kana voicing, a virama, vowel points) make another letter or word,
# so they stay.
ACCENTS = re.compile("[\u0300-\u036f]")
# Latin letters that are a base letter with a stroke, a ligature or a letter
# of its own rather than one with an accent, so that Unicode does not
# decompose them: written as the letters their languages fall back to
# ("Ørjan" is "Orjan", "Łukasz" "Lukasz", "Æsa" "Aesa"). Folding has already
# made them lower case (dotless ı stays one).
LETTERS = str.maketrans({"ø": "o", "ł": "l", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d",
                         "þ": "th", "ı": "i", "ħ": "h", "ŧ": "t"})


def fold(text: str, length: int | None = None) -> str:
    """``text`` with case and accents folded, compatibility forms unified and
    the :data:`LETTERS` that do not decompose written plainly (``"Müller"`` →
    ``"muller"``, ``"Straße"`` → ``"strasse"``, ``"ﬁ"`` → ``"fi"``,
    ``"Ørjan"`` → ``"orjan"``), cut to ``length``, the key column's size (if
    given).

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
    plain = ACCENTS.sub("", decomposed).translate(LETTERS)
    return unicodedata.normalize("NFC", plain)[:length]


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


# Titles a name may carry or leave out ("Dr. Ann Lee" is "Ann Lee"). Suffixes
# such as "Jr." stay: they tell a son from his father.
TITLES = frozenset({"dr", "miss", "mr", "mrs", "ms", "mx", "prof"})
# Words shorter than this must be spelt alike ("Li" is not "Lu").
TYPO_LENGTH = 3
# The most spellings of one name a duplicate check looks up: a name with
# several words that have nicknames has one for each combination of them.
MOST_SPELLINGS = 64


def name_words(name: str) -> list[str]:
    """A name's words as the duplicate check compares them: folded, without
    apostrophes ("O'Brien" is "obrien"), titles and initials, unless those are
    all there is."""
    words = _WORDS.findall(fold(name).replace("'", "").replace("\u2019", ""))
    kept = [w for w in words if w not in TITLES and (len(w) > 1 or not w.isalpha())]
    return kept or words


@functools.lru_cache(maxsize=1 << 16)
def _sound(word: str) -> str:
    # Metaphone knows English spelling only: other words are their own sound,
    # as are numbers. Cached: names share most of their words, and an import
    # keys a million of them.
    # Imported on first use, like the phone and email validators: start-up
    # needs no name compared.
    from jellyfish import metaphone

    return (metaphone(word) or word) if word.isascii() and word.isalpha() else word


def sound_key(name: str, length: int | None = None) -> str:
    """What a name sounds like, word by word in sorted order: names with the
    same key are candidates for :func:`similar_names`. "Jon Smith", "John
    Smith" and "Smith, John" share one key, as do "Kathy" and "Cathy"."""
    return " ".join(sorted(map(_sound, name_words(name))))[:length]


def sound_keys(name: str, length: int | None = None) -> list[str]:
    """The sound keys a name like this one may be stored under: its own
    (:func:`sound_key`, first); those of its spellings with words swapped for
    their nicknames or for the names they are nicknames of ("Bob Smith" is
    "Robert Smith" and "Bobby Smith" too; the first :data:`MOST_SPELLINGS`
    such spellings); and those of its spellings with two neighbouring letters
    of a word swapped, the commonest slip in typing, which may change the
    sound ("Jhon Smith", "John Smtih"). A name without words has the one key
    ""."""
    words = name_words(name)
    sounds = [_sound(word) for word in words]
    nicknames = _nicknames()
    spellings = list(islice(product(*(
        dict.fromkeys([sound, *sorted(map(_sound, nicknames.get(word, ())))])
        for word, sound in zip(words, sounds, strict=True))), MOST_SPELLINGS))
    for i, word in enumerate(words):
        if len(word) >= TYPO_LENGTH:
            spellings += [(*sounds[:i], _sound(slip), *sounds[i + 1:])
                          for slip in _slips(word)]
    return list(dict.fromkeys(" ".join(sorted(spelling))[:length] for spelling in spellings))


def _slips(word: str) -> list[str]:
    """``word`` with each pair of neighbouring letters swapped."""
    return [f"{word[:i]}{word[i + 1]}{word[i]}{word[i + 2:]}" for i in range(len(word) - 1)
            if word[i] != word[i + 1]]


def similar_names(one: str, other: str) -> bool:
    """Whether two names are likely one person's: the same words in any order,
    titles and initials aside, each one a nickname of the other ("Bob" and
    "Robert", "Bill" and "William"), spelt alike but for two neighbouring
    letters swapped ("Jhon", "John"), or sounding alike and spelt alike but
    for one letter added, left out or changed ("Jon", "John"). "Smith, John"
    is "John Smith"; "Robert" is not "Hubert", "Mark" not "Mary", "Bill" not
    "Bob" (both are nicknames of Robert, neither of the other), nor "Li" "Lu"."""
    mine, theirs = name_words(one), name_words(other)
    return bool(mine) and len(mine) == len(theirs) and _paired(mine, theirs, _similar_words)


def _similar_words(one: str, other: str) -> bool:
    if one == other or other in _nicknames().get(one, ()):
        return True
    if _sound(one) != _sound(other):
        # A letter changed may make another name ("Mark", "Mary"); two
        # neighbouring letters swapped hardly ever do.
        return min(len(one), len(other)) >= TYPO_LENGTH and other in _slips(one)
    return _a_letter_apart(one, other, TYPO_LENGTH)


def _paired(mine: Sequence[str], theirs: Sequence[str],
            alike: Callable[[str, str], bool]) -> bool:
    """Whether each word of ``mine`` pairs off with a word of ``theirs`` it is
    ``alike``, no word taken twice. A word may be like several ("Jon" like
    "John" and "Joan"), so that a greedy pairing could miss one that exists;
    each word that finds its candidates taken moves an earlier word to
    another of its own (augmenting paths)."""
    partner: dict[int, int] = {}  # a word of theirs: the word of mine it pairs with

    def place(i: int, tried: set[int]) -> bool:
        for j, word in enumerate(theirs):
            if j not in tried and alike(mine[i], word):
                tried.add(j)
                if j not in partner or place(partner[j], tried):
                    partner[j] = i
                    return True
        return False

    return all(place(i, set()) for i in range(len(mine)))


@functools.cache
def _nicknames() -> dict[str, frozenset[str]]:
    """Each given name of the ``nicknames`` dataset (hand-curated, English)
    with its nicknames and the names it is a nickname of: "robert" with
    "bob", "rob", "bobby"…, "bob" with "robert" and "bobby". Read on first
    use, like jellyfish: start-up compares no names."""
    from nicknames import name_triplets

    related: dict[str, set[str]] = {}
    for name, relationship, other in name_triplets():
        if relationship == "has_nickname":
            related.setdefault(name, set()).add(other)
            related.setdefault(other, set()).add(name)
    return {name: frozenset(others) for name, others in related.items()}


def similar_companies(one: str, other: str) -> bool:
    """Whether two companies are likely one: their :func:`company_key` words,
    in order, each spelt alike but for one letter, in words longer than three
    letters ("Acme Fibre" is "ACME Fiber, Ltd.", "Globex Networks" "Globex
    Network"; "AMD" is not "AMC"). No company is one company, and not like any
    named one."""
    return similar_company_keys(company_key(one), company_key(other))


def similar_company_keys(one: str, other: str) -> bool:
    """:func:`similar_companies` of two :func:`company_key` values, for a
    caller comparing many companies that keys each one once."""
    mine, theirs = one.split(), other.split()
    return len(mine) == len(theirs) and all(
        a == b or _a_letter_apart(a, b, TYPO_LENGTH + 1)
        for a, b in zip(mine, theirs, strict=True))


def _a_letter_apart(one: str, other: str, shortest: int) -> bool:
    """Whether two words, the shorter of at least ``shortest`` letters, differ
    by one letter added, left out or changed, or two swapped."""
    from jellyfish import damerau_levenshtein_distance

    return min(len(one), len(other)) >= shortest \
        and damerau_levenshtein_distance(one, other) <= 1
