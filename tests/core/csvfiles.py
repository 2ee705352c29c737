"""Files for the import tests to read."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]],
              encoding: str = "utf-8") -> Path:
    """Write ``header`` and ``rows`` as a CSV file at ``path``; returns it."""
    with open(path, "w", newline="", encoding=encoding) as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path
