"""What a serving process does once, while it builds the app."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived() -> Iterator[None]:
    """Build what lives as long as the process (modules, mapped classes, the
    app and its plugins) without cycle collection, then freeze it.

    Start-up allocates a few hundred thousand objects and frees almost none,
    so each collection the interpreter starts meanwhile scans a growing heap
    for nothing: about a tenth of the start-up time (``bench/run.py``).
    Frozen (:func:`gc.freeze`), the objects are also left out of the
    collections that requests trigger later. The price is that the few cycles
    start-up leaves as garbage stay.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
