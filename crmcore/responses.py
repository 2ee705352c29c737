"""HTTP responses that the web UI and the API send alike."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from typing import Any

from flask import Response, current_app, request, stream_with_context
from werkzeug.wsgi import wrap_file

from crmcore.db import snapshot
from crmcore.models import User
from crmcore.services.exports import export_csv, export_xlsx, problems_csv
from crmcore.services.imports import problems
from crmcore.services.records import Kind
from crmcore.services.workbooks import MEDIA_TYPE


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
    # One snapshot: records edited while the pages are read (an import
    # updating them, say) would move between pages, there twice or missing.
    session = snapshot(current_app.extensions["crm"].sessions())
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


def problems_download(actor: User | None, job_id: int) -> Response:
    """Every problem of an import as a streamed CSV, read through a session of
    its own (see :func:`csv_download`); one the actor may not see is a 404."""
    session = current_app.extensions["crm"].sessions()
    try:
        chunks = problems_csv(problems(session, session.get(User, actor.id) if actor else None,
                                       job_id))
    except BaseException:
        session.close()
        raise
    response = Response(stream_with_context(chunks), mimetype="text/csv")
    response.call_on_close(session.close)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="import-{job_id}-problems.csv"')
    response.headers["Cache-Control"] = "no-store"
    return response


def xlsx_download(kind: Kind, actor: User, filters: Mapping[str, Any], sort: str,
                  filename: str) -> Response:
    """The list ``filters`` selects as an Excel workbook. A workbook is whole
    only once written, so it is written first, to a temporary file (memory
    stays flat), and then sent; bad filters, or a list longer than a
    worksheet, answer an error instead."""
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the response
    try:
        with snapshot(current_app.extensions["crm"].sessions()) as session:
            export_xlsx(session, session.get(User, actor.id), kind, handle, filters, sort=sort)
        size = handle.tell()
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    response = Response(wrap_file(request.environ, handle), mimetype=MEDIA_TYPE,
                        direct_passthrough=True)
    response.content_length = size
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
