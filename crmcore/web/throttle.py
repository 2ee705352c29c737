"""Login throttling: after too many failed sign-ins for one email (or from one
address) within a window, refuse further attempts until the window has passed.

The counters live in this process (one store per application). Behind several
gunicorn workers each worker counts on its own, so an attacker gets up to
``limit x workers`` attempts; a shared store (a database table or Redis) is
needed to make the limit exact across processes.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 15 * 60


class LoginThrottle:
    """Failure timestamps per key (``email:...``, ``ip:...``) inside a sliding window."""

    def __init__(self, window: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, limits: dict[str, int]) -> int:
        """Seconds until every key in ``limits`` (key -> allowed failures) is under
        its limit again; 0 when an attempt may go ahead."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key, limit in limits.items():
                times = self._prune(key, now)
                if len(times) >= limit:
                    # The attempt that pushed the key over its limit expires first.
                    wait = max(wait, times[len(times) - limit] + self.window - now)
        return int(wait) + (1 if wait % 1 else 0)

    def fail(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._prune(key, now)
                self._failures.setdefault(key, deque()).append(now)

    def reset(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
