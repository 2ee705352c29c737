"""Sign-in throttling: after too many failures for one key (an email, an address)
within a window, further attempts wait until the window has passed.

Failures are rows in the database, so every app process behind gunicorn counts
the same ones. Each call runs in its own short transaction: a failure must be
recorded even though the sign-in attempt itself rolls back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from math import ceil

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from crmcore.db import transaction, utcnow
from crmcore.models import LoginFailure

WINDOW_SECONDS = 15 * 60


class LoginThrottle:
    def __init__(self, sessions: sessionmaker[Session], window: float = WINDOW_SECONDS,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.sessions = sessions
        self.window = timedelta(seconds=window)
        self.clock = clock

    def retry_after(self, limits: Mapping[str, int]) -> int:
        """Seconds until every key in ``limits`` (key -> allowed failures) is under
        its limit again; 0 when an attempt may go ahead."""
        now = self.clock()
        wait = 0.0
        with self.sessions() as session:
            for key, limit in limits.items():
                times = list(session.scalars(
                    select(LoginFailure.failed_at).where(
                        LoginFailure.key == key, LoginFailure.failed_at > now - self.window)
                    .order_by(LoginFailure.failed_at.desc()).limit(limit)))
                if len(times) >= limit:
                    # The oldest of the last `limit` failures is the next to expire.
                    wait = max(wait, (times[-1] + self.window - now).total_seconds())
        return ceil(wait)

    def fail(self, *keys: str) -> None:
        now = self.clock()
        with transaction(self.sessions) as session:
            session.execute(delete(LoginFailure).where(LoginFailure.failed_at <= now - self.window))
            session.add_all(LoginFailure(key=key, failed_at=now) for key in keys)

    def reset(self, *keys: str) -> None:
        with transaction(self.sessions) as session:
            session.execute(delete(LoginFailure).where(LoginFailure.key.in_(keys)))
