"""Background work: in-process by default, on worker processes when configured.

``CRM_BACKGROUND`` chooses:

* ``thread`` (default): work starts in a thread of the process that asked for
  it, right after its transaction committed. Fine for one host and modest load.
* ``worker``: work stays queued in the database until a ``crm worker`` process
  claims it; run as many workers as the load needs, on any host.

Work items are rows (an import job's ``status``: ``queued`` to be imported,
``revert_queued`` to be reverted), claimed by a conditional UPDATE, so that a
thread and any number of workers never run one item twice.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from crmcore.errors import Conflict
from crmcore.services import imports

log = logging.getLogger("crmcore.jobs")


def mode() -> str:
    return os.environ.get("CRM_BACKGROUND", "thread").lower()


# What dispatch_import and dispatch_revert are: start queued work on a job.
Dispatch = Callable[[sessionmaker[Session], int], None]


def dispatch_import(sessions: sessionmaker[Session], job_id: int) -> None:
    """Start a queued import (or resume) now (thread mode) or leave it to a worker."""
    _dispatch(imports.run, sessions, job_id, "import")


def dispatch_revert(sessions: sessionmaker[Session], job_id: int) -> None:
    """Start a queued revert now (thread mode) or leave it to a worker."""
    _dispatch(imports.run_revert, sessions, job_id, "revert")


def _dispatch(run: Callable[[sessionmaker[Session], int], object],
              sessions: sessionmaker[Session], job_id: int, what: str) -> None:
    if mode() == "worker":
        return
    threading.Thread(target=_run, args=(run, sessions, job_id, what), daemon=True,
                     name=f"crm-{what}-{job_id}").start()


def _run(run: Callable[[sessionmaker[Session], int], object],
         sessions: sessionmaker[Session], job_id: int, what: str) -> None:
    try:
        run(sessions, job_id)
    except Exception:
        # The job row records the failure for the person who started it.
        log.exception("%s of import #%s stopped", what, job_id)


def work(sessions: sessionmaker[Session], once: bool = False, poll: float = 2.0,
         echo: Callable[[str], None] = print) -> int:
    """Run queued work until stopped (or until the queue is empty with ``once``);
    returns how many items ran."""
    done = 0
    while True:
        queued = imports.next_queued(sessions)
        if queued is None:
            if once:
                return done
            time.sleep(poll)
            continue
        job_id, status = queued
        reverting = status == "revert_queued"
        echo(f"import #{job_id}: {'reverting' if reverting else 'starting'}")
        try:
            job = (imports.run_revert if reverting else imports.run)(sessions, job_id)
            echo(f"import #{job_id}: {job.status}. {job.message}")
        except Conflict as exc:
            # Another worker claimed it between our look at the queue and our claim.
            echo(f"import #{job_id}: left to another worker ({exc.detail})")
            continue
        except Exception as exc:
            echo(f"import #{job_id}: stopped: {exc}")
        done += 1
