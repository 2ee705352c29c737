"""CSV cells a spreadsheet opens safely, and that import back as they were.

A cell starting like a formula (``=``, ``+``, ``-``, ``@``, a tab, a carriage
return or NUL) gets a ``'`` in front on export, as OWASP advises against CSV
injection, so opening an export never runs anything. The import takes that
``'`` off again; a value that itself starts with ``'`` is exported with a
second one, so that every value survives the round trip.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")
# The characters files separate cells with: spreadsheets in locales whose
# decimal mark is a comma read and write semicolons, and some tools use tabs.
DELIMITERS = {"comma": ",", "semicolon": ";", "tab": "\t"}
_QUOTED = (*FORMULA_STARTS, "'")


def neutralize(value: str) -> str:
    """The cell to write for ``value``: safe to open in a spreadsheet."""
    return "'" + value if value.startswith(_QUOTED) else value


def restore(cell: str) -> str:
    """The value an exported cell holds: :func:`neutralize` undone. A ``'``
    typed before a formula character (a spreadsheet's way to keep ``+1 202...``
    as text) comes off too."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] in _QUOTED else cell
