"""HTTP responses that the web UI and the API send alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, current_app, stream_with_context

from crmcore.models import User
from crmcore.services.exports import export_csv
from crmcore.services.records import Kind


def csv_download(kind: Kind, actor: User, filters: Mapping[str, Any], sort: str,
                 filename: str, delimiter: str = "comma",
                 byte_order_mark: bool = False) -> Response:
    """A streamed CSV export of the list ``filters`` selects.

    The stream outlives the request's session (closed at teardown, when the view
    returns), so it reads through a session of its own, closed with the response
    (also when the client goes away or sent HEAD); otherwise PostgreSQL would keep
    an idle transaction holding locks. ``export_csv`` checks the filters before
    it returns, so bad ones answer an error, not a broken download.
    """
    session = current_app.extensions["crm"].sessions()
    try:
        chunks = export_csv(session, session.get(User, actor.id), kind, filters, sort=sort,
                            delimiter=delimiter, byte_order_mark=byte_order_mark)
    except BaseException:
        session.close()
        raise
    response = Response(stream_with_context(chunks), mimetype="text/csv")
    response.call_on_close(session.close)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
