"""Whether slow work in a request holds other writers up (on SQLite a
transaction that writes holds the one write lock)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from crmcore.db import transaction
from crmcore.services import records as svc


def writer_done_while_held(app: Any, monkeypatch: Any, owner: Any, name: str,
                           send: Callable[[], Any]) -> tuple[Any, bool]:
    """``send``'s answer, and whether another writer was done while the
    request it sends was inside ``owner.name`` (held open until then, as a
    slow password check or a large file would)."""
    inside, go = threading.Event(), threading.Event()
    work = getattr(owner, name)

    def slow(*args: Any, **kwargs: Any) -> Any:
        inside.set()
        go.wait(10)
        return work(*args, **kwargs)

    monkeypatch.setattr(owner, name, slow)
    answers: list[Any] = []
    request = threading.Thread(target=lambda: answers.append(send()))
    request.start()
    assert inside.wait(5)
    others: list[str] = []

    def another_writer() -> None:
        with transaction(app.extensions["crm"].sessions) as session:
            svc.create(session, None, svc.LEADS, {"full_name": "Not held up"})
        others.append("written")

    writer = threading.Thread(target=another_writer)
    writer.start()
    writer.join(3)
    done_while_held = others == ["written"]
    go.set()
    request.join(10)
    writer.join(35)
    return answers[0], done_while_held
